// A TCP proxy that can stop passing on what the client sends, as if the client's host froze: its bytes (and so its
// answers to HTTP/2 PINGs) no longer arrive, while the connection stays open. For tests of dead-peer detection.
import { once } from "node:events";
import * as net from "node:net";

export interface FreezableProxy {
  port: number;
  /** From now on, drop the bytes the client sends (the server's still reach the client). */
  freezeClient(): void;
  /** From now on, drop the bytes the server sends (the client's still reach the server). */
  freezeServer(): void;
  close(): void;
}

export async function freezableProxy(port: number, host = "127.0.0.1"): Promise<FreezableProxy> {
  let clientFrozen = false;
  let serverFrozen = false;
  const sockets = new Set<net.Socket>();
  const proxy = net.createServer((client) => {
    const upstream = net.connect(port, host);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("error", () => {});
      s.once("close", () => sockets.delete(s));
    }
    client.on("data", (chunk: Buffer) => {
      if (!clientFrozen) upstream.write(chunk);
    });
    upstream.on("data", (chunk: Buffer) => {
      if (!serverFrozen) client.write(chunk);
    });
    upstream.once("close", () => client.destroy());
    client.once("close", () => upstream.destroy());
  });
  proxy.listen(0, "127.0.0.1");
  await once(proxy, "listening");
  return {
    port: (proxy.address() as net.AddressInfo).port,
    freezeClient: () => (clientFrozen = true),
    freezeServer: () => (serverFrozen = true),
    close: () => {
      for (const s of sockets) s.destroy();
      proxy.close();
    },
  };
}
