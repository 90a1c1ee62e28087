// Environments: a repository's `.claudecluster/environment.yaml` prepares each task's workspace before claude starts.
// The first task for a key runs the setup script in the task's sandbox and the worker keeps the result as a
// snapshot; later tasks start from a copy of it and run the maintenance script instead. The runner calls `prepare`
// between the clone (or unpack) and claude, and nothing else; `cc env` reads and removes snapshots through
// `list`/`remove`.
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "../../common/logger.js";
import { GitCommandError, gitCommand } from "../git-command.js";
import type { LaunchSpec, Sandbox } from "../sandbox/index.js";
import { ENVIRONMENT_FILE, EnvironmentFileError, readEnvironmentFile, type EnvironmentFile } from "./environment-file.js";
import { runScript, scriptArgv, type ScriptOutcome } from "./setup-script.js";
import { SnapshotCache, snapshotKey, type SnapshotInfo } from "./snapshot-cache.js";

export { ENVIRONMENT_FILE, EnvironmentFileError, parseEnvironmentFile, type EnvironmentFile } from "./environment-file.js";
export { SnapshotCache, snapshotKey, type SnapshotInfo } from "./snapshot-cache.js";

export interface EnvironmentsOptions {
  cacheDir: string;
  maxCount: number;
  maxBytes: number;
  /** The default and the most a file's `setup_timeout` may ask for. */
  setupTimeoutMs: number;
  sandbox: Sandbox;
  logger: Logger;
  now?: () => number;
}

export interface PrepareRequest {
  taskId: string;
  /** The fresh clone or unpacked upload. */
  workspace: string;
  /** What the snapshot is for: the repository's URL (no credentials), or "upload". */
  repository: string;
  /** Run setup even when a snapshot exists (`cc run --no-cache`). */
  noCache: boolean;
  /** RunRequest.setup_secrets. */
  secrets: Readonly<Record<string, string>>;
  signal: AbortSignal;
  /** How to run `argv` in the task's sandbox, in its workspace, with `env` added to the environment. */
  scriptSpec: (argv: string[], env: Record<string, string>) => LaunchSpec;
  /** git's environment for the worker's own git (resetting tracked files after a restore). */
  gitEnv: Record<string, string>;
  /** A new step (the phase becomes SETTING_UP) and each line a script prints. */
  step: (detail: string) => void;
  line: (text: string) => void;
}

export type Prepared =
  /** The workspace has no environment file. */
  | { kind: "none" }
  /** Ready: claude gets `env` (the file's variables). */
  | { kind: "ready"; env: Record<string, string>; snapshot: string; restored: boolean }
  /** The task must end before claude: `message` says why, `exitCode` is the script's (or -1). */
  | { kind: "failed"; message: string; exitCode: number };

export class Environments {
  readonly cache: SnapshotCache;

  constructor(private readonly o: EnvironmentsOptions) {
    this.cache = new SnapshotCache({ dir: o.cacheDir, maxCount: o.maxCount, maxBytes: o.maxBytes, ...(o.now ? { now: o.now } : {}) });
  }

  list(): SnapshotInfo[] {
    return this.cache.list();
  }

  remove(key: string): boolean {
    return this.cache.remove(key);
  }

