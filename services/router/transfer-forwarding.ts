// The RouterService RPCs that move bytes, forwarded to a worker chunk by chunk as they arrive (each awaited, so the
// router holds at most a chunk or two per call and a slow side slows the other):
//   UploadWorkspace   to a worker chosen like a task's (labels, worker_id), remembered for the Run that follows;
//   GetChanges        from the worker that ran the task (the task record's worker id);
//   ListFiles, ReadFile, WriteFile   to the worker that runs or ran the task.
// Worker errors come back with their code and message, without the worker's headers.
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { type RouterService, WorkerHealth } from "../../gen/claudecluster/v1/router_pb.js";
import type { UploadWorkspaceRequest, WriteFileRequest } from "../../gen/claudecluster/v1/transfer_pb.js";
import { ConnectError, failedPrecondition, invalidArgument, notFound, resourceExhausted, unavailable } from "../common/errors.js";
import { requestIdHeaders } from "../common/rpc-log.js";
import { callerOf, type Identity } from "./identity/index.js";
import type { Registry, WorkerEntry } from "./registry.js";
import type { Tasks } from "./tasks.js";
import type { UploadPlacements } from "./uploads.js";

export type TransferMethod = "uploadWorkspace" | "getChanges" | "listFiles" | "readFile" | "writeFile";

export interface ForwardingDeps {
  registry: Registry;
  tasks: Tasks;
  uploads: UploadPlacements;
  /** CC_MAX_UPLOAD_BYTES. */
  maxUploadBytes: number;
}

/** A worker's error as the router's own: same code and message, none of the worker's metadata. */
function rewrap(err: unknown): unknown {
  if (!(err instanceof ConnectError)) return err;
  return new ConnectError(err.rawMessage, err.code);
}

/** The first message of a client stream, then the whole stream again (that message first) for the worker. */
async function splitFirst<T>(requests: AsyncIterable<T>): Promise<{ first: T | undefined; all: AsyncIterable<T> }> {
  const it = requests[Symbol.asyncIterator]();
  const head = await it.next();
  const first = head.done ? undefined : head.value;
  async function* all(): AsyncGenerator<T> {
    if (first === undefined) return;
    yield first;
    for (;;) {
      const next = await it.next();
      if (next.done) return;
      yield next.value;
    }
  }
  return { first, all: all() };
}

export function transferForwarding(deps: ForwardingDeps): Pick<ServiceImpl<typeof RouterService>, TransferMethod> {
  const { registry, tasks, uploads } = deps;

  /**
   * The worker that runs or ran a task (a task this router runs, or one the store has: ended, or another router's);
   * what it keeps of the task is named in errors.
   */
  async function workerOf(taskId: string, what: string, caller: Identity): Promise<WorkerEntry> {
    const found = await tasks.find(taskId, caller);
    const record = found.entry ? found.entry.record : found.stored.record;
    const id = record.workerId;
    if (!id) throw failedPrecondition(`task ${taskId} ${record.endedAt ? "ended before it was placed on a worker" : "is waiting for a worker"}, so it has no ${what} yet`);
    const worker = registry.byId(id) ?? (found.entry?.worker?.id === id ? found.entry.worker : undefined);
    if (!worker) throw unavailable(`worker ${id}, which ran task ${taskId}, is no longer known to this router; the task's ${what} is on that worker`);
    if (registry.health(worker) === WorkerHealth.OFFLINE) {
      throw unavailable(`worker ${id}, which ran task ${taskId}, is offline (${worker.problem || "not reachable"}); the task's ${what} is on that worker`);
    }
    return worker;
  }

  /** Where an upload goes: the least-loaded worker that could run its task, even a full one (the task will wait). */
  function uploadWorker(labels: Record<string, string>, workerId: string): WorkerEntry {
    const all = registry.candidates(labels).filter((w) => !workerId || w.id === workerId);
    if (all.length === 0) {
      if (workerId && !registry.byId(workerId)) throw notFound(`worker ${workerId}`, "list workers with `cc workers`");
      if (workerId) throw unavailable(`worker ${workerId} is not taking tasks; pick another worker or none`);
      const wanted = Object.entries(labels).map(([k, v]) => `${k}=${v}`);
      throw unavailable(wanted.length > 0 ? `no online worker has the labels ${wanted.join(", ")}; check \`cc workers\`` : "no workers are online to take the upload; check `cc workers`");
    }
    const load = (w: WorkerEntry) => registry.load(w) / Math.max(1, registry.capacity(w));
    return all.reduce((best, w) => (load(w) < load(best) ? w : best));
  }

  const headers = (ctx: HandlerContext) => ({ signal: ctx.signal, headers: requestIdHeaders(ctx) });

  return {
    async uploadWorkspace(requests: AsyncIterable<UploadWorkspaceRequest>, ctx) {
      const { first, all } = await splitFirst(requests);
      if (first?.part.case !== "header") throw invalidArgument("header", "the first message of an upload must be its header (kind, size, sha256)");
      const header = first.part.value;
      if (header.size > BigInt(deps.maxUploadBytes)) {
        throw resourceExhausted(
          `the upload is ${header.size} bytes, over the router's limit of ${deps.maxUploadBytes} (CC_MAX_UPLOAD_BYTES); leave large files out of it (.gitignore; .ccignore outside git) or raise the limit`,
        );
      }
      const worker = uploadWorker(header.labels, header.workerId);
      try {
        const res = await worker.client.uploadWorkspace(all, headers(ctx));
        uploads.remember(res.uploadId, worker.id, res.expiresAt ? timestampMs(res.expiresAt) : Date.now() + 60_000, callerOf(ctx).name);
        res.workerId = worker.id;
        return res;
      } catch (err) {
        throw rewrap(err);
      }
    },

    async *getChanges(req, ctx) {
      const record = await tasks.record(req.taskId, callerOf(ctx));
      if (!record.endedAt) throw failedPrecondition(`task ${req.taskId} is still running; its changes are recorded when it ends`);
      if (!record.exit?.changes) {
        throw failedPrecondition(`task ${req.taskId} did not run in a git workspace of its own (cc run --upload or --repo), so it has no recorded changes`);
      }
      const worker = await workerOf(req.taskId, "recorded changes", callerOf(ctx));
      try {
        for await (const chunk of worker.client.getChanges(req, headers(ctx))) yield chunk;
      } catch (err) {
        throw rewrap(err);
      }
    },

    async listFiles(req, ctx) {
      try {
        return await (await workerOf(req.taskId, "workspace", callerOf(ctx))).client.listFiles(req, headers(ctx));
      } catch (err) {
        throw rewrap(err);
      }
    },

    async *readFile(req, ctx) {
      const worker = await workerOf(req.taskId, "workspace", callerOf(ctx));
      try {
        for await (const chunk of worker.client.readFile(req, headers(ctx))) yield chunk;
      } catch (err) {
        throw rewrap(err);
      }
    },

    async writeFile(requests: AsyncIterable<WriteFileRequest>, ctx) {
      const { first, all } = await splitFirst(requests);
      if (first?.part.case !== "header") throw invalidArgument("header", "the first message of WriteFile must be its header (task_id, path, type, size)");
      const worker = await workerOf(first.part.value.taskId, "workspace", callerOf(ctx));
      try {
        return await worker.client.writeFile(all, headers(ctx));
      } catch (err) {
        throw rewrap(err);
      }
    },
  };
}
