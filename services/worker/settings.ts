// Every worker setting in one table: environment variable, default, meaning. `npm run worker` reads them from the
// environment; the README's table is this one (test/docs.test.ts keeps them equal).
import { hostname, tmpdir } from "node:os";
import { create, fromJsonString } from "@bufbuild/protobuf";
import { type AgentOptions, AgentOptionsSchema } from "../../gen/claudecluster/v1/run_pb.js";
import { join } from "node:path";
import { readTokenFile } from "../common/secrets.js";
import { DEFAULT_EGRESS, EgressError, parseEgressSetting } from "./egress/index.js";
import { SANDBOX_MODES, type SandboxMode } from "./sandbox/index.js";
import { LISTEN_SETTINGS, REPORTING_SETTINGS } from "../common/service-settings.js";
import { boolean, duration, integer, labels, list, readSettings, text, type SettingsOf } from "../common/settings.js";

export const WORKER_SETTINGS = {
  ...LISTEN_SETTINGS,
  workerId: { env: "CC_WORKER_ID", default: "", description: "This worker's id in the cluster; default the host name.", parse: (raw: string) => text(raw) || hostname() },
  routerUrl: { env: "CC_ROUTER_URL", default: "", description: "Router to register with and send heartbeats to; empty for none.", parse: text },
  advertiseUrl: { env: "CC_WORKER_URL", default: "", description: "URL the router uses to reach this worker; default http://<host name>:<port>.", parse: text },
  workerTokens: {
    env: "CC_WORKER_TOKEN",
    default: "",
    description: "Bearer token(s) that callers (the router) must present, comma-separated for rotation; the first is sent when registering. Empty accepts any caller.",
    parse: list,
  },
  workerTokenFile: { env: "CC_WORKER_TOKEN_FILE", default: "", description: "A file with more worker tokens (one per line), e.g. a mounted secret.", parse: text },
  claudeBin: { env: "CC_CLAUDE_BIN", default: "", description: "claude binary; default the pinned @anthropic-ai/claude-code of this package.", parse: text },
  claudeHome: {
    env: "CC_CLAUDE_HOME",
    default: "",
    description:
      "The worker's claude HOME: the configuration each task's private HOME is seeded from (never its credentials), the login the credential proxy uses, the transcripts kept for `--resume`, and the running tasks' HOMEs (`.claudecluster/`); default $HOME.",
    parse: text,
  },
  claudeConfigDir: {
    env: "CC_CLAUDE_CONFIG",
    default: "",
    description: "A directory laid out like ~/.claude (credentials, settings.json, CLAUDE.md), e.g. a read-only secret mount; copied into claude's HOME at start.",
    parse: text,
  },
  workspaceRoot: {
    env: "CC_WORKSPACE_ROOT",
    default: "",
    description: "Directory under which every task's workspace lives; default `$TMPDIR/claudecluster/workspaces`.",
    parse: (raw: string) => text(raw) || join(tmpdir(), "claudecluster", "workspaces"),
  },
  rootWorkspace: {
    env: "CC_ROOT_WORKSPACE",
    default: "off",
    description:
      'Let a task work in the workspace root itself (`workspace.directory: "."`). Off: the root holds every task\'s workspace. `cc run` with no router turns it on, to work in your current directory.',
    parse: boolean,
  },
  maxSessions: { env: "CC_MAX_SESSIONS", default: "4", description: "Sessions run at once; more get RESOURCE_EXHAUSTED.", parse: integer(1, 1000) },
  labels: { env: "CC_LABELS", default: "", description: "Placement labels, e.g. `region=eu,gpu=true`.", parse: labels },
  taskTimeoutMs: { env: "CC_TASK_TIMEOUT", default: "1h", description: "Default wall-clock limit of a task.", parse: duration },
  maxTaskTimeoutMs: { env: "CC_MAX_TASK_TIMEOUT", default: "24h", description: "Longest timeout a request may ask for.", parse: duration },
  idleTimeoutMs: { env: "CC_IDLE_TIMEOUT", default: "30m", description: "Interactive tasks waiting for input longer than this end (0 = never).", parse: duration },
  disconnectGraceMs: { env: "CC_DISCONNECT_GRACE", default: "10s", description: "How long a task run by a direct caller outlives that caller going away.", parse: duration },
  routerGraceMs: {
    env: "CC_ROUTER_GRACE",
    default: "5m",
    description:
      "How long a task a router placed keeps running when the router's stream drops, for the router (restarted) or another to re-attach; then it ends CLIENT_GONE. An ended one's last events are kept as long.",
    parse: duration,
  },
  replayBytes: {
    env: "CC_REPLAY_BYTES",
    default: "4194304",
    description: "The latest events of each task kept for a router that re-attaches from its last stored event (at least 2 MiB: more than a router holds unstored).",
    parse: integer(2 * 1024 * 1024, 1024 * 1024 * 1024),
  },
  shutdownGraceMs: { env: "CC_SHUTDOWN_GRACE", default: "30s", description: "On SIGTERM, how long running tasks may finish before they are stopped.", parse: duration },
  killGraceMs: { env: "CC_KILL_GRACE", default: "5s", description: "Between SIGTERM and SIGKILL when a task is stopped.", parse: duration },
  permissionTimeoutMs: {
    env: "CC_PERMISSION_TIMEOUT",
    default: "10m",
    description: "How long a permission request of a task started with `ask_permissions` waits for an answer (AnswerPermission); then the tool call is denied.",
    parse: (raw: string) => {
      const ms = duration(raw);
      if (ms < 1000) throw new Error("must be at least 1s");
      return ms;
    },
  },
  cloneTimeoutMs: { env: "CC_CLONE_TIMEOUT", default: "5m", description: "Longest a task's repository clone (`workspace.repository`) may take; past it the task fails before claude starts.", parse: duration },
  maxPromptBytes: { env: "CC_MAX_PROMPT_BYTES", default: "1048576", description: "Largest prompt accepted, in bytes.", parse: integer(1, 64 * 1024 * 1024) },
  maxTranscriptBytes: {
    env: "CC_MAX_TRANSCRIPT_BYTES",
    default: "16777216",
    description:
      "Largest session transcript, in bytes, this worker hands to the router when a task ends (GetTranscript) or accepts with a task that resumes a session begun on another worker (RunRequest.resume_transcript).",
    parse: integer(1024, 1024 * 1024 * 1024),
  },
  streamBufferBytes: { env: "CC_STREAM_BUFFER_BYTES", default: "1048576", description: "Per-task output buffer; claude is paused while a slow reader leaves it full.", parse: integer(16 * 1024, 256 * 1024 * 1024) },
  maxOutputBytes: {
    env: "CC_MAX_OUTPUT_BYTES",
    default: "33554432",
    description:
      "Output one task may print, in bytes (claude's stream-json lines as UTF-8, and raw terminal or stderr bytes), before it is stopped with reason OUTPUT_LIMIT; 0 for no limit. Keep it below the router's CC_TASK_LOG_BYTES.",
    parse: integer(0, Number.MAX_SAFE_INTEGER),
  },
  warmPool: {
    env: "CC_WARM_POOL",
    default: "0",
    description: "Headless claude processes kept started ahead of tasks; a task with the profile's options skips claude's start-up.",
    parse: integer(0, 64),
  },
  warmProfile: {
    env: "CC_WARM_PROFILE",
    default: "",
    description: 'The options warm processes start with, as the JSON of `AgentOptions`, e.g. `{"allowedTools":["Bash"]}`; only tasks asking for exactly these use the pool.',
    parse: agentProfile,
  },
  sandbox: {
    env: "CC_SANDBOX",
    default: "auto",
    description:
      "`bwrap`: every task in a bubblewrap sandbox of its own, or refuse to start; `auto`: the same where this machine allows namespaces, else unsandboxed with a warning (GetInfo says `sandbox: none`); `off`: never.",
    parse: sandboxMode,
  },
  sandboxBind: {
    env: "CC_SANDBOX_BIND",
    default: "",
    description: "More paths every sandbox may read, comma-separated (e.g. a toolchain under /nix); the system (/usr, /etc, /opt) is always there.",
    parse: list,
  },
  egress: {
    env: "CC_EGRESS",
    default: DEFAULT_EGRESS,
    description:
      "Where tasks may connect beyond the model API: `open`, `none`, or an allowlist of hosts (`example.com`, `*.example.com`, `host:port`, IP addresses) and presets (`@anthropic`, `@package-registries`, `@git-hosts`). Enforced in the sandbox; a task may narrow it.",
    parse: egressPolicy,
  },
  maxUploadBytes: {
    env: "CC_MAX_UPLOAD_BYTES",
    default: "536870912",
    description: "Largest upload (`cc run --upload`: a git bundle or a tarball) accepted, in bytes; larger ones get RESOURCE_EXHAUSTED naming this setting.",
    parse: integer(1024, 64 * 1024 * 1024 * 1024),
  },
  uploadStagingBytes: {
    env: "CC_UPLOAD_STAGING_BYTES",
    default: "2147483648",
    description: "Bytes of uploads that may wait for their tasks at once; past it new uploads get RESOURCE_EXHAUSTED.",
    parse: integer(1024, 1024 * 1024 * 1024 * 1024),
  },
  uploadTtlMs: { env: "CC_UPLOAD_TTL", default: "15m", description: "An upload no task has used for this long is removed.", parse: duration },
  uploadDir: {
    env: "CC_UPLOAD_DIR",
    default: "",
    description: "Where uploads wait for their tasks; default `<CC_WORKSPACE_ROOT>/.uploads`.",
    parse: text,
  },
  changesDir: {
    env: "CC_CHANGES_DIR",
    default: "",
    description: "Where the recorded changes of ended tasks are kept (outliving their workspaces); default `<CC_WORKSPACE_ROOT>/.changes`.",
    parse: text,
  },
  changesRetainAgeMs: { env: "CC_CHANGES_RETAIN_AGE", default: "24h", description: "How long an ended task's recorded changes (patch and bundle) are kept.", parse: duration },
  changesRetainBytes: {
    env: "CC_CHANGES_RETAIN_BYTES",
    default: "2147483648",
    description: "Bytes the recorded changes of all ended tasks may take together; past it the oldest go first.",
    parse: integer(1024 * 1024, 1024 * 1024 * 1024 * 1024),
  },
  maxChangesBytes: {
    env: "CC_MAX_CHANGES_BYTES",
    default: "268435456",
    description: "Largest patch or bundle recorded for one task; a larger one is not kept (the summary says so).",
    parse: integer(1024, 64 * 1024 * 1024 * 1024),
  },
  changesTimeoutMs: { env: "CC_CHANGES_TIMEOUT", default: "2m", description: "Longest recording a task's changes may take when it ends.", parse: duration },
  pushTimeoutMs: { env: "CC_PUSH_TIMEOUT", default: "5m", description: "Longest a task's push (`workspace.push`) may take.", parse: duration },
  gitAuthor: {
    env: "CC_GIT_AUTHOR",
    default: "ClaudeCluster <claudecluster@localhost>",
    description: "`Name <email>` of commits made in task workspaces: claude's own, and the one of what it left uncommitted.",
    parse: identity,
  },
  workspaceRetainAgeMs: { env: "CC_WORKSPACE_RETAIN_AGE", default: "24h", description: "How long an ended task's own workspace is kept (for `cc ls` and `cc cp`) before it is reclaimed.", parse: duration },
  workspaceRetainBytes: {
    env: "CC_WORKSPACE_RETAIN_BYTES",
    default: "10737418240",
    description: "Bytes the workspaces of ended tasks may take together; past it the oldest are reclaimed first.",
    parse: integer(0, Number.MAX_SAFE_INTEGER),
  },
  maxCopyBytes: {
    env: "CC_MAX_COPY_BYTES",
    default: "536870912",
    description: "Largest file or directory `cc cp` moves in or out of a workspace in one call, in bytes.",
    parse: integer(1, 64 * 1024 * 1024 * 1024),
  },
  environmentCacheDir: {
    env: "CC_ENV_CACHE_DIR",
    default: "",
    description: "Where the worker keeps environment snapshots (workspaces prepared by a repository's `.claudecluster/environment.yaml` setup); default `<CC_WORKSPACE_ROOT>/.environments/<CC_WORKER_ID>`. Put it on the workspaces' filesystem so restores can reflink.",
    parse: text,
  },
  environmentCacheCount: {
    env: "CC_ENV_CACHE_COUNT",
    default: "8",
    description: "Environment snapshots the worker keeps, at most; past it the least recently used goes. 0 keeps none (every task runs its setup).",
    parse: integer(0, 10_000),
  },
  environmentCacheBytes: {
    env: "CC_ENV_CACHE_BYTES",
    default: "10737418240",
    description: "Bytes the environment snapshots may take together; past it the least recently used go. A setup whose workspace grows past it is stopped and fails its task.",
    parse: integer(0, Number.MAX_SAFE_INTEGER),
  },
  setupTimeoutMs: {
    env: "CC_ENV_SETUP_TIMEOUT",
    default: "15m",
    description: "Longest an environment's setup (or maintenance) script may run, and the most its `setup_timeout` may ask for; past it the task fails before claude starts.",
    parse: duration,
  },
  ...REPORTING_SETTINGS,
};

