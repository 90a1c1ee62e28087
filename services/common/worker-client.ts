// The router's client for a worker: HTTP/2 (gRPC), compression off (gzip made streaming 2.5-5x slower on loopback
// in a prototype here), and pings that notice a dead or hung peer instead of waiting on it forever.
import { createClient, type Client, type Interceptor, type Transport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { WorkerService } from "../../gen/claudecluster/v1/worker_pb.js";

export function bearer(token: string | undefined): Interceptor[] {
  if (!token) return [];
  return [
    (next) => (req) => {
      req.header.set("authorization", `Bearer ${token}`);
      return next(req);
    },
  ];
}

export function createWorkerClient(baseUrl: string, token?: string): Client<typeof WorkerService> {
  return createClient(WorkerService, createWorkerTransport(baseUrl, token));
}

/** The transport under createWorkerClient, for clients of other shapes of the same service over one connection. */
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
