// A whole cluster in one process: a router and N workers on loopback, the workers registered with the router.
// `cc run` starts one when no router is configured, `cc up` runs one in the foreground, and tests use it too.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { silentLogger, type Logger } from "../common/logger.js";
import { embeddedClaudeConfigDir, seedEmbeddedClaudeConfig } from "./claude-config.js";
import { createRouter, type Router } from "../router/server.js";
import { readRouterSettings } from "../router/settings.js";
import { createWorker, type Worker } from "../worker/server.js";
import { readWorkerSettings } from "../worker/settings.js";

export interface LocalClusterOptions {
  /** Workers to start (default 1). */
  workers?: number;
  /** Router port (default 0: any free port). */
  port?: number;
  host?: string;
  /** Extra environment for the workers' claude, e.g. ANTHROPIC_BASE_URL; also CC_* worker settings. */
  env?: Record<string, string>;
  /**
   * HOME for claude, whose .claude.json and .claude/ it then uses and the worker prepares. Default: the user's HOME,
   * with a Claude config directory of the cluster's own (claude-config.ts), so the user's own is never written.
   */
  claudeHome?: string;
  /** Workspace root of every worker; default the worker default. */
  workspaceRoot?: string;
  maxSessionsPerWorker?: number;
  /**
   * Keep task records and logs in a SQLite store in this directory (`cc up`), so that the cluster started again
   * shows them; unset, they are kept in memory (`cc run`'s cluster lives for one command: its workers, and so its
   * tasks, end with it, and a file would only outlive them).
   */
  dataDir?: string;
  /** Serve the web UI at the router's URL (`cc up`); off by default, since `cc run`'s cluster lives for one command. */
  web?: boolean;
  /**
   * A cluster started for one command whose workspace root is the user's own directory (`cc run` with no router):
   * uploads and recorded changes go to a temporary directory removed at close, and no workspace is ever reclaimed.
   */
  forOneCommand?: boolean;
  logger?: Logger;
}

export interface LocalCluster {
  url: string;
  workerUrls: string[];
  router: Router;
  workers: Worker[];
  close(): Promise<void>;
}

export async function startLocalCluster(options: LocalClusterOptions = {}): Promise<LocalCluster> {
  const logger = options.logger ?? silentLogger();
  const host = options.host ?? "127.0.0.1";
  const baseEnv: NodeJS.ProcessEnv = { ...process.env, ...options.env };
  if (options.claudeHome) delete baseEnv["CLAUDE_CONFIG_DIR"];
  else {
    const dir = embeddedClaudeConfigDir(baseEnv);
    try {
      baseEnv["CLAUDE_CONFIG_DIR"] = seedEmbeddedClaudeConfig(dir, baseEnv);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? String(err);
      throw new Error(`cannot prepare the embedded claude's config directory ${dir} (${code}); set XDG_STATE_HOME to a writable directory`, { cause: err });
    }
  }
  const router = createRouter(
    readRouterSettings({
      ...baseEnv,
      PORT: String(options.port ?? 0),
      CC_HOST: host,
      CC_WORKERS: "",
      CC_HEARTBEAT_INTERVAL: "2s",
      CC_WEB: options.web ? "on" : "off",
      ...(options.dataDir ? { CC_STORE: "sqlite", CC_DATA_DIR: options.dataDir } : { CC_STORE: "memory" }),
    }),
    { logger: logger.child({ component: "router" }) },
  );
  const port = await router.listen();
  const url = `http://${host}:${port}`;

  const workers: Worker[] = [];
  const workerUrls: string[] = [];
  const scratch = options.forOneCommand ? mkdtempSync(join(tmpdir(), "cc-embedded-")) : undefined;
  try {
    for (let i = 1; i <= (options.workers ?? 1); i++) {
      const settings = readWorkerSettings({
        ...baseEnv,
        PORT: "0",
        CC_HOST: host,
        CC_WORKER_ID: `local-${i}`,
        CC_ROUTER_URL: url,
        ...(options.claudeHome ? { CC_CLAUDE_HOME: options.claudeHome } : {}),
        ...(options.workspaceRoot ? { CC_WORKSPACE_ROOT: options.workspaceRoot } : {}),
        ...(options.maxSessionsPerWorker ? { CC_MAX_SESSIONS: String(options.maxSessionsPerWorker) } : {}),
        ...(scratch
          ? {
              CC_UPLOAD_DIR: join(scratch, `uploads-${i}`),
              CC_CHANGES_DIR: join(scratch, `changes-${i}`),
              // Not in the caller's directory (the workspace root here): a cluster for one command keeps none.
              CC_ENV_CACHE_DIR: join(scratch, `environments-${i}`),
              CC_WORKSPACE_RETAIN_AGE: "876000h",
              CC_WORKSPACE_RETAIN_BYTES: String(Number.MAX_SAFE_INTEGER),
            }
          : {}),
      });
      const worker = await createWorker(settings, { logger: logger.child({ component: "worker", workerId: settings.workerId }), env: baseEnv });
      workers.push(worker);
      const workerPort = await worker.listen();
      workerUrls.push(`http://${host}:${workerPort}`);
    }
    // Ready once every worker has registered.
    const deadline = Date.now() + 10_000;
    while (router.registry.list().length < workers.length) {
      if (Date.now() > deadline) throw new Error("local workers did not register with the local router within 10s");
      await new Promise((r) => setTimeout(r, 20));
    }
  } catch (err) {
    await Promise.all(workers.map((w) => w.shutdown(0)));
    await router.shutdown(0);
    if (scratch) rmSync(scratch, { recursive: true, force: true });
    throw err;
  }

  return {
    url,
    workerUrls,
    router,
    workers,
    async close() {
      await router.shutdown(0);
      await Promise.all(workers.map((w) => w.shutdown(0)));
      if (scratch) rmSync(scratch, { recursive: true, force: true });
    },
  };
}
