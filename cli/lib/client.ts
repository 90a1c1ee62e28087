// The router client: gRPC over HTTP/2 (h2c for http://, TLS for https://), no compression, and the bearer token on
// every call when one is configured. Loaded lazily by commands that talk to a router, so `cc --help` stays fast.
// A followed task may print nothing for an hour: the connection is kept by PINGs, not by traffic. A PING the router
// does not answer means the connection is dead, and `cc` re-attaches on a new one instead of waiting on it forever.
import { createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { RouterService } from "../../gen/claudecluster/v1/router_pb.js";

export type RouterClient = Client<typeof RouterService>;

export interface RouterConnection {
  url: string;
  client: RouterClient;
  /** Closes the HTTP/2 connection. */
  close(): void;
  /** The connection's state ("open", "idle", "error" after a dead connection was noticed, ...), for diagnostics. */
  state(): ReturnType<Http2SessionManager["state"]>;
}

/** While a stream is open and quiet, a PING every 30 s; one unanswered for 20 s ends the connection. */
export const ROUTER_PINGS = { pingIntervalMs: 30_000, pingTimeoutMs: 20_000 } as const;

export function bearerToken(token: string): Interceptor {
  return (next) => async (req) => {
    if (token) req.header.set("authorization", `Bearer ${token}`);
    return next(req);
  };
}

export function connectRouter(url: string, token: string, pings: { pingIntervalMs: number; pingTimeoutMs: number } = ROUTER_PINGS): RouterConnection {
  const sessionManager = new Http2SessionManager(url, { idleConnectionTimeoutMs: 60_000, ...pings });
  const transport = createGrpcTransport({
    baseUrl: url,
    sessionManager,
    interceptors: [bearerToken(token)],
    acceptCompression: [],
  });
  return {
    url,
    client: createClient(RouterService, transport),
    close: () => sessionManager.abort(),
    state: () => sessionManager.state(),
  };
}
