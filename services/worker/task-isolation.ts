// Everything that keeps one task (or warm process) apart, put together: its private HOME, its placeholder key for
// the credential proxy, its egress proxy, its hook-event channel, and the launch specs that run claude (and git)
// in its sandbox with only those. The runner asks for a TaskEnvironment per task and disposes of it when the task
// ends; the launchers get launch specs from it.
//
// A task's network is its own (a namespace with only loopback, bridged to the worker's proxies over unix sockets)
// unless its egress policy is open or the sandbox cannot isolate networks; then it shares the worker's network and
// reaches the proxies on the worker's loopback, where its token (API) and its claude process (hooks) identify it.
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, isAbsolute, join } from "node:path";
import { realpathSync } from "node:fs";
import type { ConnectionBlocked } from "../../gen/claudecluster/v1/run_pb.js";
import type { Logger } from "../common/logger.js";
import { claudeEnv } from "./claude-env.js";
import { clientSockets, commandLine, socketHolders } from "./connection-owner.js";
import type { CredentialProxy } from "./credential-proxy/index.js";
import { EgressProxy, type BlockedConnection, type EgressPolicy } from "./egress/index.js";
import { hookSettingsJson, type HookConnection, type HookEvent, type HookEvents } from "./hook-events.js";
import { sandboxedCommand, TASK_ID_ENV, taskProcesses } from "./process-tree.js";
import type { Secrets } from "./redact.js";
import { BRIDGE_PORTS, type LaunchSpec, type Sandbox } from "./sandbox/index.js";
import { createRuntimeDir } from "./runtime-dir.js";
import type { TaskHomes } from "./task-home/index.js";

/** Variables that carry the model API credential or its location: the credential proxy stands in for them. */
const CREDENTIAL_ENV = ["ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN", "ANTHROPIC_BASE_URL", "ANTHROPIC_CUSTOM_HEADERS", "CLAUDE_CONFIG_DIR"];
const PROXY_ENV = ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"];
const LOCAL = "localhost,127.0.0.1,::1";
/** Variables naming files claude needs to read (certificates it is told to trust; Vertex's credentials file). */
const CLAUDE_FILE_ENV = ["NODE_EXTRA_CA_CERTS", "SSL_CERT_FILE", "SSL_CERT_DIR", "GOOGLE_APPLICATION_CREDENTIALS"];
/** Variables naming files git needs for a clone: certificates, and the ssh agent's socket. */
const GIT_FILE_ENV = ["GIT_SSL_CAINFO", "GIT_SSL_CAPATH", "SSL_CERT_FILE", "SSL_CERT_DIR", "SSH_AUTH_SOCK"];
const MAX_COMMAND_CHARS = 200;
/** The name of a task's private copy of its `agent.mcp_config_json` (writePrivateFile), passed to claude's --mcp-config. */
export const MCP_CONFIG_FILE = "mcp-config.json";

export interface IsolationDeps {
  sandbox: Sandbox;
  homes: TaskHomes;
  credentialProxy: CredentialProxy;
  hooks: HookEvents;
  secrets: Secrets;
  /** The worker's environment, claude's allowlisted variables are taken from. */
  env: NodeJS.ProcessEnv;
  /** claude's binary: its directory is bound read-only into every sandbox. */
  claudeBin: string;
  logger: Logger;
}

/** Where a task's blocked connections and hook events go: its task run, once there is one. */
export interface TaskEnvironmentSink {
  blocked(event: ConnectionBlocked | Omit<ConnectionBlocked, "$typeName">): void;
}

export interface TaskEnvironmentOptions {
  workspace: string;
  egress: EgressPolicy;
  resumeSessionId?: string;
  /** The transcript of that session, sent with the task (RunRequest.resume_transcript). */
  resumeTranscript?: Uint8Array;
}

