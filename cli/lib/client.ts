// The router client: gRPC over HTTP/2 (h2c for http://, TLS for https://), no compression, and the bearer token on
// every call when one is configured. Loaded lazily by commands that talk to a router, so `cc --help` stays fast.
import { createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { RouterService } from "../../gen/claudecluster/v1/router_pb.js";

export type RouterClient = Client<typeof RouterService>;

export interface RouterConnection {
  url: string;
  client: RouterClient;
  /** Closes the HTTP/2 connection. */
  close(): void;
}

export function bearerToken(token: string): Interceptor {
  return (next) => async (req) => {
    if (token) req.header.set("authorization", `Bearer ${token}`);
    return next(req);
  };
}

export function connectRouter(url: string, token: string): RouterConnection {
  const sessionManager = new Http2SessionManager(url, { idleConnectionTimeoutMs: 60_000 });
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
  };
}
