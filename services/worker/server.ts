// Wiring: builds an unstarted worker server from settings. Only main.ts listens on a real port and handles
// signals; tests build the same thing on port 0.
import { Health } from "../../gen/grpc/health/v1/health_pb.js";
import { ExitReason } from "../../gen/claudecluster/v1/run_pb.js";
import { WorkerService } from "../../gen/claudecluster/v1/worker_pb.js";
import { HealthState, healthRoutes, OVERALL, ServingStatus } from "../common/health.js";
import { bearerAuth, bearerGate, errorBoundary } from "../common/interceptors.js";
import { createConnectHandler } from "../common/node-adapter.js";
import type { Logger } from "../common/logger.js";
import { ServerMetrics } from "../common/metrics.js";
import { rpcLog } from "../common/rpc-log.js";
import { reflectionRoutes } from "../common/reflection.js";
import { createDualServer, type DualServer } from "../common/serve.js";
import { probeClaude } from "./claude-bin.js";
import { sweepOrphans } from "./process-tree.js";
import { readTlsFiles } from "../common/secrets.js";
import { claudeConfigHome, prepareClaudeHome, seedClaudeConfig } from "./claude-home.js";
import { workerRoutes } from "./routes.js";
import { workerService } from "./service.js";
import { Runner } from "./runner.js";
import type { WorkerSettings } from "./settings.js";
import { spawnPty, type SpawnTerminal } from "./terminal.js";
import { startRegistration, type Registration } from "./registration.js";
import { transferService } from "./transfer-service.js";
import { createTransfers } from "./transfers.js";
import { hostname } from "node:os";

/** Largest request message accepted: a prompt at the limit plus room for the other fields. */
const READ_MAX_BYTES_OVERHEAD = 256 * 1024;

export interface Worker {
  readonly server: DualServer;
  readonly runner: Runner;
  /** What grpc.health.v1.Health answers: SERVING once listening with a usable claude, NOT_SERVING once draining. */
  readonly health: HealthState;
  /** Listens on settings.port (0 = any free port) and resolves with the bound port. */
  listen(): Promise<number>;
  /** Graceful stop: refuse new tasks, let running ones finish within `graceMs`, then stop them and close. */
  shutdown(graceMs?: number): Promise<void>;
}

export interface WorkerOptions {
  logger: Logger;
  env?: NodeJS.ProcessEnv;
  spawnTerminal?: SpawnTerminal;
}

/** Bound to one address: that address; bound to all: the host name. */
function defaultSelfUrl(host: string, port: number, tls: boolean): string {
  const name = host === "0.0.0.0" || host === "::" ? hostname() : host.includes(":") ? `[${host}]` : host;
  return `${tls ? "https" : "http"}://${name}:${port}`;
}

const WORKER_TOKEN = "worker token (CC_WORKER_TOKEN)";