export class Isolation {
  /**
   * Per-task sockets and private files: a short path under the system's temporary directory (unix socket paths are
   * limited to 108 bytes), swept at the next start if the worker dies first (runtime-dir.ts).
   */
  private readonly runtimeDir = createRuntimeDir();
  private next = 0;
  private blockedCount = 0;
  private readonly claudeDir: string;

  constructor(private readonly deps: IsolationDeps) {
    this.claudeDir = claudeDirectory(deps.claudeBin);
  }

  get sandbox(): Sandbox {
    return this.deps.sandbox;
  }

  /** The worker's environment (git's allowlisted variables come from it). */
  get env(): NodeJS.ProcessEnv {
    return this.deps.env;
  }

  /** Connections refused by egress policies since the worker started. */
  get blockedConnections(): number {
    return this.blockedCount;
  }

  /** Whether a task with this policy gets a network namespace of its own. */
  isolates(egress: EgressPolicy): boolean {
    return egress.mode !== "open" && this.deps.sandbox.isolatesNetwork;
  }

  prepare(tag: string, options: TaskEnvironmentOptions): TaskEnvironment {
    const dir = join(this.runtimeDir, String(++this.next));
    mkdirSync(dir, { mode: 0o700 });
    return new TaskEnvironment(tag, dir, options, this.deps, this.claudeDir, this.isolates(options.egress), () => this.blockedCount++);
  }

  /**
   * Writes a file of the worker's that every sandbox it is bound into may read (0600, in the worker's private
   * runtime directory, outside the workspace root), e.g. the warm pool's --mcp-config; removed at close.
   */
  writeWorkerFile(name: string, content: string): string {
    if (!/^[\w.-]+$/.test(name) || name.endsWith(".sock")) throw new Error(`not a worker file name: ${name}`);
    const path = join(this.runtimeDir, name);
    writeFileSync(path, content, { mode: 0o600 });
    return path;
  }

  close(): void {
    rmSync(this.runtimeDir, { recursive: true, force: true });
    this.deps.sandbox.close();
  }
}

/** The existing absolute paths the variables `keys` of `env` name (a list may be colon-separated, as SSL_CERT_DIR's). */
function namedPaths(env: NodeJS.ProcessEnv, keys: string[]): string[] {
  const paths = keys.flatMap((key) => (env[key] ?? "").split(":")).filter((p) => isAbsolute(p) && existsSync(p));
  return [...new Set(paths)];
}

/** The directory claude's binary lives in (through symlinks), bound read-only into sandboxes. */
function claudeDirectory(bin: string): string {
  try {
    return dirname(realpathSync(bin));
  } catch {
    return dirname(bin);
  }
}

export class TaskEnvironment {
  readonly home: string;
  /** The key claude presents to the credential proxy. */
  readonly apiKey: string;
  private readonly egressProxy: EgressProxy | undefined;
  private sink: TaskEnvironmentSink | undefined;
  private hookListener: ((event: HookEvent) => void) | undefined;
  private leaderPid: number | undefined;
  private disposed = false;

  constructor(
    readonly tag: string,
    private readonly dir: string,
    private readonly options: TaskEnvironmentOptions,
    private readonly deps: IsolationDeps,
    private readonly claudeDir: string,
    /** A network namespace of its own, bridged to the proxies. */
    readonly isolated: boolean,
    private readonly countBlocked: () => void,
  ) {
    const { credentialProxy, hooks, homes, logger } = deps;
    this.apiKey = credentialProxy.grant(tag);
    try {
      this.home = homes.create(tag, { workspace: options.workspace, apiKey: this.apiKey, ...(options.resumeSessionId ? { resumeSessionId: options.resumeSessionId } : {}), ...(options.resumeTranscript ? { resumeTranscript: options.resumeTranscript } : {}) });
      hooks.open(tag, { onEvent: (event) => this.hookListener?.(event), fromClaude: (c) => this.fromClaude(c) });
      if (isolated) {
        credentialProxy.listenForTask(tag, this.socket("api"));
        hooks.listenForTask(tag, this.socket("hooks"));
        this.egressProxy = new EgressProxy({ policy: options.egress, onBlocked: (b) => this.onBlocked(b), logger });
        this.egressProxy.listen(this.socket("egress"));
      }
    } catch (err) {
      this.dispose();
      throw err;
    }
  }