  async prepare(r: PrepareRequest): Promise<Prepared> {
    let file: EnvironmentFile | undefined;
    try {
      file = readEnvironmentFile(r.workspace);
    } catch (err) {
      if (err instanceof EnvironmentFileError) return { kind: "failed", message: `the environment file is not valid: ${err.message}`, exitCode: -1 };
      throw err;
    }
    if (!file) return { kind: "none" };
    const missing = file.secrets.filter((name) => !(name in r.secrets));
    if (missing.length) return { kind: "failed", message: `${ENVIRONMENT_FILE} names the secret${missing.length > 1 ? "s" : ""} ${missing.join(", ")} for setup; pass ${missing.length > 1 ? "them" : "it"} with cc run --setup-secret NAME (the value comes from your environment)`, exitCode: -1 };
    const unknown = Object.keys(r.secrets).filter((name) => !file.secrets.includes(name));
    if (unknown.length) return { kind: "failed", message: `setup secret${unknown.length > 1 ? "s" : ""} ${unknown.join(", ")} ${unknown.length > 1 ? "are" : "is"} not listed under secrets in ${ENVIRONMENT_FILE}; list ${unknown.length > 1 ? "them" : "it"} there or do not pass ${unknown.length > 1 ? "them" : "it"}`, exitCode: -1 };

    const key = snapshotKey(r.repository, file.inputsHash);
    const timeoutMs = Math.min(file.setupTimeoutMs ?? this.o.setupTimeoutMs, this.o.setupTimeoutMs);
    const snapshot = r.noCache ? undefined : this.cache.get(key);
    if (snapshot) {
      r.step(`restoring snapshot ${key.slice(0, 12)} of ${ENVIRONMENT_FILE}, made by task ${snapshot.taskId}`);
      try {
        await this.cache.restore(key, r.workspace);
        // The snapshot's copies of tracked files are as they were at its setup: back to the commit just checked out.
        if (existsSync(join(r.workspace, ".git"))) {
          await gitCommand(["reset", "--hard", "--quiet", "HEAD"], { cwd: r.workspace, env: r.gitEnv, deadline: Date.now() + timeoutMs, signal: r.signal });
        }
      } catch (err) {
        if (r.signal.aborted) return { kind: "failed", message: "the task was stopped before claude started", exitCode: -1 };
        this.o.logger.error({ taskId: r.taskId, snapshot: key, err }, "restoring an environment snapshot failed");
        // A snapshot that cannot be restored over this clone would fail the next task too: it goes.
        this.cache.remove(key);
        const why = err instanceof GitCommandError ? `git reset failed: ${err.detail}` : ((err as NodeJS.ErrnoException).code ?? String(err));
        return { kind: "failed", message: `restoring snapshot ${key.slice(0, 12)} of ${ENVIRONMENT_FILE} failed (${why}); it was removed, so the next task sets up afresh`, exitCode: -1 };
      }
      if (file.maintenance) {
        r.step("running the maintenance script");
        const outcome = await this.run(file.maintenance, file.env, timeoutMs, 0, r);
        const failure = describeFailure("maintenance", outcome, timeoutMs, this.o.maxBytes);
        if (failure) {
          // A snapshot its maintenance cannot bring up to date would fail every task: the next one sets up afresh.
          this.cache.remove(key);
          return failure;
        }
      }
      this.o.logger.info({ taskId: r.taskId, snapshot: key }, "workspace restored from an environment snapshot");
      return { kind: "ready", env: file.env, snapshot: key, restored: true };
    }

    r.step(r.noCache ? "running the setup script (the cache is skipped: --no-cache)" : "running the setup script");
    const outcome = await this.run(file.setup, { ...file.env, ...r.secrets }, timeoutMs, this.o.maxBytes, r);
    const failure = describeFailure("setup", outcome, timeoutMs, this.o.maxBytes);
    if (failure) return failure;
    try {
      const kept = await this.cache.store(key, r.workspace, { repository: r.repository, ttlMs: file.ttlMs, taskId: r.taskId });
      r.step(kept ? `setup done; kept as snapshot ${key.slice(0, 12)}` : "setup done; not kept as a snapshot (CC_ENV_CACHE_COUNT is 0, or it is larger than CC_ENV_CACHE_BYTES)");
    } catch (err) {
      // The task can still run; only the next one pays for setup again.
      this.o.logger.error({ taskId: r.taskId, err }, "could not keep the environment snapshot");
      r.step("setup done; the snapshot could not be kept (see the worker's log)");
    }
    return { kind: "ready", env: file.env, snapshot: key, restored: false };
  }

  private run(script: string, env: Record<string, string>, timeoutMs: number, maxWorkspaceBytes: number, r: PrepareRequest): Promise<ScriptOutcome> {
    if (!script.trim()) return Promise.resolve({ kind: "exited", exitCode: 0, tail: [] });
    return runScript({ spec: r.scriptSpec(scriptArgv(script), env), sandbox: this.o.sandbox, timeoutMs, maxWorkspaceBytes, signal: r.signal, onLine: r.line });
  }
}

/** The task's end for a script that did not succeed; undefined when it did. */
function describeFailure(which: "setup" | "maintenance", outcome: ScriptOutcome, timeoutMs: number, maxBytes: number): Prepared | undefined {
  const tail = outcome.tail.length ? `; its last lines:\n${outcome.tail.join("\n")}` : "";
  const script = `the ${which} script of ${ENVIRONMENT_FILE}`;
  switch (outcome.kind) {
    case "exited":
      return outcome.exitCode === 0 ? undefined : { kind: "failed", message: `${script} failed with exit code ${outcome.exitCode}${tail}`, exitCode: outcome.exitCode };
    case "signal":
      return { kind: "failed", message: `${script} was killed by ${outcome.signal}${tail}`, exitCode: -1 };
    case "timeout":
      return { kind: "failed", message: `${script} timed out after ${Math.round(timeoutMs / 1000)}s (its setup_timeout, at most the worker's CC_ENV_SETUP_TIMEOUT)${tail}`, exitCode: -1 };
    case "too-large":
      return { kind: "failed", message: `${script} was stopped: the workspace grew to ${outcome.bytes} bytes, more than the worker's CC_ENV_CACHE_BYTES (${maxBytes})${tail}`, exitCode: -1 };
    case "cancelled":
      return { kind: "failed", message: "the task was stopped before claude started", exitCode: -1 };
    case "spawn":
      return { kind: "failed", message: `${script} could not be started: ${outcome.error}`, exitCode: -1 };
  }
}
