// The test's own load balancer in front of several routers: each new TCP connection goes to the next router in
// turn, skipping one that refuses the connection (a dead router), as a Kubernetes Service or a cloud load balancer
// would. A connection stays with its router (HTTP/2 keeps one), so callers reach different routers by connecting anew.
import * as net from "node:net";
import type { AddressInfo } from "node:net";

export interface RoundRobin {
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** Connections sent to each router so far, by URL. */
  sent: Map<string, number>;
  close(): Promise<void>;
}

export async function startRoundRobin(targets: string[]): Promise<RoundRobin> {
  let next = 0;
  const sent = new Map(targets.map((t) => [t, 0]));
  const sockets = new Set<net.Socket>();
  const connect = (client: net.Socket, tries: number) => {
    const target = targets[next++ % targets.length]!;
    const url = new URL(target);
    const upstream = net.connect(Number(url.port), url.hostname);
    sockets.add(upstream);
    upstream.once("connect", () => {
      sent.set(target, (sent.get(target) ?? 0) + 1);
      client.pipe(upstream);
      upstream.pipe(client);
      client.resume();
    });
    upstream.once("error", () => {
      upstream.destroy();
      if (upstream.bytesWritten === 0 && tries + 1 < targets.length) connect(client, tries + 1);
      else client.destroy();
    });
    upstream.once("close", () => client.destroy());
    client.once("close", () => upstream.destroy());
  };
  const server = net.createServer({ pauseOnConnect: true }, (client) => {
    sockets.add(client);
    client.on("error", () => client.destroy());
    connect(client, 0);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    sent,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
