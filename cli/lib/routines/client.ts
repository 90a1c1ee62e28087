// The RoutineService client, on its own HTTP/2 connection to the router `cc` is configured for.
import { createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { RoutineService } from "../../../gen/claudecluster/v1/routines_pb.js";
import { bearerToken, ROUTER_PINGS } from "../client.js";

export type RoutineClient = Client<typeof RoutineService>;

export function connectRoutines(url: string, token: string): { client: RoutineClient; close(): void } {
  const sessionManager = new Http2SessionManager(url, { idleConnectionTimeoutMs: 60_000, ...ROUTER_PINGS });
  const transport = createGrpcTransport({ baseUrl: url, sessionManager, interceptors: [bearerToken(token)], acceptCompression: [] });
  return { client: createClient(RoutineService, transport), close: () => sessionManager.abort() };
}
