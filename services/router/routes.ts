// Routes: which implementation answers which RPCs. Wiring lives in server.ts.
import type { ConnectRouter, ServiceImpl } from "@connectrpc/connect";
import { RouterService } from "../../gen/claudecluster/v1/router_pb.js";

export function routerRoutes(impl: ServiceImpl<typeof RouterService>): (router: ConnectRouter) => void {
  return (router) => router.service(RouterService, impl);
}
