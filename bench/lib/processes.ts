// Child processes for the benchmarks: long-running services (router, workers, the scripted model) that say when
// they listen, and one-shot commands timed from spawn to exit. The services run as their own processes, never in
// the harness's event loop, so what is measured is what a deployment runs and their RSS is theirs alone.
import { spawn, type ChildProcess } from "node:child_process";
import { performance } from "node:perf_hooks";
import { createInterface } from "node:readline";

const KEEP_LOG_LINES = 200;

export interface Service {
  readonly name: string;
  readonly url: string;
  readonly pid: number;
  readonly child: ChildProcess;
  /** The last lines it printed (stdout and stderr), for error messages. */
  recentLogs(): string[];
  /** SIGTERM, then SIGKILL if it has not exited within `graceMs`. Resolves once it is gone. */
  stop(graceMs?: number): Promise<void>;
}

export interface ServiceOptions {
  name: string;
  /** A node script (run with this node) and its arguments. */
  script: string;
  args?: string[];
  env: Record<string, string | undefined>;
  /** Returns the service's URL when `line` says it is listening. */
  ready: (line: string) => string | undefined;
  timeoutMs?: number;
}

export function startService(options: ServiceOptions): Promise<Service> {
  const child = spawn(process.execPath, [options.script, ...(options.args ?? [])], { env: options.env, stdio: ["ignore", "pipe", "pipe"] });
  const logs: string[] = [];
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const keep = (line: string) => {
    logs.push(line);
    if (logs.length > KEEP_LOG_LINES) logs.shift();
  };
  const stop = async (graceMs = 15_000): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    await exited;
    clearTimeout(timer);
  };
  return new Promise<Service>((resolve, reject) => {
    const fail = (why: string) => {
      void stop(0);
      reject(new Error(`${options.name} ${why}:\n${logs.slice(-20).join("\n")}`));
    };
    const timer = setTimeout(() => fail("did not start in time"), options.timeoutMs ?? 30_000);
    const onLine = (line: string) => {
      keep(line);
      const url = options.ready(line);
      if (url === undefined) return;
      clearTimeout(timer);
      child.off("exit", onEarlyExit);
      resolve({ name: options.name, url, pid: child.pid!, child, recentLogs: () => [...logs], stop });
    };
    const onEarlyExit = () => {
      clearTimeout(timer);
      fail("exited before it was ready");
    };
    child.once("exit", onEarlyExit);
    child.once("error", (err) => fail(`could not start (${err.message})`));
    createInterface({ input: child.stdout! }).on("line", onLine);
    createInterface({ input: child.stderr! }).on("line", keep);
  });
}

/** pino's "listening" line of a router or worker started with PORT=0. */
export function listeningLine(kind: "router" | "worker"): (line: string) => string | undefined {
  const pattern = new RegExp(`"port":(\\d+).*"${kind} listening"`);
  return (line) => {
    const m = pattern.exec(line);
    return m ? `http://127.0.0.1:${m[1]}` : undefined;
  };
}

export interface TimedRun {
  /** Wall time from spawn() to the process's exit, in milliseconds. */
  ms: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion, timing it from spawn to exit. Output is collected, not shown. */
export function timedRun(cmd: string, args: string[], options: { env: Record<string, string | undefined>; cwd?: string; timeoutMs?: number }): Promise<TimedRun> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(cmd, args, { env: options.env, cwd: options.cwd, stdio: ["ignore", "pipe", "pipe"] });
    let ms = Number.NaN;
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 120_000);
    child.once("exit", () => (ms = performance.now() - started));
    child.once("error", (err) => {
      clearTimeout(timer);
      reject(new Error(`${cmd} could not start: ${err.message}`));
    });
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ ms, code, signal, stdout, stderr });
    });
  });
}

/** Throws with the command's output when it did not exit 0. */
export function expectSuccess(what: string, run: TimedRun): TimedRun {
  if (run.code !== 0) {
    const out = (run.stderr || run.stdout).trim().split("\n").slice(-10).join("\n");
    throw new Error(`${what} exited ${run.code ?? run.signal}:\n${out}`);
  }
  return run;
}
