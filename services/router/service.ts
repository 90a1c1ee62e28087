// RouterService: the RPC surface over the dispatcher, the tasks (tasks.ts, over the task store) and the registry. Run
// and Attach are async generators over the task's log: a task this router runs is followed through its TaskLog (its
// live followers may hold it back), any other (ended, or run by another router sharing the store) straight from the
// store. ctx.signal tells us when a caller leaves. Worker events in the log are mostly undecoded
// (undecoded-events.ts): binary callers get them as they came, JSON callers decoded.
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import { clone, create } from "@bufbuild/protobuf";
import { ListTasksResponseSchema, ListWorkersResponseSchema, type RouterService } from "../../gen/claudecluster/v1/router_pb.js";
import { RunMode, type RunEvent } from "../../gen/claudecluster/v1/run_pb.js";
import { WorkerInfoSchema } from "../../gen/claudecluster/v1/worker_pb.js";
import { failedPrecondition, invalidArgument, resourceExhausted, unavailable } from "../common/errors.js";
import { REQUEST_ID, requestIdHeaders } from "../common/rpc-log.js";
import type { Dispatcher } from "./dispatcher.js";
import { callerOf, type Identities, type Identity } from "./identity/index.js";
import type { Admission } from "./quotas/index.js";
import { whoAmI } from "./who-am-i.js";
import { answerPermission } from "./permissions.js";
import { pageToken, taskQuery } from "./list-query.js";
import type { Registry } from "./registry.js";
import type { SessionHandoff } from "./sessions/index.js";
import type { RouterSettings } from "./settings.js";
import type { TaskWatchers } from "./task-watch.js";
import { storeError, type Tasks } from "./tasks.js";
import type { TransferMethod } from "./transfer-forwarding.js";
import type { EnvironmentMethod } from "./environment-forwarding.js";
import { decoded, isJsonCall } from "./undecoded-events.js";
import type { UploadPlacements } from "./uploads.js";


