// Routes: which service implementation answers which RPCs. Wiring (ports, interceptors) lives in server.ts.
import type { ConnectRouter, ServiceImpl } from "@connectrpc/connect";
import { WorkerService } from "../../gen/claudecluster/v1/worker_pb.js";

export function workerRoutes(impl: ServiceImpl<typeof WorkerService>): (router: ConnectRouter) => void {
  return (router) => router.service(WorkerService, impl);
}
