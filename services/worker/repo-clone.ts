// Cloning a task's repository into its fresh workspace, before claude starts. git runs from an argument array (never
// a shell) with every request value after `--` or glued to its option; with a throwaway HOME and no system or global
// config; with only the https and ssh transports allowed (the request was validated to those already: this is the
// second lock); with no hooks and no prompts; under a deadline; and killed, with everything it started, when the
// task is cancelled.
//
// How a ref is fetched:
// - none: `git clone --depth=1 --no-tags` of the remote's default branch;
// - a branch or tag name: the same with `--branch=<ref>` (a branch is checked out as a local branch, a tag detached);
// - a full commit id (40 or 64 hex digits) or a full ref name (`refs/...`), which `clone --branch` cannot take:
//   `git init`, `git remote add -- origin <url>`, `git fetch --depth=1 --no-tags -- origin <ref>` and
//   `git checkout --detach FETCH_HEAD`. Servers must allow fetching a commit by id (GitHub, GitLab and Gitea do);
//   an abbreviated id is taken for a branch name and fails as "Remote branch ... not found".
//
// A token never appears in argv, in the URL, in logs or in events: it is in the environment of git alone, and a
// credential helper scoped to the URL's scheme and host prints it when git asks (after the server answered 401).
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, ConnectError } from "../common/errors.js";
import type { SandboxCommand } from "./sandbox/index.js";

export interface RepositorySpec {
  /** A URL accepted by validateRepositoryUrl: https://, ssh:// or scp-like, without credentials. */
  url: string;
  /** Empty, a branch or tag name, a full commit id or a full ref name. */
  ref: string;
  /** An access token for https, or empty. */
  token: string;
}

export interface CloneOptions {
  /** The task's fresh, empty workspace; the repository's work tree ends up directly in it. */
  dir: string;
  /** The worker's environment: only proxy, CA and ssh-agent variables are taken from it. */
  env: NodeJS.ProcessEnv;
  /** Variables git and everything it starts should carry. */
  extraEnv?: Record<string, string>;
  /** The whole clone, every git command of it, must finish within this. */
  timeoutMs: number;
  /** Aborting kills git and fails the clone as cancelled. */
  signal: AbortSignal;
  /** git's progress lines (`Receiving objects:  45% (9/20)`), at most one per `progressIntervalMs`. */
  onProgress?: (line: string) => void;
  progressIntervalMs?: number;
  now?: () => number;
  /** The git binary; default `git` from PATH. */
  gitBin?: string;
  /** How each git command is run: in the task's sandbox (with only the workspace and git's HOME), or as it is. */
  command?: (argv: string[], cwd: string, env: Record<string, string>) => SandboxCommand;
}

export interface CloneResult {
  /** The commit checked out (full id); empty for an empty repository. */
  commit: string;
}

/** The environment variable the credential helper reads the token from. */
export const TOKEN_ENV = "CC_GIT_TOKEN";
export const DEFAULT_PROGRESS_INTERVAL_MS = 500;

/** Answers git's `get` with the token; `store` and `erase` are ignored. printf, not echo: dash's echo expands `\`. */
const CREDENTIAL_HELPER = `!f() { test "$1" = get || return 0; printf '%s\\n' username=x-access-token "password=$${TOKEN_ENV}"; }; f`;
const SSH_COMMAND = "ssh -o BatchMode=yes -o StrictHostKeyChecking=accept-new";
/** Taken from the worker's environment: how to reach and trust the server, nothing else. */
const PASSED_ENV = [
  "PATH", "TMPDIR",
  "HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy",
  "GIT_SSL_CAINFO", "GIT_SSL_CAPATH", "SSL_CERT_FILE", "SSL_CERT_DIR",
  "SSH_AUTH_SOCK",
];
const FULL_COMMIT = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;
const PROGRESS = /^(?:remote: )?(?:Enumerating objects|Counting objects|Compressing objects|Receiving objects|Resolving deltas|Updating files):/;
const MAX_LINE_CHARS = 500;

/** Options before the subcommand, for every git command of a clone. */
export function gitConfigArgs(url: string, withToken: boolean): string[] {
  const config = [
    // Only https and ssh, whatever the URL says (GIT_ALLOW_PROTOCOL in the environment says the same).
    "protocol.allow=never",
    "protocol.https.allow=always",
    "protocol.ssh.allow=always",
    // No hooks from anywhere (a template directory, say).
    "core.hooksPath=/dev/null",
    "advice.detachedHead=false",
    // No credential helpers but ours.
    "credential.helper=",
  ];
  if (withToken) config.push(`credential.${credentialScope(url)}.helper=${CREDENTIAL_HELPER}`);
  return config.flatMap((c) => ["-c", c]);
}

/** `https://host[:port]`: git hands the token to this origin only, not to one a redirect leads to. */
function credentialScope(url: string): string {
  const u = new URL(url);
  return `${u.protocol}//${u.host}`;
}

