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
import { readTlsFiles } from "../common/secrets.js";
import { claudeConfigHome, seedClaudeConfig } from "./claude-home.js";
import { CredentialProxy, resolveCredential } from "./credential-proxy/index.js";
import { HookEvents } from "./hook-events.js";
import { sweepOrphans } from "./process-tree.js";
import { Secrets } from "./redact.js";
import { createSandbox } from "./sandbox/index.js";
import { TaskHomes, TranscriptStore } from "./task-home/index.js";
import { Isolation } from "./task-isolation.js";
import { workerRoutes } from "./routes.js";
import { workerService } from "./service.js";
import { Runner } from "./runner.js";
import type { WorkerSettings } from "./settings.js";
import { spawnPty, type SpawnTerminal } from "./terminal.js";
import { startRegistration, type Registration } from "./registration.js";
import { transferService } from "./transfer-service.js";
import { transcriptService } from "./transcript-service.js";
import { createTransfers } from "./transfers.js";
import { Environments } from "./environments/index.js";
import { environmentService } from "./environments/service.js";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";

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
  /** Values redacted from task events (and, if the logger was made with them, from logs); filled in here. */
  secrets?: Secrets;
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
  const isolation = await isolationFor(settings, env, claude.bin, options.secrets ?? new Secrets(), logger);
  // Before the runner (and its warm pool) makes task directories: leftovers of an earlier run are taken in here.
  const transfers = createTransfers(settings, env, logger);
  const environments = new Environments({
    cacheDir: settings.environmentCacheDir,
    maxCount: settings.environmentCacheCount,
    maxBytes: settings.environmentCacheBytes,
    setupTimeoutMs: settings.setupTimeoutMs,
    sandbox: isolation.isolation.sandbox,
    logger: logger.child({ component: "environments" }),
  });
  const runner = new Runner({
    settings,
    claude,
    logger,
    spawnTerminal: options.spawnTerminal ?? spawnPty,
    isolation: isolation.isolation,
    egress: isolation.egress,
    secrets: isolation.secrets,
    transfers,
    environments,
  });
  const health = new HealthState([WorkerService.typeName]);
  const metrics = settings.metrics ? workerMetrics(runner, isolation.isolation, health, logger) : undefined;
  const handler = createConnectHandler({
    logger,
    routes: (router) => {
      workerRoutes({
        ...workerService(runner),
        ...transferService({ transfers, isRunning: (id) => runner.has(id), maxCopyBytes: settings.maxCopyBytes }),
        ...transcriptService(isolation.transcripts, settings.maxTranscriptBytes),
        ...environmentService(environments, settings.workerId),
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
    // A Run may carry a session's transcript as well as its prompt.
    readMaxBytes: settings.maxPromptBytes + settings.maxTranscriptBytes + READ_MAX_BYTES_OVERHEAD,
    readMaxSettings: "CC_MAX_PROMPT_BYTES and CC_MAX_TRANSCRIPT_BYTES",
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
      await isolation.close();
      transfers.close();
      health.close();
      await server.close(1000);
    },
  };
}

/**
 * What keeps tasks apart (task-isolation.ts): the sandbox this machine allows, the credential proxy, the hook-event
 * server, the tasks' private HOMEs, the redaction list, and the egress policy tasks get. Also ends what a worker
 * that died left behind: the processes of its unsandboxed tasks, and their HOMEs (whose transcripts are kept).
 */
async function isolationFor(settings: WorkerSettings, env: NodeJS.ProcessEnv, claudeBin: string, secrets: Secrets, logger: Logger) {
  const home = settings.claudeHome || env["HOME"] || tmpdir();
  // The worker's claude configuration (~/.claude, or CLAUDE_CONFIG_DIR: the embedded cluster gives its claude one of
  // its own) is what each task's private HOME is seeded from; CC_CLAUDE_CONFIG is copied into it first.
  const { dir: configDir, file: stateFile } = claudeConfigHome(home, env);
  if (settings.claudeConfigDir) seedClaudeConfig(configDir, settings.claudeConfigDir);
  // Tasks' HOMEs live beside the worker's claude state: in its own config directory when it has one (the embedded
  // cluster's, which must leave the user's HOME alone), else in its HOME.
  const stateDir = join(env["CLAUDE_CONFIG_DIR"] ? configDir : home, ".claudecluster");
  const transcripts = new TranscriptStore(join(configDir, "projects"));
  const homes = new TaskHomes(stateDir, { configDir, stateFile }, transcripts, logger);
  const orphans = homes.orphans();
  const killed = sweepOrphans(orphans);
  if (killed.length > 0) logger.warn({ pids: killed }, "ended processes left by a worker that died");
  for (const tag of orphans) homes.release(tag);

  const credential = resolveCredential(env, configDir);
  for (const value of [...settings.workerTokens, ...credential.secrets(), ...secretEnv(env)]) secrets.add(value);
  if (!credential.headers()) logger.warn({}, "no model API credential (ANTHROPIC_API_KEY, CLAUDE_CODE_OAUTH_TOKEN or a claude login): requests reach the API without one");
  const credentialProxy = new CredentialProxy({ upstream: env["ANTHROPIC_BASE_URL"] || "https://api.anthropic.com", credential, customHeaders: env["ANTHROPIC_CUSTOM_HEADERS"], logger });
  await credentialProxy.listen();
  const hooks = new HookEvents(logger);
  await hooks.listen();

  const sandbox = await createSandbox({
    mode: settings.sandbox,
    // What a task must not see even where it lies under a directory every sandbox reads (/etc, /opt, /usr).
    // Uploads and recorded changes of every task, too, wherever they are kept.
    hidden: [settings.workerTokenFile, settings.tlsKey, settings.claudeConfigDir, home, configDir, settings.workspaceRoot, settings.uploadDir, settings.changesDir, env["CC_TOKEN_FILE"] ?? ""].filter(Boolean),
    readOnly: settings.sandboxBind,
    isolatedNetworks: settings.egress.mode !== "open",
  });
  if (sandbox.kind === "none" && settings.sandbox === "auto") {
    logger.warn({ problem: sandbox.problem }, "TASKS ARE NOT SANDBOXED: they run as the worker's user and can read what it can (CC_SANDBOX=auto)");
  } else if (sandbox.problem) {
    logger.warn({ problem: sandbox.problem }, "the egress policy is not enforced");
  }
  const egress = sandbox.isolatesNetwork ? settings.egress : ({ mode: "open" } as const);
  logger.info({ sandbox: sandbox.kind, egress: egress.mode, credential: credential.source }, "task isolation");
  const isolation = new Isolation({ sandbox, homes, credentialProxy, hooks, secrets, env, claudeBin, logger });
  return {
    isolation,
    egress,
    secrets,
    transcripts,
    async close() {
      await credentialProxy.close();
      await hooks.closeAll();
      isolation.close();
    },
  };
}

/** Secret values in the worker's environment besides the model credential: tokens of the router and of proxies. */
function secretEnv(env: NodeJS.ProcessEnv): string[] {
  const values = [env["CC_TOKEN"], env["CC_WORKER_TOKEN"], env["ANTHROPIC_AUTH_TOKEN"], env["CLAUDE_CODE_OAUTH_TOKEN"], env["AWS_SECRET_ACCESS_KEY"], env["AWS_SESSION_TOKEN"]];
  for (const key of ["HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy", "ALL_PROXY", "all_proxy"]) {
    // Credentials in a proxy URL (http://user:password@proxy).
    const password = /^[a-z]+:\/\/[^/:@]*:([^/@]+)@/i.exec(env[key] ?? "")?.[1];
    if (password) values.push(decodeURIComponent(password));
  }
  return values.flatMap((v) => (v ? v.split(",").map((t) => t.trim()) : [])).filter(Boolean);
}

/**
 * The worker's metrics: sessions running and ended, whether it serves, and claude's cost and tokens from the
 * `exited` events its Run streams carry (a session whose caller left before the end is not seen there).
 */
function workerMetrics(runner: Runner, isolation: Isolation, health: HealthState, logger: Logger): ServerMetrics {
  const metrics = new ServerMetrics(logger);
  metrics.labelledGauge("worker_sandbox", "1 for how this worker isolates tasks: kind=\"bwrap\" (a bubblewrap sandbox each) or kind=\"none\" (unsandboxed).", ["kind"], () => [
    [{ kind: isolation.sandbox.kind }, 1],
  ]);
  const blocked = metrics.counter("worker_egress_blocked_total", "Connections of tasks refused by their egress policy, since the worker started.");
  blocked.inc(0);
  let counted = 0;
  metrics.onScrape(() => {
    blocked.inc(isolation.blockedConnections - counted);
    counted = isolation.blockedConnections;
  });
  metrics.gauge("worker_sessions_active", "Sessions (claude processes with their task) running on this worker.", () => runner.info().activeSessions);
  metrics.gauge("worker_sessions_capacity", "Sessions this worker runs at once (CC_MAX_SESSIONS).", () => runner.info().capacity);
  metrics.gauge("serving", "1 while grpc.health.v1 answers SERVING for the whole server, else 0.", () => (health.get(OVERALL) === ServingStatus.SERVING ? 1 : 0));
  metrics.gauge("worker_warm_pool_size", "Warm claude processes the pool keeps (CC_WARM_POOL).", () => runner.info().warmPool?.size ?? 0);
  metrics.gauge("worker_warm_pool_ready", "Warm claude processes started up and waiting for a task now.", () => runner.info().warmPool?.ready ?? 0);
  metrics.gauge("worker_warm_pool_starting", "Warm claude processes started but still starting up.", () => runner.info().warmPool?.starting ?? 0);
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