  get egress(): EgressPolicy {
    return this.options.egress;
  }

  /** From now on, blocked connections are reported to `sink`. */
  bind(sink: TaskEnvironmentSink): void {
    this.sink = sink;
  }

  /** Hook events of this task's claude (interactive). */
  onHookEvent(listener: (event: HookEvent) => void): void {
    this.hookListener = listener;
  }

  /** The process the worker started (bwrap, or claude unsandboxed): how claude itself and its processes are found. */
  setLeader(pid: number | undefined): void {
    this.leaderPid = pid;
  }

  /**
   * Writes a file only the worker and this task may read (0600, in the task's private directory outside the
   * workspace), e.g. claude's --mcp-config; pass its path in `claudeSpec`'s `readOnly` to bind it into the sandbox.
   */
  writePrivateFile(name: string, content: string): string {
    if (!/^[\w.-]+$/.test(name) || name.endsWith(".sock")) throw new Error(`not a private file name: ${name}`);
    const path = join(this.dir, name);
    writeFileSync(path, content, { mode: 0o600 });
    return path;
  }

  /** The `--settings` JSON installing the hooks that report interactive turns to this task's channel. */
  hookSettings(): string {
    return hookSettingsJson(this.deps.hooks.url(this.tag, this.isolated ? BRIDGE_PORTS.hooks : undefined));
  }

  /**
   * How to run claude (`argv`) for this task. `readOnly`: more paths it needs to read (per-task files); `readWrite`:
   * more directories it works in (`agent.add_dirs`); `taskEnv`: the task's own variables (RunRequest.env).
   */
  claudeSpec(argv: string[], options: { term?: string; readOnly?: string[]; readWrite?: string[]; taskEnv?: Readonly<Record<string, string>>; newSession: boolean }): LaunchSpec {
    const { sandbox, env, credentialProxy } = this.deps;
    const source = { ...env };
    for (const key of [...CREDENTIAL_ENV, ...(this.isolated ? PROXY_ENV : [])]) delete source[key];
    const extra: Record<string, string> = {
      ANTHROPIC_BASE_URL: this.isolated ? `http://127.0.0.1:${BRIDGE_PORTS.api}` : credentialProxy.loopbackUrl,
      ANTHROPIC_API_KEY: this.apiKey,
      // The proxies and a task's own servers are on loopback: never through a proxy.
      NO_PROXY: [LOCAL, this.isolated ? "" : env["NO_PROXY"] ?? env["no_proxy"] ?? ""].filter(Boolean).join(","),
    };
    extra["no_proxy"] = extra["NO_PROXY"]!;
    if (this.isolated) {
      const proxy = `http://127.0.0.1:${BRIDGE_PORTS.egress}`;
      for (const key of PROXY_ENV) extra[key] = proxy;
      // Node's own fetch and http use the proxy variables only when asked to.
      extra["NODE_USE_ENV_PROXY"] = "1";
    }
    if (sandbox.kind === "bwrap") extra["TMPDIR"] = "/tmp";
    // The tag in the environment finds the task's processes (also a sandbox's init whose bwrap died before it could
    // pass the worker's death on), alongside the sandbox's PID namespace; an opaque id, nothing about the worker.
    extra[TASK_ID_ENV] = this.tag;
    return {
      argv,
      cwd: this.options.workspace,
      env: claudeEnv(source, { home: this.home, ...(options.term ? { term: options.term } : {}), ...(options.taskEnv ? { taskEnv: options.taskEnv } : {}), extra }),
      workspace: this.options.workspace,
      home: this.home,
      readOnly: [this.claudeDir, ...namedPaths(source, CLAUDE_FILE_ENV), ...(options.readOnly ?? [])],
      readWrite: options.readWrite ?? [],
      network: this.isolated ? "isolated" : "host",
      bridges: this.isolated
        ? [
            { port: BRIDGE_PORTS.api, socket: this.socket("api") },
            { port: BRIDGE_PORTS.egress, socket: this.socket("egress") },
            { port: BRIDGE_PORTS.hooks, socket: this.socket("hooks") },
          ]
        : [],
      newSession: options.newSession,
    };
  }