/** The environment of every git command of a clone. */
export function gitEnv(source: NodeJS.ProcessEnv, options: { home: string; token: string; extra?: Record<string, string> }): Record<string, string> {
  const env: Record<string, string> = {};
  for (const key of PASSED_ENV) {
    const value = source[key];
    if (value !== undefined) env[key] = value;
  }
  env["PATH"] ??= "/usr/local/bin:/usr/bin:/bin";
  Object.assign(env, {
    HOME: options.home,
    XDG_CONFIG_HOME: join(options.home, ".config"),
    GIT_CONFIG_NOSYSTEM: "1",
    GIT_CONFIG_GLOBAL: "/dev/null",
    GIT_TERMINAL_PROMPT: "0",
    GIT_ALLOW_PROTOCOL: "https:ssh",
    GIT_SSH_COMMAND: SSH_COMMAND,
    // git's messages in English, so the last line of a failure reads the same everywhere.
    LC_ALL: "C",
    ...options.extra,
  });
  if (options.token) env[TOKEN_ENV] = options.token;
  return env;
}

/** The git commands (after the config options) that clone `spec` into the current directory. */
export function cloneCommands(spec: Pick<RepositorySpec, "url" | "ref">): string[][] {
  const { url, ref } = spec;
  if (FULL_COMMIT.test(ref) || ref.startsWith("refs/")) {
    return [
      ["init", "--quiet"],
      ["remote", "add", "--", "origin", url],
      ["fetch", "--depth=1", "--no-tags", "--progress", "--", "origin", ref],
      ["checkout", "--quiet", "--detach", "FETCH_HEAD"],
    ];
  }
  return [["clone", "--depth=1", "--no-tags", "--progress", ...(ref ? [`--branch=${ref}`] : []), "--", url, "."]];
}

/** How a repository is named in status events and errors: the URL (validated to carry no credentials) and the ref. */
export function describeRepository(spec: Pick<RepositorySpec, "url" | "ref">): string {
  return spec.ref ? `${spec.url} at ${spec.ref}` : spec.url;
}

/**
 * Clones `spec` into `options.dir`. Fails with a ConnectError whose message is `cloning <url> [at <ref>] failed:
 * <git's last error line>` (FAILED_PRECONDITION), `... timed out ...` (DEADLINE_EXCEEDED) or `... cancelled`
 * (CANCELED). No git process is left running when it settles. The caller removes the directory on failure.
 */
