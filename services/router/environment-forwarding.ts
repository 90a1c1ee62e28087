// RouterService.ListEnvironments and RemoveEnvironment: each online worker's environment snapshots, asked of the
// workers at once (each with a deadline), so `cc env` sees the whole cluster through the router alone.
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import type { EnvironmentSnapshot } from "../../gen/claudecluster/v1/environment_pb.js";
import { type RouterService, WorkerHealth } from "../../gen/claudecluster/v1/router_pb.js";
import { Code, ConnectError, invalidArgument, notFound, unavailable } from "../common/errors.js";
import { requestIdHeaders } from "../common/rpc-log.js";
import type { Registry, WorkerEntry } from "./registry.js";

export type EnvironmentMethod = "listEnvironments" | "removeEnvironment";

/** How long one worker may take to answer. */
const WORKER_DEADLINE_MS = 10_000;

export function environmentForwarding(registry: Registry): Pick<ServiceImpl<typeof RouterService>, EnvironmentMethod> {
  /** The online workers asked: one, or all. */
  function workers(workerId: string): WorkerEntry[] {
    if (workerId) {
      const worker = registry.byId(workerId);
      if (!worker) throw notFound(`worker ${workerId}`, "list workers with `cc workers`");
      if (registry.health(worker) === WorkerHealth.OFFLINE) throw unavailable(`worker ${workerId} is offline (${worker.problem || "not reachable"}); its snapshots are there`);
      return [worker];
    }
    return registry.list().filter((w) => registry.health(w) !== WorkerHealth.OFFLINE && w.id);
  }
  const options = (ctx: HandlerContext) => ({ signal: ctx.signal, headers: requestIdHeaders(ctx), timeoutMs: WORKER_DEADLINE_MS });
  const why = (err: unknown) => (err instanceof ConnectError ? err.rawMessage : String(err));

  return {
    async listEnvironments(req, ctx) {
      const asked = workers(req.workerId);
      const answers = await Promise.allSettled(asked.map((w) => w.client.listEnvironments({}, options(ctx))));
      const snapshots: EnvironmentSnapshot[] = [];
      const unreachable: string[] = [];
      answers.forEach((a, i) => {
        if (a.status === "fulfilled") snapshots.push(...a.value.snapshots);
        else unreachable.push(`${asked[i]!.id}: ${why(a.reason)}`);
      });
      return { snapshots, unreachable };
    },

    async removeEnvironment(req, ctx) {
      const asked = workers(req.workerId);
      const answers = await Promise.allSettled(asked.map((w) => w.client.removeEnvironment({ key: req.key }, options(ctx))));
      const removed: EnvironmentSnapshot[] = [];
      const failures: string[] = [];
      for (const [i, a] of answers.entries()) {
        if (a.status === "fulfilled") removed.push(...a.value.removed);
        else if (a.reason instanceof ConnectError && a.reason.code === Code.InvalidArgument) throw invalidArgument("key", a.reason.rawMessage.replace(/^key: /, ""));
        else if (!(a.reason instanceof ConnectError && a.reason.code === Code.NotFound)) failures.push(`${asked[i]!.id}: ${why(a.reason)}`);
      }
      if (removed.length === 0) {
        if (failures.length) throw unavailable(`no snapshot ${req.key} was removed; workers that did not answer: ${failures.join("; ")}`);
        throw notFound(`environment snapshot ${req.key}`, "list them with cc env ls");
      }
      return { removed };
    },
  };
}