/** The RPCs about tasks and workers; those that move bytes are in transfer-forwarding.ts. */
export function routerService(deps: {
  settings: RouterSettings;
  dispatcher: Dispatcher;
  tasks: Tasks;
  registry: Registry;
  watchers: TaskWatchers;
  uploads: UploadPlacements;
  sessions: SessionHandoff;
  identities: Identities;
  admission: Admission;
}): Omit<ServiceImpl<typeof RouterService>, TransferMethod | EnvironmentMethod> {
  const { settings, dispatcher, tasks, registry, watchers, uploads, sessions, identities, admission } = deps;

  async function* follow(taskId: string, afterSeq: bigint, ctx: HandlerContext): AsyncGenerator<RunEvent> {
    const found = await tasks.find(taskId, callerOf(ctx));
    let events: AsyncGenerator<RunEvent>;
    const entry = found.entry;
    if (entry) {
      if (entry.log.subscriberCount >= settings.maxSubscribers) {
        throw resourceExhausted(`task ${entry.id} already has ${settings.maxSubscribers} callers attached (CC_MAX_SUBSCRIBERS)`);
      }
      dispatcher.subscriberJoined(entry);
      events = entry.log.follow(afterSeq, ctx.signal);
    } else {
      events = tasks.store.follow(taskId, afterSeq, ctx.signal);
    }
    try {
      if (!isJsonCall(ctx.requestHeader.get("content-type"))) yield* events;
      else for await (const event of events) yield decoded(event);
    } catch (err) {
      throw storeError(err);
    } finally {
      if (entry) dispatcher.subscriberLeft(entry);
    }
  }

  /** The worker running a task, for input and resizes: wherever the task is owned, the registry knows its worker. */
  async function runningWorker(taskId: string, caller: Identity) {
    const found = await tasks.find(taskId, caller);
    const record = found.entry ? found.entry.record : found.stored.record;
    if (record.endedAt) throw failedPrecondition(`task ${taskId} has ended`);
    if (record.mode !== RunMode.INTERACTIVE) {
      throw failedPrecondition(`task ${taskId} is headless: it has no terminal to type into or resize (start one with \`cc run -i\`)`);
    }
    if (!record.startedAt || (found.entry && !found.entry.started)) throw failedPrecondition(`task ${taskId} has not started yet`);
    // Run here: the worker it forwards from; else (re-attaching, or run by another router) the registry's.
    const worker = found.entry?.worker ?? registry.byId(record.workerId);
    if (!worker) throw unavailable(`task ${taskId} runs on worker ${record.workerId}, which this router does not see yet (it registers again within a few seconds); try again`);
    return worker;
  }

  return {
    async *run(req, ctx) {
      // Only the router's routines (routines/) mark a task as theirs.
      req.routine = "";
      req.retryOf = "";
      // A task on an uploaded workspace runs where the upload is.
      const caller = callerOf(ctx);
      uploads.place(req, caller);
      // A task resuming a session takes its transcript to whichever worker runs it (sessions/).
      await sessions.prepare(req, caller);
      const taskId = await dispatcher.submit(req, ctx.values.get(REQUEST_ID), caller);
      const entry = tasks.live(taskId);
      if (entry) sessions.follow(entry);
      yield* follow(taskId, 0n, ctx);
    },

    async *attach(req, ctx) {
      yield* follow(req.taskId, req.afterSeq, ctx);
    },

    getTask(req, ctx) {
      return tasks.record(req.taskId, callerOf(ctx));
    },

    async listTasks(req, ctx) {
      const page = await tasks.list(taskQuery(req, callerOf(ctx)));
      return create(ListTasksResponseSchema, { tasks: page.tasks, nextPageToken: page.more ? pageToken(page.tasks.at(-1)!.id) : "" });
    },

    async cancelTask(req, ctx) {
      const found = await tasks.find(req.taskId, callerOf(ctx));
      if (found.entry) {
        await dispatcher.cancel(found.entry, req.reason, ctx.values.get(REQUEST_ID));
        return found.entry.snapshot();
      }
      // Ended, or run by another router (a shared store): that router carries the cancel out.
      if (!found.stored.record.endedAt) await dispatcher.cancelElsewhere(found.stored, req.reason, ctx.signal);
      return tasks.record(req.taskId, callerOf(ctx));
    },

    async sendInput(req, ctx) {
      return (await runningWorker(req.taskId, callerOf(ctx))).client.sendInput(req, { headers: requestIdHeaders(ctx) });
    },

    async resize(req, ctx) {
      return (await runningWorker(req.taskId, callerOf(ctx))).client.resize(req, { headers: requestIdHeaders(ctx) });
    },

    answerPermission(req, ctx) {
      return answerPermission(tasks, registry, req, requestIdHeaders(ctx), callerOf(ctx));
    },

    listWorkers(_req, ctx) {
      const caller = callerOf(ctx);
      const workers = registry.list().map((w) => registry.record(w));
      // A user sees the ids of its own tasks among those a worker runs, no other task's (ids do not leak).
      if (caller.role === "user") {
        for (const w of workers) {
          if (!w.info) continue;
          w.info = clone(WorkerInfoSchema, w.info);
          w.info.activeTaskIds = w.info.activeTaskIds.filter((id) => tasks.live(id)?.record.owner === caller.name);
        }
      }
      return create(ListWorkersResponseSchema, { workers });
    },

    registerWorker(req) {
      if (!/^https?:\/\/\S+$/.test(req.url)) throw invalidArgument("url", "must be the http:// or https:// URL the router can reach the worker at");
      if (!req.info?.workerId) throw invalidArgument("info.worker_id", "is required");
      registry.register(req.url, req.info);
      return { heartbeatIntervalMs: settings.heartbeatMs };
    },

    watchTasks(req, ctx) {
      return watchers.watch(req, ctx.signal, callerOf(ctx));
    },

    whoAmI(_req, ctx) {
      return whoAmI(callerOf(ctx), identities, admission);
    },
  };
}
