// What a launcher asks the sandbox to run: a command, where, with what environment, and which paths it may see.
// The sandbox turns it into the argv to spawn; with no sandbox it is spawned as it is.

/** A unix socket outside, reachable inside an isolated network as TCP 127.0.0.1:<port>. */
export interface Bridge {
  port: number;
  socket: string;
}

export interface LaunchSpec {
  /** The command and its arguments. */
  argv: string[];
  cwd: string;
  env: Record<string, string>;
  /** Read-write, at the same path inside: the task's workspace. */
  workspace: string;
  /** Read-write, at the same path inside: the task's private HOME (git's throwaway one for a clone). */
  home: string;
  /** Read-only, at the same path inside: files or directories the command needs (claude's binary, per-task files). */
  readOnly?: string[];
  /** Read-write, at the same path inside: more directories the command works in (a task's `agent.add_dirs`). */
  readWrite?: string[];
  /**
   * `host`: the worker's network. `isolated`: a network namespace of the task's own with only loopback, where
   * `bridges` are the only way out.
   */
  network: "host" | "isolated";
  bridges?: Bridge[];
  /** A session of its own (pipes: headless claude, git). False under a terminal, whose session claude must lead. */
  newSession: boolean;
}

/** What to spawn. */
export interface SandboxCommand {
  file: string;
  args: string[];
  cwd: string;
  env: Record<string, string>;
}

export type SandboxKind = "bwrap" | "none";
