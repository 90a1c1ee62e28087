// git as cc runs it on the user's side: in their repository, with their config (identity, filters such as Git LFS,
// ignore rules), from an argument array. A failure is a CliError carrying git's own last words.
import { spawn } from "node:child_process";
import { ExitCode } from "../../exit-codes.js";
import { CliError } from "../errors.js";

export interface GitOptions {
  cwd: string;
  /** Added to cc's environment. */
  env?: Record<string, string | undefined>;
  /** Written to git's standard input. */
  input?: string;
  /** Resolve with the exit code instead of failing on a non-zero one. */
  allowFailure?: boolean;
}

export interface GitResult {
  stdout: string;
  stderr: string;
  code: number;
}

/** Largest output kept; lists of paths stay far below it. */
const MAX_OUTPUT = 64 * 1024 * 1024;

export function git(args: string[], o: GitOptions): Promise<GitResult> {
  return new Promise((resolve, reject) => {
    const child = spawn("git", args, { cwd: o.cwd, env: { ...process.env, ...o.env, GIT_TERMINAL_PROMPT: "0" }, stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let size = 0;
    child.stdout.on("data", (d: Buffer) => {
      size += d.length;
      if (size <= MAX_OUTPUT) out.push(d);
    });
    child.stderr.on("data", (d: Buffer) => err.push(d));
    child.stdin.on("error", () => {});
    child.stdin.end(o.input ?? "");
    child.once("error", (e: NodeJS.ErrnoException) => {
      reject(new CliError(e.code === "ENOENT" ? "cc needs git for this, and git is not installed (or not on PATH)" : `git could not be started: ${e.message}`, ExitCode.Usage));
    });
    child.once("close", (code) => {
      const result = { stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8"), code: code ?? 1 };
      if (result.code !== 0 && !o.allowFailure) reject(new CliError(`git ${args.find((a) => !a.startsWith("-")) ?? ""} failed: ${lastLine(result.stderr) || `exit code ${result.code}`}`, ExitCode.AgentError));
      else resolve(result);
    });
  });
}

/** git's last meaningful line, without its `fatal: ` or `error: ` prefix. */
export function lastLine(stderr: string): string {
  const lines = stderr.split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
  const fatal = [...lines].reverse().find((l) => /^(?:fatal|error): /.test(l));
  return (fatal ?? lines.at(-1) ?? "").replace(/^(?:fatal|error): /, "");
}

/** The top of the work tree `dir` is in, or undefined outside one. */
export async function workTreeTop(dir: string): Promise<string | undefined> {
  try {
    const r = await git(["rev-parse", "--show-toplevel"], { cwd: dir, allowFailure: true });
    return r.code === 0 ? r.stdout.trim() || undefined : undefined;
  } catch {
    return undefined;
  }
}