export async function cloneRepository(spec: RepositorySpec, options: CloneOptions): Promise<CloneResult> {
  const now = options.now ?? Date.now;
  const interval = options.progressIntervalMs ?? DEFAULT_PROGRESS_INTERVAL_MS;
  let lastProgressAt = -Infinity;
  const onProgress = (line: string) => {
    const t = now();
    if (t - lastProgressAt < interval) return;
    lastProgressAt = t;
    options.onProgress?.(line);
  };
  const home = mkdtempSync(join(tmpdir(), "cc-git-home-"));
  const run: RunGitOptions = {
    bin: options.gitBin ?? "git",
    command: options.command ?? ((argv, cwd, env) => ({ file: argv[0]!, args: argv.slice(1), cwd, env })),
    cwd: options.dir,
    env: gitEnv(options.env, { home, token: spec.token, extra: options.extraEnv }),
    signal: options.signal,
    deadline: now() + options.timeoutMs,
    now,
    onProgress,
  };
  const config = gitConfigArgs(spec.url, spec.token !== "");
  const fail = (failure: GitFailure): ConnectError => {
    const message = `cloning ${describeRepository(spec)} ${failure.describe(options.timeoutMs)}`;
    return new ConnectError(scrub(message, spec.token), failure.code);
  };
  try {
    for (const command of cloneCommands(spec)) await runGit([...config, ...command], run);
    const head = await runGit([...config, "rev-parse", "--verify", "--quiet", "HEAD"], run).catch((err: unknown) => {
      // An empty repository clones fine and has no HEAD commit.
      if (err instanceof GitFailure && err.kind === "exit") return "";
      throw err;
    });
    return { commit: head.trim() };
  } catch (err) {
    if (err instanceof GitFailure) throw fail(err);
    throw err;
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}

/**
 * Removes every occurrence of the token, the user part of http(s) URLs and any password in a URL from text bound for
 * a user or a log. An ssh user name (`ssh://git@host`) stays: it is no secret.
 */
export function scrub(text: string, token: string): string {
  const out = token ? text.split(token).join("***") : text;
  return out.replace(/(https?:\/\/)[^/@\s]*@/gi, "$1").replace(/([a-z][a-z0-9+.-]*:\/\/[^/:@\s]*):[^/@\s]*@/gi, "$1@");
}

interface RunGitOptions {
  bin: string;
  command: NonNullable<CloneOptions["command"]>;
  cwd: string;
  env: Record<string, string>;
  signal: AbortSignal;
  /** Epoch ms by which the command must be done. */
  deadline: number;
  now: () => number;
  onProgress: (line: string) => void;
}

type FailureKind = "exit" | "timeout" | "cancelled" | "spawn";

class GitFailure extends Error {
  constructor(
    readonly kind: FailureKind,
    readonly detail: string,
  ) {
    super(detail);
  }

  get code(): Code {
    return { exit: Code.FailedPrecondition, spawn: Code.FailedPrecondition, timeout: Code.DeadlineExceeded, cancelled: Code.Canceled }[this.kind];
  }

  describe(timeoutMs: number): string {
    switch (this.kind) {
      case "timeout":
        return `timed out after ${timeoutMs % 1000 === 0 ? `${timeoutMs / 1000}s` : `${timeoutMs}ms`} (CC_CLONE_TIMEOUT)`;
      case "cancelled":
        return "cancelled";
      default:
        return `failed: ${this.detail}`;
    }
  }
}

/**
 * One git command. git leads a process group of its own (`detached`), so that on cancel or timeout SIGKILL reaches
 * it and every helper it started (git-remote-https, index-pack, ssh) at once: a clone is thrown away, so there is
 * nothing to wind down gracefully. Settles after git's pipes closed. Resolves with its stdout (bounded).
 */
function runGit(args: string[], o: RunGitOptions): Promise<string> {
  return new Promise((resolve, reject) => {
    if (o.signal.aborted) return reject(new GitFailure("cancelled", ""));
    const command = o.command([o.bin, ...args], o.cwd, o.env);
    const child = spawn(command.file, command.args, { cwd: command.cwd, env: command.env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    const stderr = new StderrTail(o.onProgress);
    let stdout = "";
    let stopped: "timeout" | "cancelled" | undefined;
    let settled = false;
    const kill = (why: "timeout" | "cancelled") => {
      stopped ??= why;
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {
        // ESRCH: already gone.
      }
    };
    const onAbort = () => kill("cancelled");
    o.signal.addEventListener("abort", onAbort, { once: true });
    const timer = setTimeout(() => kill("timeout"), Math.max(0, o.deadline - o.now()));
    const settle = (outcome: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      o.signal.removeEventListener("abort", onAbort);
      outcome();
    };
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      if (stdout.length < 4096) stdout += chunk;
    });
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => stderr.push(chunk));
    child.once("error", (err: NodeJS.ErrnoException) => {
      const detail = err.code === "ENOENT" ? `git is not installed on this worker (${o.bin} not found)` : `git could not be started (${err.code ?? err.message})`;
      settle(() => reject(new GitFailure("spawn", detail)));
    });
    child.once("close", (code, signal) => {
      stderr.end();
      settle(() => {
        if (stopped) reject(new GitFailure(stopped, ""));
        else if (code === 0) resolve(stdout);
        else reject(new GitFailure("exit", stderr.lastError() || `git ${subcommand(args)} exited with ${code === null ? signal : `code ${code}`}`));
      });
    });
  });
}

/** The subcommand of a git argument list (the first argument that is not a `-c` pair). */
function subcommand(args: string[]): string {
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "-c") i++;
    else return args[i]!;
  }
  return "";
}

/**
 * git's stderr, line by line (progress lines end in `\r`), holding at most one unfinished line of bounded length:
 * progress lines go to `onProgress`, and the last `fatal:`/`error:` line (or the last line) is kept for the failure.
 */
export class StderrTail {
  private partial = "";
  private last = "";
  private lastFatal = "";
  /** The line before the last fatal one: ssh's own reason, when git only says it could not read from the remote. */
  private beforeFatal = "";

  constructor(private readonly onProgress: (line: string) => void) {}

  push(chunk: string): void {
    const parts = (this.partial + chunk).split(/[\r\n]/);
    this.partial = parts.pop()!.slice(-MAX_LINE_CHARS * 4);
    for (const part of parts) this.line(part);
  }

  end(): void {
    if (this.partial) this.line(this.partial);
    this.partial = "";
  }

  /** The line that best says why git failed, without its `fatal: ` prefix. */
  lastError(): string {
    if (/^fatal: Could not read from remote repository/.test(this.lastFatal) && this.beforeFatal) return this.beforeFatal;
    return (this.lastFatal || this.last).replace(/^(?:fatal|error): /, "");
  }

  private line(raw: string): void {
    // Server-sent text (`remote: ...`) may carry escapes; none of it reaches a client as is.
    const line = raw.replace(/[\u0000-\u001f\u007f-\u009f]/g, "").replace(/\s+/g, " ").trim().slice(0, MAX_LINE_CHARS);
    if (line === "") return;
    if (PROGRESS.test(line)) {
      this.onProgress(line);
      return;
    }
    if (line.startsWith("Cloning into ")) return;
    if (/^(?:fatal|error): /.test(line)) {
      this.beforeFatal = this.last;
      this.lastFatal = line;
    }
    this.last = line;
  }
}
