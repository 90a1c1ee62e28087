// RouterService: the RPC surface over the dispatcher, the task store and the registry. Run and Attach are async
// generators over the task's log; ctx.signal tells us when a caller leaves. Worker events in the log are mostly
// undecoded (undecoded-events.ts): binary callers get them as they came, JSON callers decoded.
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import { create } from "@bufbuild/protobuf";
import { ListTasksResponseSchema, ListWorkersResponseSchema, type RouterService } from "../../gen/claudecluster/v1/router_pb.js";
import { RunMode, type RunEvent } from "../../gen/claudecluster/v1/run_pb.js";
import { failedPrecondition, invalidArgument, resourceExhausted } from "../common/errors.js";
import { REQUEST_ID, requestIdHeaders } from "../common/rpc-log.js";
import type { Dispatcher } from "./dispatcher.js";
import { answerPermission } from "./permissions.js";
import { pageToken, taskQuery } from "./list-query.js";
import type { Registry } from "./registry.js";
import type { SessionHandoff } from "./sessions/index.js";
import type { RouterSettings } from "./settings.js";
import type { TaskWatchers } from "./task-watch.js";
import type { TaskEntry, TaskStore } from "./tasks.js";
import type { TransferMethod } from "./transfer-forwarding.js";
import { decoded, isJsonCall } from "./undecoded-events.js";
import type { UploadPlacements } from "./uploads.js";

const MAX_LIST = 1000;

/** The RPCs about tasks and workers; those that move bytes are in transfer-forwarding.ts. */
export function routerService(deps: {
  settings: RouterSettings;
  dispatcher: Dispatcher;
  tasks: TaskStore;
  registry: Registry;
  watchers: TaskWatchers;
  uploads: UploadPlacements;
  sessions: SessionHandoff;
}): Omit<ServiceImpl<typeof RouterService>, TransferMethod> {
  const { settings, dispatcher, tasks, registry, watchers, uploads, sessions } = deps;

  async function* follow(entry: TaskEntry, afterSeq: bigint, ctx: HandlerContext): AsyncGenerator<RunEvent> {
    if (entry.log.subscriberCount >= settings.maxSubscribers) {
      throw resourceExhausted(`task ${entry.id} already has ${settings.maxSubscribers} callers attached (CC_MAX_SUBSCRIBERS)`);
    }
    dispatcher.subscriberJoined(entry);
    try {
      const events = entry.log.follow(afterSeq, ctx.signal);
      if (!isJsonCall(ctx.requestHeader.get("content-type"))) yield* events;
      else for await (const event of events) yield decoded(event);
    } finally {
      dispatcher.subscriberLeft(entry);
    }
  }

  /** The worker running a task, for input and resizes. */
  function runningWorker(taskId: string) {
    const entry = tasks.get(taskId);
    if (entry.ended) throw failedPrecondition(`task ${taskId} has ended`);
    if (entry.request.mode !== RunMode.INTERACTIVE) {
      throw failedPrecondition(`task ${taskId} is headless: it has no terminal to type into or resize (start one with \`cc run -i\`)`);
    }
    if (!entry.started || !entry.worker) throw failedPrecondition(`task ${taskId} has not started yet`);
    return entry.worker;
  }

  return {
    async *run(req, ctx) {
      // A task on an uploaded workspace runs where the upload is.
      uploads.place(req);
      // A task resuming a session takes its transcript to whichever worker runs it (sessions/).
      await sessions.prepare(req);
      const entry = dispatcher.submit(req, ctx.values.get(REQUEST_ID));
      sessions.follow(entry);
      yield* follow(entry, 0n, ctx);
    },

    async *attach(req, ctx) {
      yield* follow(tasks.get(req.taskId), req.afterSeq, ctx);
    },

    getTask(req) {
      return tasks.get(req.taskId).snapshot();
    },

    listTasks(req) {
      const page = tasks.list(taskQuery(req));
      return create(ListTasksResponseSchema, { tasks: page.tasks, nextPageToken: page.more ? pageToken(page.tasks.at(-1)!.id) : "" });
    },

    async cancelTask(req, ctx) {
      const entry = tasks.get(req.taskId);
      await dispatcher.cancel(entry, req.reason, ctx.values.get(REQUEST_ID));
      return entry.snapshot();
    },

    async sendInput(req, ctx) {
      return runningWorker(req.taskId).client.sendInput(req, { headers: requestIdHeaders(ctx) });
    },

    async resize(req, ctx) {
      return runningWorker(req.taskId).client.resize(req, { headers: requestIdHeaders(ctx) });
    },

    answerPermission(req, ctx) {
      return answerPermission(tasks, req, requestIdHeaders(ctx));
    },

    listWorkers() {
      return create(ListWorkersResponseSchema, { workers: registry.list().map((w) => registry.record(w)) });
    },

    registerWorker(req) {
      if (!/^https?:\/\/\S+$/.test(req.url)) throw invalidArgument("url", "must be the http:// or https:// URL the router can reach the worker at");
      if (!req.info?.workerId) throw invalidArgument("info.worker_id", "is required");
      registry.register(req.url, req.info);
      return { heartbeatIntervalMs: settings.heartbeatMs };
    },

    watchTasks(req, ctx) {
      return watchers.watch(req, ctx.signal);
    },
  };
}
