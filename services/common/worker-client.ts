// The router's connection to a worker: HTTP/2 (gRPC), compression off (gzip made streaming 2.5-5x slower on loopback
// in a prototype here), and pings that notice a dead or hung peer instead of waiting on it forever.
import type { Interceptor, Transport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";

export function bearer(token: string | undefined): Interceptor[] {
  if (!token) return [];
  return [
    (next) => (req) => {
      req.header.set("authorization", `Bearer ${token}`);
      return next(req);
    },
  ];
}

/** One connection to a worker, for clients of WorkerService (and of its undecoded form, services/router). */
export function createWorkerTransport(baseUrl: string, token?: string): Transport {
  return createGrpcTransport({
    baseUrl,
    acceptCompression: [],
    sendCompression: undefined,
    pingIntervalMs: 5_000,
    pingTimeoutMs: 5_000,
    pingIdleConnection: false,
    idleConnectionTimeoutMs: 5 * 60_000,
    interceptors: bearer(token),
  });
}
