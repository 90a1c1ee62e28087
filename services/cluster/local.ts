// A whole cluster in one process: a router and N workers on loopback, the workers registered with the router.
// `cc run` starts one when no router is configured, `cc up` runs one in the foreground, and tests use it too.
import { silentLogger, type Logger } from "../common/logger.js";
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
  /** HOME for claude; default $HOME. */
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
  const baseEnv = { ...process.env, ...options.env };
  // It lives for one command: no web UI, whose files would only slow every `cc run` down.
  const router = createRouter(
    readRouterSettings({
      ...baseEnv,
      PORT: String(options.port ?? 0),
      CC_HOST: host,
      CC_WORKERS: "",
      CC_HEARTBEAT_INTERVAL: "2s",
      CC_WEB: "off",
      ...(options.dataDir ? { CC_STORE: "sqlite", CC_DATA_DIR: options.dataDir } : { CC_STORE: "memory" }),
    }),
    { logger: logger.child({ component: "router" }) },
  );
  const port = await router.listen();
  const url = `http://${host}:${port}`;

  const workers: Worker[] = [];
  const workerUrls: string[] = [];
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
    },
  };
}
