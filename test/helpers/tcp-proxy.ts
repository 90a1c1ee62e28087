// A TCP proxy between the router and a worker, for faults in the middle of a placement: `freeze` stops passing what
// the worker sends (the router hears nothing more, as if the network dropped it), `cut` breaks every connection that
// is open. New connections pass normally either way, so the router can reach the worker again afterwards.
import * as net from "node:net";
import type { AddressInfo } from "node:net";

export interface TcpProxy {
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** Where connections go: set before the first one (a worker on port 0 is known only once it listens). */
  target: string;
  /** From now on, bytes from the worker on the open connections are held back (never delivered). */
  freeze(): void;
  /** Destroys the open connections. */
  cut(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(targetUrl = ""): Promise<TcpProxy> {
  const open = new Set<{ client: net.Socket; upstream: net.Socket; frozen: boolean }>();
  const server = net.createServer((client) => {
    const target = new URL(proxy.target);
    const upstream = net.connect(Number(target.port), target.hostname);
    const pair = { client, upstream, frozen: false };
    open.add(pair);
    client.on("data", (d) => upstream.write(d));
    upstream.on("data", (d) => {
      if (!pair.frozen) client.write(d);
    });
    const end = () => {
      open.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on("close", end).on("error", end);
    upstream.on("close", end).on("error", end);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const proxy: TcpProxy = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    target: targetUrl,
    freeze() {
      for (const pair of open) pair.frozen = true;
    },
    cut() {
      for (const pair of [...open]) {
        pair.client.destroy();
        pair.upstream.destroy();
      }
    },
    close() {
      for (const pair of [...open]) {
        pair.client.destroy();
        pair.upstream.destroy();
      }
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
  return proxy;
}
