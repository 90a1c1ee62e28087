// Wiring: builds an unstarted router from settings. Only main.ts listens on a real port and handles signals.
import { readFileSync } from "node:fs";
import type { HandlerContext, Interceptor } from "@connectrpc/connect";
import { RouterService, type Task, TaskStatus, WorkerHealth } from "../../gen/claudecluster/v1/router_pb.js";
import { Health } from "../../gen/grpc/health/v1/health_pb.js";
import { HealthState, healthRoutes, OVERALL, ServingStatus } from "../common/health.js";
import { bearerAuth, bearerGate, errorBoundary } from "../common/interceptors.js";
import { createConnectHandler } from "../common/node-adapter.js";
import type { Logger } from "../common/logger.js";
import { LATENCY_BUCKETS, ServerMetrics, takeReceived } from "../common/metrics.js";
import { rpcLog } from "../common/rpc-log.js";
import { readTlsFiles } from "../common/secrets.js";
import { SettingsError } from "../common/settings.js";
import { reflectionRoutes } from "../common/reflection.js";
import { createDualServer, type DualServer } from "../common/serve.js";
import { routerRoutes } from "./routes.js";
import { create } from "@bufbuild/protobuf";
import { RoutineService, WebhookSchema } from "../../gen/claudecluster/v1/routines_pb.js";
import { openRoutineStore, routineFireHandler, routineService, Routines, systemClock, type Clock, type Post, type RoutineStore } from "./routines/index.js";
import { Dispatcher } from "./dispatcher.js";
import { Identities, identityAuth, identityGate } from "./identity/index.js";
import { Ownership } from "./ownership.js";
import { placementQuotas } from "./quotas/placement.js";
import { Admission, costOf, Spend } from "./quotas/index.js";
import { Registry } from "./registry.js";
import { earlierTask, MemorySessionStore, SessionHandoff } from "./sessions/index.js";
import { routerService } from "./service.js";
import type { RouterSettings } from "./settings.js";
import { taskActivity } from "./task-activity.js";
import { TaskWatchers } from "./task-watch.js";
import { openTaskStore } from "./store/open.js";
import type { TaskStore } from "./store/interface.js";
import { Tasks } from "./tasks.js";
import { defaultWebDir, loadWebApp, type WebApp } from "./web-app.js";
import { transferForwarding } from "./transfer-forwarding.js";
import { environmentForwarding } from "./environment-forwarding.js";
import { UploadPlacements } from "./uploads.js";

const READ_MAX_BYTES_OVERHEAD = 256 * 1024;

export interface Router {
  readonly server: DualServer;
  readonly registry: Registry;
  readonly tasks: Tasks;
  /** Where task records and event logs are kept (CC_STORE). */
  readonly store: TaskStore;
  readonly dispatcher: Dispatcher;
  /** Saved tasks, their schedules, retries and webhooks (routines/). */
  readonly routines: Routines;
  /** Who may call (CC_TOKENS_FILE, CC_TOKEN): reload() on SIGHUP. */
  readonly identities: Identities;
  /** Whether the web UI is served at `/` (CC_WEB on, and the bundle built). */
  readonly servesWebUi: boolean;
  /** What grpc.health.v1.Health answers: SERVING once listening, NOT_SERVING once draining. */
  readonly health: HealthState;
  /** Opens the store (StoreUnavailable says why it cannot), carries on with the tasks it holds, and listens. */
  listen(): Promise<number>;
  /** Graceful stop: refuse new tasks, let running ones finish within `graceMs`, cancel the rest, close. */
  shutdown(graceMs?: number): Promise<void>;
}

const WORKER_TOKEN = "worker token (CC_WORKER_TOKEN)";

/**
 * Workers authenticate RegisterWorker with the worker token only; everything else is a client's, checked by
 * identity (identity/: CC_TOKENS_FILE and CC_TOKEN), except health (for probes that cannot send headers).
 */
function authByMethod(settings: RouterSettings, identities: Identities): Interceptor {
  const clients = identityAuth(identities);
  const workers = bearerAuth(settings.workerTokens, WORKER_TOKEN);
  return (next) => {
    const forClients = clients(next);
    const forWorkers = workers(next);
    return (req) => (req.method.name === "RegisterWorker" ? forWorkers(req) : forClients(req));
  };
}

