// `cc up`: a local cluster (router and workers in this process) in the foreground until Ctrl-C.
import { listenErrorMessage } from "../../services/common/listen-error.js";
import { ExitCode } from "../exit-codes.js";
import { embeddedLogger, startLocalCluster, type LocalClusterOptions } from "./embedded.js";
import { CliError } from "./errors.js";
import { processSignals, type CommandIO, type SignalSource } from "./io.js";
import { styleFor } from "./style.js";
import { homedir } from "node:os";
import { join } from "node:path";

/** `cc up`'s task store: the per-user state directory (XDG Base Directory), apart from a standalone router's. */
export function upDataDir(env: Record<string, string | undefined>): string {
  return join(env["XDG_STATE_HOME"] || join(homedir(), ".local", "state"), "claudecluster", "up");
}

export interface UpOptions {
  workers: number;
  port: number;
  host: string;
  maxSessions?: number | undefined;
  workspaceRoot?: string | undefined;
  claudeHome?: string | undefined;
}

export async function up(io: CommandIO, o: UpOptions, signals: SignalSource = processSignals): Promise<number> {
  const logger = await embeddedLogger(io.env, "warn");
  const options: LocalClusterOptions = {
    workers: o.workers,
    // Task records and logs outlive the cluster: started again, it lists them (CC_DATA_DIR to keep them elsewhere).
    dataDir: io.env["CC_DATA_DIR"] || upDataDir(io.env),
    port: o.port,
    host: o.host,
    logger,
    web: true,
    ...(o.maxSessions !== undefined ? { maxSessionsPerWorker: o.maxSessions } : {}),
    ...(o.workspaceRoot !== undefined ? { workspaceRoot: o.workspaceRoot } : {}),
    ...(o.claudeHome !== undefined ? { claudeHome: o.claudeHome } : {}),
  };
  let cluster;
  try {
    cluster = await startLocalCluster(options);
  } catch (err) {
    if ((err as Error).name === "StoreUnavailable") {
      throw new CliError(`the cluster's task store: ${(err as Error).message}`, ExitCode.AgentError);
    }
    if ((err as NodeJS.ErrnoException).code === "EADDRINUSE") {
      throw new CliError(`port ${o.port} on ${o.host} is in use — pick another with --port, or is a cluster already up? (\`cc workers --router http://${o.host}:${o.port}\`)`, ExitCode.AgentError);
    }
    const message = listenErrorMessage(err, o.host, o.port, { port: "--port", host: "--host" });
    if (message) throw new CliError(message, ExitCode.AgentError);
    throw err;
  }
  const s = styleFor(io.stdout, io.env);
  const lines = [
    `${s.bold("router")}    ${cluster.url}`,
    ...(cluster.router.servesWebUi ? [`${s.bold("web UI")}    ${cluster.url}/`] : []),
    ...cluster.workerUrls.map((u, i) => `${s.bold(`worker ${i + 1}`)}  ${u}`),
    "",
    "Use it from another terminal:",
    `  export CC_ROUTER_URL=${cluster.url}`,
    `  ${s.dim(`or save it: cc config set local --router ${cluster.url}`)}`,
    "",
    s.dim("Ctrl-C stops the cluster."),
  ];
  io.stdout.write(lines.join("\n") + "\n");

  await new Promise<void>((resolve) => {
    const stop = () => {
      signals.off("SIGINT", stop);
      signals.off("SIGTERM", stop);
      resolve();
    };
    signals.on("SIGINT", stop);
    signals.on("SIGTERM", stop);
  });
  io.stdout.write("\nstopping the cluster…\n");
  await cluster.close();
  io.stdout.write("stopped\n");
  return ExitCode.Ok;
}