  /** How to run one git command of this task's clone: the workspace and git's throwaway HOME, the worker's network. */
  cloneSpec(argv: string[], env: Record<string, string>): LaunchSpec {
    const home = env["HOME"] ?? this.home;
    return {
      argv,
      cwd: this.options.workspace,
      env: { ...env, [TASK_ID_ENV]: this.tag },
      workspace: this.options.workspace,
      home,
      readOnly: namedPaths(env, GIT_FILE_ENV),
      network: "host",
      newSession: true,
    };
  }

  /** Keeps the task's transcripts in the worker's store now, before its `exited` goes out (claude has exited). */
  keepTranscripts(): void {
    this.deps.homes.keepTranscripts(this.tag);
  }

  /** Revokes the key, closes the proxies and the hook channel, keeps the transcripts and removes the HOME. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    const { credentialProxy, hooks, homes } = this.deps;
    credentialProxy.revoke(this.tag);
    hooks.close(this.tag);
    this.egressProxy?.close();
    homes.release(this.tag);
    rmSync(this.dir, { recursive: true, force: true });
  }

  private socket(name: "api" | "egress" | "hooks"): string {
    return join(this.dir, `${name}.sock`);
  }

  /** claude's own process, as the worker numbers it. */
  private claudePid(): number | undefined {
    if (this.leaderPid === undefined) return undefined;
    return this.deps.sandbox.kind === "none" ? this.leaderPid : sandboxedCommand(this.leaderPid);
  }

  /**
   * Whether a hook request is claude's. Over the worker's loopback the client's port names its socket, which claude
   * must hold. Through the task's bridge the client is hidden behind socat, so every connection to the hook port in
   * the task's network must be claude's: a command that connects at the same moment makes the event be refused.
   */
  private fromClaude(connection: HookConnection): boolean {
    const claude = this.claudePid();
    if (claude === undefined) return false;
    if (!this.isolated) {
      if (connection.remotePort === undefined || connection.localPort === undefined) return false;
      const inodes = clientSockets("self", { localPort: connection.remotePort, remotePort: connection.localPort });
      return socketHolders([claude], inodes).size > 0;
    }
    const inodes = clientSockets(claude, { remotePort: BRIDGE_PORTS.hooks });
    const holders = socketHolders(taskProcesses(this.tag, this.leaderPid), inodes);
    return holders.has(claude) && [...holders.keys()].every((pid) => pid === claude);
  }

  private onBlocked(blocked: BlockedConnection): void {
    this.countBlocked();
    const command = this.redact(this.clientCommand()).slice(0, MAX_COMMAND_CHARS);
    this.deps.logger.info({ tag: this.tag, host: blocked.host, port: blocked.port, command: command || undefined }, "egress: connection blocked");
    this.sink?.blocked({ host: blocked.host, port: blocked.port, command, reason: blocked.reason });
  }

  /** The command lines of the task's processes connected to its egress proxy now, bridges aside. */
  private clientCommand(): string {
    const claude = this.claudePid();
    if (claude === undefined || this.leaderPid === undefined) return "";
    const inodes = clientSockets(claude, { remotePort: BRIDGE_PORTS.egress });
    const holders = socketHolders(taskProcesses(this.tag, this.leaderPid), inodes);
    return [...new Set([...holders.keys()].map(commandLine).filter((c) => c && !c.startsWith("socat ")))].join("; ");
  }

  private redact(text: string): string {
    return this.deps.secrets.redact(text);
  }
}