export async function createWorker(settings: WorkerSettings, options: WorkerOptions): Promise<Worker> {
  const { logger } = options;
  const env = options.env ?? process.env;
  const claude = await probeClaude(settings.claudeBin);
  if (claude.problem) logger.error({ problem: claude.problem }, "claude is not usable; tasks will be refused");
  const home = settings.claudeHome || env["HOME"] || "";
  if (home) {
    const config = claudeConfigHome(home, env);
    if (settings.claudeConfigDir) seedClaudeConfig(config.dir, settings.claudeConfigDir);
    const problem = prepareClaudeHome(config.file, settings.workspaceRoot, env["ANTHROPIC_API_KEY"]);
    if (problem) logger.warn({ file: config.file }, problem);
  }

  // Processes left by a worker that died without cleaning up (SIGKILL, OOM) end here.
  const orphans = sweepOrphans();
  if (orphans.length > 0) logger.warn({ pids: orphans }, "ended processes left by a worker that died");
  // Before the runner (and its warm pool) makes task directories: leftovers of an earlier run are taken in here.
  const transfers = createTransfers(settings, env, logger);
  const runner = new Runner({ settings, claude, logger, env, spawnTerminal: options.spawnTerminal ?? spawnPty, transfers });
  const health = new HealthState([WorkerService.typeName]);
  const metrics = settings.metrics ? workerMetrics(runner, health, logger) : undefined;
  const handler = createConnectHandler({
    logger,
    routes: (router) => {
      workerRoutes({
        ...workerService(runner),
        ...transferService({ transfers, isRunning: (id) => runner.has(id), maxCopyBytes: settings.maxCopyBytes }),
      })(router);
      healthRoutes(health)(router);
      reflectionRoutes([WorkerService, Health])(router);
    },
    // Outermost first: the log line sees every outcome, auth refusals and masked errors included.
    interceptors: [
      rpcLog(logger, { workerId: settings.workerId }),
      ...(metrics ? [metrics.interceptor()] : []),
      errorBoundary(logger),
      bearerAuth(settings.workerTokens, WORKER_TOKEN),
    ],
    // The same token checked before any request body is read.
    requestGate: bearerGate(logger, () => ({ tokens: settings.workerTokens, what: WORKER_TOKEN })),
    readMaxBytes: settings.maxPromptBytes + READ_MAX_BYTES_OVERHEAD,
    ...(metrics ? { streamBytes: metrics.countStreamBytes } : {}),
  });
  const server = createDualServer(metrics ? metrics.handler(handler) : handler, { tls: readTlsFiles(settings.tlsCert, settings.tlsKey) });
  let registration: Registration | undefined;

  return {
    server,
    runner,
    health,
    async listen() {
      const port = await server.listen(settings.port, settings.host);
      // A worker whose claude cannot run refuses every task: probes should route around it, not to it.
      health.setAll(claude.problem ? ServingStatus.NOT_SERVING : ServingStatus.SERVING);
      if (settings.routerUrl) {
        registration = startRegistration({
          routerUrl: settings.routerUrl,
          selfUrl: settings.advertiseUrl || defaultSelfUrl(settings.host, port, Boolean(settings.tlsCert)),
          token: settings.workerTokens[0] ?? "",
          info: () => runner.info(),
          logger,
        });
      }
      return port;
    },
    async shutdown(graceMs = settings.shutdownGraceMs) {
      // First, so probes and Watchers stop sending work here while running tasks finish.
      health.setAll(ServingStatus.NOT_SERVING);
      const drained = runner.drain(graceMs);
      // The last heartbeat reports DRAINING, so the router stops placing tasks here at once.
      await registration?.stop();
      await drained;
      await runner.close();
      transfers.close();
      health.close();
      await server.close(1000);
    },
  };
}

/**
 * The worker's metrics: sessions running and ended, whether it serves, and claude's cost and tokens from the
 * `exited` events its Run streams carry (a session whose caller left before the end is not seen there).
 */
function workerMetrics(runner: Runner, health: HealthState, logger: Logger): ServerMetrics {
  const metrics = new ServerMetrics(logger);
  metrics.gauge("worker_sessions_active", "Sessions (claude processes with their task) running on this worker.", () => runner.info().activeSessions);
  metrics.gauge("worker_sessions_capacity", "Sessions this worker runs at once (CC_MAX_SESSIONS).", () => runner.info().capacity);
  metrics.gauge("serving", "1 while grpc.health.v1 answers SERVING for the whole server, else 0.", () => (health.get(OVERALL) === ServingStatus.SERVING ? 1 : 0));
  metrics.gauge("worker_warm_pool_size", "Warm claude processes the pool keeps (CC_WARM_POOL).", () => runner.info().warmPool?.size ?? 0);
  metrics.gauge("worker_warm_pool_ready", "Warm claude processes waiting for a task now.", () => runner.info().warmPool?.ready ?? 0);
  metrics.labelledGauge("worker_warm_pool_tasks", "Headless tasks that took a warm process (hit) or started cold (miss), since the worker started.", ["result"], () => {
    const pool = runner.info().warmPool;
    return [
      [{ result: "hit" }, Number(pool?.hits ?? 0n)],
      [{ result: "miss" }, Number(pool?.misses ?? 0n)],
    ];
  });
  const ended = metrics.counter("worker_sessions_ended_total", "Sessions ended, by exit reason, as their Run stream reported it.", ["reason"]);
  const reasonOf = (reason: ExitReason) => (ExitReason[reason] ?? String(reason)).toLowerCase();
  // Every reason from the start, so rate() and increase() see the first session of each.
  for (const reason of Object.values(ExitReason)) if (typeof reason === "number" && reason !== ExitReason.UNSPECIFIED) ended.inc({ reason: reasonOf(reason) }, 0);
  metrics.onEvent((event) => {
    if (event.event.case !== "exited") return;
    const exited = event.event.value;
    ended.inc({ reason: reasonOf(exited.reason) });
    metrics.recordResult(exited.result);
  });
  return metrics;
}