function sandboxMode(raw: string): SandboxMode {
  const v = raw.trim().toLowerCase();
  if (!(SANDBOX_MODES as readonly string[]).includes(v)) throw new Error(`expected one of ${SANDBOX_MODES.join(", ")}`);
  return v as SandboxMode;
}

function egressPolicy(raw: string) {
  try {
    // Empty, as compose passes an unset variable: the default.
    return parseEgressSetting(raw.trim() || DEFAULT_EGRESS);
  } catch (err) {
    throw err instanceof EgressError ? new Error(`${err.message}; expected open, none, or hosts and @presets separated by commas`) : err;
  }
}

/** `Name <email>`, as git writes an identity. */
function identity(raw: string): string {
  const value = raw.trim();
  if (!/^[^<>\n]+<[^<>\s]+>$/.test(value)) throw new Error("expected `Name <email>`, e.g. `ClaudeCluster <claudecluster@localhost>`");
  return value;
}

/** `AgentOptions` in protobuf JSON; empty means none (a task that sets no options). */
function agentProfile(raw: string): AgentOptions {
  if (!raw.trim()) return create(AgentOptionsSchema);
  try {
    return fromJsonString(AgentOptionsSchema, raw);
  } catch (err) {
    throw new Error(`expected the JSON of claudecluster.v1.AgentOptions, e.g. {"allowedTools":["Bash"]} (${(err as Error).message})`);
  }
}

export type WorkerSettings = SettingsOf<typeof WORKER_SETTINGS>;

export function readWorkerSettings(env: Record<string, string | undefined> = process.env): WorkerSettings {
  const settings = readSettings(WORKER_SETTINGS, env);
  settings.uploadDir ||= join(settings.workspaceRoot, ".uploads");
  settings.changesDir ||= join(settings.workspaceRoot, ".changes");
  // One directory per worker: workers sharing a workspace root (cc up) each keep their own snapshots.
  settings.environmentCacheDir ||= join(settings.workspaceRoot, ".environments", settings.workerId.replace(/[^\w.-]/g, "_").replace(/^\.+$/, "_"));
  settings.workerTokens = [...settings.workerTokens, ...readTokenFile("CC_WORKER_TOKEN_FILE", settings.workerTokenFile)];
  return settings;
}
