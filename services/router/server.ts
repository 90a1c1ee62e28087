// Wiring: builds an unstarted router from settings. Only main.ts listens on a real port and handles signals.
import { readFileSync } from "node:fs";
import type { Interceptor } from "@connectrpc/connect";
import { RouterService } from "../../gen/claudecluster/v1/router_pb.js";
import { Health } from "../../gen/grpc/health/v1/health_pb.js";
import { HealthState, healthRoutes, ServingStatus } from "../common/health.js";
import { bearerAuth, errorBoundary } from "../common/interceptors.js";
import { createConnectHandler } from "../common/node-adapter.js";
import type { Logger } from "../common/logger.js";
import { readTlsFiles } from "../common/secrets.js";
import { SettingsError } from "../common/settings.js";
import { reflectionRoutes } from "../common/reflection.js";
import { createDualServer, type DualServer } from "../common/serve.js";
import { routerRoutes } from "./connect.js";
import { Dispatcher } from "./dispatcher.js";
import { Registry } from "./registry.js";
import { routerService } from "./service.js";
import type { RouterSettings } from "./settings.js";
import { TaskStore } from "./tasks.js";

const READ_MAX_BYTES_OVERHEAD = 256 * 1024;

export interface Router {
  readonly server: DualServer;
  readonly registry: Registry;
  readonly tasks: TaskStore;
  readonly dispatcher: Dispatcher;
  /** What grpc.health.v1.Health answers: SERVING once listening, NOT_SERVING once draining. */
  readonly health: HealthState;
  listen(): Promise<number>;
  /** Graceful stop: refuse new tasks, let running ones finish within `graceMs`, cancel the rest, close. */
  shutdown(graceMs?: number): Promise<void>;
}

/**
 * Workers authenticate RegisterWorker with the worker token; everything else takes the client token, except health
 * (bearerAuth lets TOKEN_FREE_SERVICES through, for probes that cannot send headers).
 */
function authByMethod(settings: RouterSettings): Interceptor {
  const clients = bearerAuth(settings.tokens, "router token (CC_TOKEN)");
  const workers = bearerAuth(settings.workerTokens, "worker token (CC_WORKER_TOKEN)");
  return (next) => {
    const forClients = clients(next);
    const forWorkers = workers(next);
    return (req) => (req.method.name === "RegisterWorker" ? forWorkers(req) : forClients(req));
  };
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

export function createRouter(settings: RouterSettings, options: { logger: Logger }): Router {
  const { logger } = options;
  const tasks = new TaskStore({ retainTasks: settings.retainTasks, retainAgeMs: settings.retainAgeMs });
  let dispatcher: Dispatcher | undefined;
  const registry = new Registry({
    staticWorkers: [...settings.workers, ...readWorkersFile(settings.workersFile)],
    workerToken: settings.workerTokens[0],
    heartbeatMs: settings.heartbeatMs,
    offlineAfterMs: settings.offlineAfterMs,
    removeAfterMs: settings.removeAfterMs,
    logger,
    onCapacity: () => dispatcher?.pump(),
  });
  dispatcher = new Dispatcher(settings, registry, tasks, logger);
  const health = new HealthState([RouterService.typeName]);
  const handler = createConnectHandler({
    logger,
    routes: (router) => {
      routerRoutes(routerService({ settings, dispatcher, tasks, registry }))(router);
      healthRoutes(health)(router);
      reflectionRoutes([RouterService, Health])(router);
    },
    interceptors: [errorBoundary(logger), authByMethod(settings)],
    readMaxBytes: settings.maxPromptBytes + READ_MAX_BYTES_OVERHEAD,
  });
  const server = createDualServer(handler, { tls: readTlsFiles(settings.tlsCert, settings.tlsKey) });
  const d = dispatcher;
  return {
    server,
    registry,
    tasks,
    dispatcher: d,
    health,
    async listen() {
      const port = await server.listen(settings.port, settings.host);
      registry.start();
      // Serving even with no worker online: tasks queue until one is, which is the router's job.
      health.setAll(ServingStatus.SERVING);
      return port;
    },
    async shutdown(graceMs = settings.shutdownGraceMs) {
      // First, so probes and Watchers stop sending clients here while running tasks finish.
      health.setAll(ServingStatus.NOT_SERVING);
      await d.drain(graceMs);
      registry.stop();
      health.close();
      await server.close(1000);
    },
  };
}
