// One git command run by the worker itself (unpacking an upload, recording a task's changes, pushing), outside any
// sandbox: from an argument array, never a shell; with no system or global config and a throwaway HOME; with the
// settings that make git run other programs turned off; under a deadline; killed with everything it started when its
// signal aborts. Its output is bounded in memory, or goes to a file.
import { spawn } from "node:child_process";
import { createWriteStream } from "node:fs";
import { Code, ConnectError } from "../common/errors.js";
import { StderrTail } from "./repo-clone.js";

/**
 * `-c` settings for every command. A workspace's `.git/config` is claude's to write, and the worker's own git runs
 * outside the sandbox, so nothing there may start a program: no hooks, no fsmonitor, no signing, no automatic gc or
 * maintenance, no alternate-refs command. (Recording changes goes further and reads the workspace through a git
 * directory of the worker's own: services/worker/changes/recorder.ts.)
 */
export const HARDENED_CONFIG = [
  "core.hooksPath=/dev/null",
  "core.fsmonitor=false",
  "core.alternateRefsCommand=",
  "commit.gpgSign=false",
  "tag.gpgSign=false",
  "gc.auto=0",
  "maintenance.auto=false",
  "advice.detachedHead=false",
  "core.quotePath=false",
].flatMap((c) => ["-c", c]);

export interface GitCommandOptions {
  /** Working directory (default: the worker's). */
  cwd?: string;
  /** The whole environment of git (see gitEnv in repo-clone.ts). */
  env: Record<string, string>;
  signal?: AbortSignal;
  /** Epoch ms by which the command must be done. */
  deadline: number;
  /** Written to git's standard input. */
  stdin?: string;
  /** Standard output goes to this file instead of memory. */
  stdoutFile?: string;
  /** Standard output kept in memory, at most (default 4 MiB); more is an error. */
  maxStdout?: number;
  gitBin?: string;
}

/** A git command that failed, timed out or was cancelled; `detail` is git's own last error line. */
export class GitCommandError extends Error {
  constructor(
    readonly kind: "exit" | "timeout" | "cancelled" | "spawn" | "output",
    readonly detail: string,
    readonly exitCode: number | null = null,
    /** What git printed on standard output before it failed (bounded). */
    readonly stdout = "",
  ) {
    super(detail);
  }

  /** The Connect code for a failure of this kind. */
  get code(): Code {
    return { exit: Code.FailedPrecondition, spawn: Code.FailedPrecondition, output: Code.ResourceExhausted, timeout: Code.DeadlineExceeded, cancelled: Code.Canceled }[this.kind];
  }

  toConnectError(what: string): ConnectError {
    const text = this.kind === "timeout" ? `${what} timed out` : this.kind === "cancelled" ? `${what} was cancelled` : `${what} failed: ${this.detail}`;
    return new ConnectError(text, this.code);
  }
}

/**
 * Runs `git <args>` and resolves with its standard output (empty when it went to a file). git leads a process group
 * of its own, so a timeout or an abort kills it and every helper it started at once.
 */
export function gitCommand(args: string[], o: GitCommandOptions): Promise<string> {
  return new Promise((resolve, reject) => {
    if (o.signal?.aborted) return reject(new GitCommandError("cancelled", ""));
    const child = spawn(o.gitBin ?? "git", [...HARDENED_CONFIG, ...args], {
      cwd: o.cwd,
      env: o.env,
      detached: true,
      stdio: [o.stdin !== undefined ? "pipe" : "ignore", "pipe", "pipe"],
    });
    const stderr = new StderrTail(() => {});
    const maxStdout = o.maxStdout ?? 4 * 1024 * 1024;
    const chunks: Buffer[] = [];
    let stdoutBytes = 0;
    let failure: GitCommandError | undefined;
    let settled = false;
    const file = o.stdoutFile ? createWriteStream(o.stdoutFile, { flags: "wx" }) : undefined;
    let fileDone: Promise<void> = Promise.resolve();
    const kill = (why: GitCommandError) => {
      failure ??= why;
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {
        // ESRCH: already gone.
      }
    };
    const onAbort = () => kill(new GitCommandError("cancelled", ""));
    o.signal?.addEventListener("abort", onAbort, { once: true });
    const timer = setTimeout(() => kill(new GitCommandError("timeout", "")), Math.max(0, o.deadline - Date.now()));
    const settle = (outcome: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      o.signal?.removeEventListener("abort", onAbort);
      outcome();
    };
    if (file) {
      child.stdout!.pipe(file);
      fileDone = new Promise((res, rej) => {
        file.once("finish", () => res());
        file.once("error", rej);
      });
    } else {
      child.stdout!.on("data", (chunk: Buffer) => {
        stdoutBytes += chunk.length;
        if (stdoutBytes > maxStdout) kill(new GitCommandError("output", `git ${subcommand(args)} printed more than ${maxStdout} bytes`));
        else chunks.push(chunk);
      });
    }
    child.stderr!.setEncoding("utf8").on("data", (chunk: string) => stderr.push(chunk));
    if (o.stdin !== undefined) {
      child.stdin!.on("error", () => {});
      child.stdin!.end(o.stdin);
    }
    child.once("error", (err: NodeJS.ErrnoException) => {
      const detail = err.code === "ENOENT" ? "git is not installed on this worker" : `git could not be started (${err.code ?? err.message})`;
      settle(() => reject(new GitCommandError("spawn", detail)));
    });
    child.once("close", (code, signal) => {
      stderr.end();
      fileDone.then(
        () =>
          settle(() => {
            if (failure) reject(failure);
            else if (code === 0) resolve(Buffer.concat(chunks).toString("utf8"));
            else {
              const detail = stderr.lastError() || `git ${subcommand(args)} exited with ${code === null ? signal : `code ${code}`}`;
              reject(new GitCommandError("exit", detail, code, Buffer.concat(chunks).toString("utf8")));
            }
          }),
        (err: unknown) => settle(() => reject(err)),
      );
    });
  });
}

/** The subcommand of an argument list (the first argument that is not a `-c` pair or an option). */
function subcommand(args: string[]): string {
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "-c") i++;
    else if (!args[i]!.startsWith("-")) return args[i]!;
  }
  return "";
}