/** RegisterWorker's gate for workers, every other method's for clients. */
function gateByMethod(workers: (ctx: HandlerContext) => void, clients: (ctx: HandlerContext) => void): (ctx: HandlerContext) => void {
  return (ctx) => (ctx.method.name === "RegisterWorker" ? workers(ctx) : clients(ctx));
}

/** One worker entry per line; blank lines and `#` comments are skipped. */
export function readWorkersFile(path: string): string[] {
  if (!path) return [];
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new SettingsError(`CC_WORKERS_FILE=${JSON.stringify(path)}: cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  return text
    .split("\n")
    .map((line) => line.replace(/#.*/, "").trim())
    .filter(Boolean);
}

export function createRouter(
  settings: RouterSettings,
  options: { logger: Logger; store?: TaskStore; routineStore?: RoutineStore; clock?: Clock; webhookPost?: Post },
): Router {
  const { logger } = options;
  const identities = new Identities({ adminTokens: settings.tokens, file: settings.tokensFile, logger });
  const store = options.store ?? openTaskStore(settings);
  const tasks = new Tasks(store, {
    retention: { tasks: settings.retainTasks, ageMs: settings.retainAgeMs, logBytes: settings.retainLogBytes },
    log: { maxBytes: settings.logBytes, maxLagBytes: settings.subscriberLagBytes, stallMs: settings.subscriberStallMs },
    lease: { routerId: settings.routerId, ttlMs: settings.leaseTtlMs },
    logger,
  });
  tasks.watch(taskActivity());
  const watchers = new TaskWatchers(tasks, { intervalMs: settings.watchIntervalMs, maxWatchers: settings.maxWatchers });
  let dispatcher: Dispatcher | undefined;
  const registry = new Registry({
    staticWorkers: [...settings.workers, ...readWorkersFile(settings.workersFile)],
    workerToken: settings.workerTokens[0],
    heartbeatMs: settings.heartbeatMs,
    offlineAfterMs: settings.offlineAfterMs,
    removeAfterMs: settings.removeAfterMs,
    logger,
    onCapacity: () => dispatcher?.pump(),
    // Workers registered with any router are seen by all that share the store.
    onRegistered: (url, info) => void store.shareWorker({ url, info, seenMs: Date.now() }).catch(() => undefined),
  });
  const uploads = new UploadPlacements(registry);
  const sessions = new SessionHandoff({
    store: new MemorySessionStore({ maxSessions: settings.sessionsKept, maxBytes: settings.sessionsBytes }),
    task: (id, caller) => earlierTask(tasks, id, caller),
    maxTranscriptBytes: settings.maxTranscriptBytes,
    logger,
    carry: { registry, uploads, maxBytes: settings.maxCarryBytes, logger },
  });
  dispatcher = new Dispatcher(settings, registry, tasks, logger, settings.routerId, sessions);
  const routines = new Routines({
    store: options.routineStore ?? openRoutineStore(settings),
    submit: (req, caller) => dispatcher!.submit(req, "", caller),
    ended: async (taskId) => {
      // Run here: its end is an event. Run by another router sharing the store (it took the scheduled fire first):
      // read the store until the record says it ended.
      for (;;) {
        const entry = tasks.live(taskId);
        if (entry) {
          await entry.whenEnded();
          return entry.snapshot();
        }
        const record = await tasks.record(taskId);
        if (record.endedAt) return record;
        await new Promise((resolve) => setTimeout(resolve, settings.heartbeatMs).unref());
      }
    },
    clock: options.clock ?? systemClock,
    logger: logger.child({ component: "routines" }),
    ...(options.webhookPost ? { post: options.webhookPost } : {}),
    ...(settings.webhookUrl ? { globalWebhook: create(WebhookSchema, { url: settings.webhookUrl, secret: settings.webhookSecret }) } : {}),
  });
  // After taskActivity (registered first), so a record's phase is current when routines look at it.
  tasks.watch({ changed: (entry) => routines.taskChanged(entry.record), removed: (entry) => routines.taskLeft(entry.record) });
  const admission = new Admission(
    {
      running: settings.quotaRunning,
      queued: settings.quotaQueued,
      maxTimeoutMs: settings.quotaTimeoutMs,
      dailyUsd: settings.budgetDailyUsd,
      monthlyUsd: settings.budgetMonthlyUsd,
    },
    new Spend((query) => tasks.list(query)),
  );
  dispatcher.quotas = placementQuotas(admission, identities);
  const ownership = new Ownership(tasks, dispatcher, { routerId: settings.routerId, leaseTtlMs: settings.leaseTtlMs, logger });
  dispatcher.onTakeOver = () => ownership.takeOver();
  let sharing: NodeJS.Timeout | undefined;
  const health = new HealthState([RouterService.typeName]);
  const metrics = settings.metrics ? routerMetrics(tasks, dispatcher, registry, health, logger, identities) : undefined;
  /** The worker a task was placed on, for log lines of calls that name the task. */
  const workerOf = (taskId: string) => tasks.workerOf(taskId);
  const handler = createConnectHandler({
    logger,
    routes: (router) => {
      routerRoutes({
        ...routerService({ settings, dispatcher, tasks, registry, watchers, uploads, sessions, identities, admission }),
        ...transferForwarding({ registry, tasks, uploads, maxUploadBytes: settings.maxUploadBytes }),
        ...environmentForwarding(registry),
      })(router);
      router.service(RoutineService, routineService(routines));
      healthRoutes(health)(router);
      reflectionRoutes([RouterService, RoutineService, Health])(router);
    },
    // Outermost first: the log line sees every outcome, auth refusals and masked errors included.
    interceptors: [rpcLog(logger, { workerOf }), ...(metrics ? [metrics.interceptor()] : []), errorBoundary(logger), authByMethod(settings, identities)],
    // The same tokens checked before any request body is read.
    requestGate: gateByMethod(bearerGate(logger, () => ({ tokens: settings.workerTokens, what: WORKER_TOKEN })), identityGate(identities, logger)),
    readMaxBytes: settings.maxPromptBytes + READ_MAX_BYTES_OVERHEAD,
    ...(metrics ? { streamBytes: metrics.countStreamBytes } : {}),
  });
  const web = settings.web ? webApp(logger) : undefined;
  const pages = routineFireHandler(routines, logger, web ? web.handler(handler) : handler);
  const server = createDualServer(metrics ? metrics.handler(pages) : pages, { tls: readTlsFiles(settings.tlsCert, settings.tlsKey) });
  const d = dispatcher;
  return {
    server,
    registry,
    tasks,
    store,
    dispatcher: d,
    routines,
    identities,
    servesWebUi: web !== undefined,
    health,
    async listen() {
      await store.open();
      const taken = await ownership.start();
      if (taken > 0) logger.info({ tasks: taken, store: store.kind }, "carrying on with the tasks the store holds");
      // Before listening, so a routine store that cannot be opened stops the router; a missed run submitted now waits
      // (a second at a time, for a minute) for a worker to be seen.
      await routines.start();
      const port = await server.listen(settings.port, settings.host);
      identities.watch();
      sharing = setInterval(() => {
        void store
          .sharedWorkers()
          .then((workers) => {
            for (const w of workers) registry.observe(w.url, w.info, w.seenMs);
          })
          .catch(() => undefined);
      }, settings.heartbeatMs);
      sharing.unref();
      registry.start();
      tasks.start();
      // Serving even with no worker online: tasks queue until one is, which is the router's job.
      health.setAll(ServingStatus.SERVING);
      return port;
    },
    async shutdown(graceMs = settings.shutdownGraceMs) {
      // First, so probes and Watchers stop sending clients here while running tasks finish.
      health.setAll(ServingStatus.NOT_SERVING);
      await d.drain(graceMs);
      await routines.stop();
      registry.stop();
      tasks.stop();
      ownership.stop();
      identities.stop();
      clearInterval(sharing);
      health.close();
      await server.close(1000);
      await store.close();
    },
  };
}

/** The built web UI, or none (with a warning) when this copy of the router was built without it. */
function webApp(logger: Logger): WebApp | undefined {
  const dir = defaultWebDir();
  if (!dir) {
    logger.warn("the web UI is not built (no dist/web); run `npm run build`, or set CC_WEB=off to silence this");
    return undefined;
  }
  const app = loadWebApp(dir);
  logger.debug({ dir, files: app.files, bytes: app.bytes }, "serving the web UI at /");
  return app;
}

const lower = (name: string | undefined, value: number) => (name ?? String(value)).toLowerCase();

/**
 * The router's metrics, read from the task store, the dispatcher and the registry when Prometheus scrapes. Ended
 * tasks are counted (and claude's cost and tokens added) once each at the first scrape that finds them, so a
 * detached task that no one followed counts too.
 */
/** Owners get a label value of their own only while the identities are this few: a label set stays bounded. */
export const OWNER_LABELS_MAX = 50;

function routerMetrics(tasks: Tasks, dispatcher: Dispatcher, registry: Registry, health: HealthState, logger: Logger, identities: Identities): ServerMetrics {
  const metrics = new ServerMetrics(logger);
  // Read from the store once per scrape, before the gauges below.
  let all: Task[] = [];
  metrics.onScrape(async () => {
    const read: Task[] = [];
    try {
      for (let olderThan: string | undefined; ; ) {
        const page = await tasks.list({ limit: 1000, ...(olderThan !== undefined ? { olderThan } : {}) });
        read.push(...page.tasks);
        if (!page.more) break;
        olderThan = page.tasks.at(-1)!.id;
      }
      all = read;
    } catch (err) {
      logger.warn({ err: String(err) }, "could not read the task store for metrics");
    }
  });
  const statuses = Object.values(TaskStatus).filter((v): v is TaskStatus => typeof v === "number" && v !== TaskStatus.UNSPECIFIED);
  metrics.labelledGauge("router_tasks", "Tasks the router keeps (CC_RETAIN_TASKS, CC_RETAIN_AGE), by status.", ["status"], () => {
    const counts = new Map(statuses.map((s) => [s, 0]));
    for (const task of all) counts.set(task.status, (counts.get(task.status) ?? 0) + 1);
    return [...counts].map(([status, n]) => [{ status: lower(TaskStatus[status], status) }, n]);
  });
  metrics.gauge("router_queue_depth", "Tasks waiting for a free worker slot.", () => dispatcher.queued);
  metrics.gauge("router_tasks_running", "Tasks running on workers (claude started).", () => tasks.active().filter((t) => t.started).length);
  metrics.labelledGauge("router_workers", "Workers the router knows: 1 for each worker's current status.", ["worker_id", "status"], () =>
    registry.list().map((w) => {
      const h = registry.health(w);
      return [{ worker_id: w.id, status: lower(WorkerHealth[h], h) }, 1];
    }),
  );
  metrics.gauge("serving", "1 while grpc.health.v1 answers SERVING for the whole server, else 0.", () => (health.get(OVERALL) === ServingStatus.SERVING ? 1 : 0));
  const latency = metrics.histogram(
    "router_event_latency_seconds",
    "Time the router adds: from a worker's event arriving to it leaving for the first caller following the task.",
    LATENCY_BUCKETS,
  );
  metrics.onEvent((event) => {
    const seconds = takeReceived(event);
    if (seconds !== undefined) latency.observe(seconds);
  });
  const ended = metrics.counter("router_tasks_ended_total", "Tasks ended, by final status.", ["status"]);
  for (const status of [TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.CANCELLED]) ended.inc({ status: lower(TaskStatus[status], status) }, 0);
  // Per owner, when the identities are few and known (CC_TOKENS_FILE); any other owner counts as "other".
  const ownerTasks = metrics.counter("router_owner_tasks_ended_total", `Tasks ended, by owner (an identity of CC_TOKENS_FILE while there are at most ${OWNER_LABELS_MAX}; else "other").`, ["owner"]);
  const ownerCost = metrics.counter("router_owner_cost_usd_total", "claude's own cost estimate (total_cost_usd) of the ended tasks, by owner, in US dollars.", ["owner"]);
  const ownerOf = (owner: string) => {
    const names = identities.names();
    return names.length <= OWNER_LABELS_MAX && owner !== "" && names.includes(owner) ? owner : "other";
  };
  let counted = new Set<string>();
  metrics.onScrape(() => {
    const seen = new Set<string>();
    for (const task of all) {
      if (!task.endedAt) continue;
      seen.add(task.id);
      if (counted.has(task.id)) continue;
      ended.inc({ status: lower(TaskStatus[task.status], task.status) });
      metrics.recordResult(task.exit?.result);
      const owner = ownerOf(task.owner);
      ownerTasks.inc({ owner });
      ownerCost.inc({ owner }, costOf(task));
    }
    counted = seen;
  });
  return metrics;
}
