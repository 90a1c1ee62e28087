// The router's connection to a worker: HTTP/2 (gRPC), compression off (gzip made streaming 2.5-5x slower on loopback
// in a prototype here), and pings that notice a dead or hung peer instead of waiting on it forever.
import type * as http2 from "node:http2";
import type { Interceptor, Transport } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";

export function bearer(token: string | undefined): Interceptor[] {
  if (!token) return [];
  return [
    (next) => (req) => {
      req.header.set("authorization", `Bearer ${token}`);
      return next(req);
    },
  ];
}

const PING = { pingIntervalMs: 5_000, pingTimeoutMs: 5_000, pingIdleConnection: false, idleConnectionTimeoutMs: 5 * 60_000 };

/**
 * connect-node's session manager, with an "error" listener on every HTTP/2 session it makes a request on. Against a
 * hung peer (a SIGSTOPped worker: the kernel still accepts connections), the manager's PING timeout destroys a
 * session with an error after its own listeners are gone, and Node turns the unheard "error" into a crash of the
 * whole router: two calls to such a worker were enough. The errors still reach each call as ConnectErrors.
 */
class GuardedSessionManager extends Http2SessionManager {
  private readonly guarded = new WeakSet<http2.Http2Session>();

  override async request(...args: Parameters<Http2SessionManager["request"]>): Promise<http2.ClientHttp2Stream> {
    const stream = await super.request(...args);
    const session = stream.session;
    if (session && !this.guarded.has(session)) {
      this.guarded.add(session);
      session.on("error", () => {});
    }
    return stream;
  }
}

/**
 * One connection to a worker, for clients of WorkerService (and of its undecoded form, services/router). `ping`:
 * for tests.
 */
export function createWorkerTransport(baseUrl: string, token?: string, ping = PING): Transport {
  return createGrpcTransport({
    baseUrl,
    acceptCompression: [],
    sendCompression: undefined,
    sessionManager: new GuardedSessionManager(baseUrl, ping),
    interceptors: bearer(token),
  });
}
