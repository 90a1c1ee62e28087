// Every router setting in one table: environment variable, default, meaning.
import { readTokenFile } from "../common/secrets.js";
import { LISTEN_SETTINGS, REPORTING_SETTINGS } from "../common/service-settings.js";
import { homedir, hostname } from "node:os";
import { join } from "node:path";
import { boolean, duration, integer, list, readSettings, SettingsError, text, type SettingsOf } from "../common/settings.js";

export const ROUTER_SETTINGS = {
  ...LISTEN_SETTINGS,
  workers: {
    env: "CC_WORKERS",
    default: "",
    description: "Static workers, comma-separated: `URL`, `id=URL`, or `id=URL@capacity` for an elastic pool such as a Cloud Run service.",
    parse: list,
  },
  workersFile: {
    env: "CC_WORKERS_FILE",
    default: "",
    description: "A file listing more static workers, one entry per line in the CC_WORKERS forms (`#` starts a comment).",
    parse: text,
  },
  tokens: { env: "CC_TOKEN", default: "", description: "Bearer token(s) of the one admin named `admin`, comma-separated for rotation; empty with no CC_TOKENS_FILE accepts any client.", parse: list },
  workerTokens: {
    env: "CC_WORKER_TOKEN",
    default: "",
    description: "Token sent to workers, and accepted from workers registering (comma-separated: the first is sent).",
    parse: list,
  },
  tokensFile: {
    env: "CC_TOKENS_FILE",
    default: "",
    description:
      "Identities, one per line: `NAME ROLE TOKEN [running=N] [queued=N] [timeout=DURATION] [daily=USD] [monthly=USD]`, ROLE `admin` or `user`, TOKEN the token or `sha256:` and its hex digest, `#` a comment. Reloaded when it changes and on SIGHUP (a broken file is logged and the last good one kept); a broken file at start stops the router, and so does one without CC_WORKER_TOKEN. CC_TOKEN's tokens stay one admin named `admin`.",
    parse: text,
  },
  quotaRunning: { env: "CC_QUOTA_RUNNING", default: "0", description: "Tasks one identity may run at once (`0`: no limit); more wait in the queue until one of its own ends.", parse: integer(0, 100_000) },
  quotaQueued: { env: "CC_QUOTA_QUEUED", default: "0", description: "Tasks one identity may have waiting at once (`0`: no limit); more get RESOURCE_EXHAUSTED.", parse: integer(0, 100_000) },
  quotaTimeoutMs: {
    env: "CC_QUOTA_TIMEOUT",
    default: "0",
    description: "Longest timeout one identity's task may ask for (`0`: only CC_MAX_TASK_TIMEOUT); a task asking for none gets this one.",
    parse: duration,
  },
  budgetDailyUsd: {
    env: "CC_BUDGET_DAILY_USD",
    default: "0",
    description: "US dollars of claude's own cost estimate one identity's tasks may cost per UTC day (`0`: no limit); then new tasks get RESOURCE_EXHAUSTED until midnight UTC.",
    parse: dollars,
  },
  budgetMonthlyUsd: {
    env: "CC_BUDGET_MONTHLY_USD",
    default: "0",
    description: "The same per calendar month (UTC). Spend is read from the task records the store keeps: set CC_RETAIN_AGE to a month or more to count a whole month.",
    parse: dollars,
  },
  tokenFile: { env: "CC_TOKEN_FILE", default: "", description: "A file with more client tokens (one per line), e.g. a mounted secret.", parse: text },
  workerTokenFile: { env: "CC_WORKER_TOKEN_FILE", default: "", description: "A file with more worker tokens (one per line); used like CC_WORKER_TOKEN, after it.", parse: text },
  queueLimit: { env: "CC_QUEUE_LIMIT", default: "100", description: "Tasks that may wait for a free worker; more get RESOURCE_EXHAUSTED.", parse: integer(0, 100_000) },
  queueTimeoutMs: {
    env: "CC_QUEUE_TIMEOUT",
    default: "15m",
    description: "How long a task may wait in the queue for a worker; then it ends FAILED, its `exited` saying why (no matching worker online, or all busy).",
    parse: duration,
  },
  maxAttempts: {
    env: "CC_MAX_ATTEMPTS",
    default: "3",
    description: "Placements of a task that a worker refuses, cannot be reached for, or breaks off before answering; a full worker does not count (the task waits).",
    parse: integer(1, 20),
  },
  callerGraceMs: { env: "CC_CALLER_GRACE", default: "2m", description: "How long a task keeps running with no one attached (unless detached) before it is cancelled.", parse: duration },
  store: {
    env: "CC_STORE",
    default: "sqlite",
    description:
      "Where task records and event logs are kept: `sqlite` (a file in CC_DATA_DIR; a restarted router carries on), `memory` (lost when the router stops), or a Redis URL (`redis://`, `rediss://`, `redis+sentinel://`) shared by several routers.",
    parse: storeSetting,
  },
  dataDir: {
    env: "CC_DATA_DIR",
    default: "",
    description: "The SQLite store's directory (`tasks.db` in it), one router at a time; default `$XDG_STATE_HOME/claudecluster/router` (`~/.local/state/claudecluster/router`).",
    parse: (raw: string) => text(raw) || defaultDataDir(),
  },
  routerId: {
    env: "CC_ROUTER_ID",
    default: "",
    description: "This router's id, for the leases of a shared store and the workers' logs; default the host name and process id.",
    parse: (raw: string) => text(raw) || `${hostname()}-${process.pid}`,
  },
  leaseTtlMs: {
    env: "CC_LEASE_TTL",
    default: "15s",
    description:
      "How long a router's hold on a task (its lease in the store) lasts unless renewed: with a shared store, a router that dies has its tasks taken over by another within about this long.",
    parse: duration,
  },
  reattachWaitMs: {
    env: "CC_REATTACH_WAIT",
    default: "1m",
    description:
      "How long the router waits for the worker of a running task to be seen again (it re-registers, or is probed) to re-attach to it, after the router restarted or lost the task's stream (a broken connection, unanswered PINGs); then the task ends FAILED.",
    parse: duration,
  },
  retainTasks: { env: "CC_RETAIN_TASKS", default: "1000", description: "Ended tasks kept (records and logs); the oldest go first.", parse: integer(1, 1_000_000) },
  retainAgeMs: { env: "CC_RETAIN_AGE", default: "24h", description: "Ended tasks older than this are forgotten.", parse: duration },
  retainLogBytes: {
    env: "CC_RETAIN_LOG_BYTES",
    default: "536870912",
    description: "Event-log bytes all ended tasks may hold together; past it, the oldest ended tasks are forgotten.",
    parse: integer(1024 * 1024, 64 * 1024 * 1024 * 1024),
  },
  logBytes: {
    env: "CC_TASK_LOG_BYTES",
    default: "100663296",
    description:
      "Event log kept per task, in bytes, never trimmed: a task whose events would pass it is stopped with reason OUTPUT_LIMIT. Three times the worker's CC_MAX_OUTPUT_BYTES by default, so that limit (which counts output only) comes first.",
    parse: integer(64 * 1024, 16 * 1024 * 1024 * 1024),
  },
  subscriberLagBytes: {
    env: "CC_SUBSCRIBER_LAG_BYTES",
    default: "4194304",
    description: "How far (bytes) a caller following a task live may fall behind before the task waits for it (claude is paused; nothing is dropped).",
    parse: integer(16 * 1024, 1024 * 1024 * 1024),
  },
  subscriberStallMs: {
    env: "CC_SUBSCRIBER_STALL",
    default: "30s",
    description: "How long a task waits for a caller that is CC_SUBSCRIBER_LAG_BYTES behind and reads nothing; then that caller is cut off with RESOURCE_EXHAUSTED (it may attach again from its last seq and miss nothing) and the task goes on.",
    parse: duration,
  },
  maxSubscribers: { env: "CC_MAX_SUBSCRIBERS", default: "32", description: "Callers attached to one task at once.", parse: integer(1, 10_000) },
  heartbeatMs: { env: "CC_HEARTBEAT_INTERVAL", default: "5s", description: "How often registered workers send heartbeats, and static ones are probed.", parse: duration },
  offlineAfterMs: { env: "CC_OFFLINE_AFTER", default: "15s", description: "A worker silent this long is marked offline.", parse: duration },
  removeAfterMs: { env: "CC_REMOVE_AFTER", default: "2m", description: "A registered worker silent this long is forgotten.", parse: duration },
  shutdownGraceMs: { env: "CC_SHUTDOWN_GRACE", default: "30s", description: "On SIGTERM, how long running tasks may finish before they are cancelled.", parse: duration },
  maxPromptBytes: { env: "CC_MAX_PROMPT_BYTES", default: "1048576", description: "Largest prompt accepted, in bytes.", parse: integer(1, 64 * 1024 * 1024) },
  watchIntervalMs: {
    env: "CC_WATCH_INTERVAL",
    default: "250ms",
    description: "WatchTasks sends a changing task at most once per this interval, with its latest record (`0` for every change).",
    parse: duration,
  },
  maxWatchers: { env: "CC_MAX_WATCHERS", default: "256", description: "WatchTasks streams open at once (web pages showing the task list, `top` views).", parse: integer(1, 100_000) },
  web: {
    env: "CC_WEB",
    default: "on",
    description: "Serve the web UI at `/` on the same port (`off` to turn off); its pages call the RPCs with the client token.",
    parse: boolean,
  },
  maxTaskTimeoutMs: { env: "CC_MAX_TASK_TIMEOUT", default: "24h", description: "Longest timeout a request may ask for.", parse: duration },
  maxUploadBytes: {
    env: "CC_MAX_UPLOAD_BYTES",
    default: "536870912",
    description: "Largest upload (`cc run --upload`) the router streams through to a worker, in bytes; larger ones get RESOURCE_EXHAUSTED naming this setting.",
    parse: integer(1024, 64 * 1024 * 1024 * 1024),
  },
  maxTranscriptBytes: {
    env: "CC_MAX_TRANSCRIPT_BYTES",
    default: "16777216",
    description:
      "Largest session transcript the router keeps when a task ends, in bytes, so the session can continue on any worker (`cc continue`); a larger one stays on its worker, and continuing it elsewhere is refused with RESOURCE_EXHAUSTED.",
    parse: integer(1024, 1024 * 1024 * 1024),
  },
  maxCarryBytes: {
    env: "CC_MAX_CARRY_BYTES",
    default: "67108864",
    description:
      "Largest bundle of recorded changes the router carries (in memory) from the worker a task ran on to the worker that continues its session (`cc continue`), for a task on a repository; past it, the continuation starts from the branch the task pushed, or its ref.",
    parse: integer(0, 1024 * 1024 * 1024),
  },
  sessionsKept: { env: "CC_SESSIONS_KEPT", default: "1000", description: "Session transcripts the router keeps; past it, the oldest go.", parse: integer(1, 1_000_000) },
  sessionsBytes: {
    env: "CC_SESSIONS_BYTES",
    default: "268435456",
    description: "Bytes of session transcripts the router keeps in all; past it, the oldest go.",
    parse: integer(1024 * 1024, 64 * 1024 * 1024 * 1024),
  },
  webhookUrl: {
    env: "CC_WEBHOOK_URL",
    default: "",
    description: "Post every task's end and wait (for approval, for input) here as signed JSON, as a routine's webhook does; empty for none.",
    parse: webhookUrl,
  },
  webhookSecret: { env: "CC_WEBHOOK_SECRET", default: "", description: "The secret CC_WEBHOOK_URL's bodies are signed with (HMAC-SHA256).", parse: text },
  ...REPORTING_SETTINGS,
};

export type RouterSettings = SettingsOf<typeof ROUTER_SETTINGS>;

export function readRouterSettings(env: Record<string, string | undefined> = process.env): RouterSettings {
  const settings = readSettings(ROUTER_SETTINGS, env);
  settings.tokens = [...settings.tokens, ...readTokenFile("CC_TOKEN_FILE", settings.tokenFile)];
  settings.workerTokens = [...settings.workerTokens, ...readTokenFile("CC_WORKER_TOKEN_FILE", settings.workerTokenFile)];
  // Without a worker token anyone could register a worker and be sent every user's prompts: identities need one.
  if (settings.tokensFile && settings.workerTokens.length === 0) {
    throw new SettingsError("CC_TOKENS_FILE needs CC_WORKER_TOKEN (or CC_WORKER_TOKEN_FILE) too: without it anyone could register a worker and receive every user's tasks");
  }
  return settings;
}

/** Empty, or an http(s) URL. */
function webhookUrl(raw: string): string {
  const value = raw.trim();
  if (value === "" || /^https?:\/\/\S+$/.test(value)) return value;
  throw new Error("expected an http:// or https:// URL");
}

/** US dollars: `5`, `2.50`. */
function dollars(raw: string): number {
  const value = raw.trim();
  if (!/^\d+(\.\d+)?$/.test(value)) throw new Error("expected US dollars such as 5 or 2.50");
  return Number(value);
}

/** `memory`, `sqlite` or a Redis URL. */
function storeSetting(raw: string): string {
  const value = raw.trim();
  if (value === "memory" || value === "sqlite" || /^(redis|rediss|redis\+sentinel|rediss\+sentinel):\/\//.test(value)) return value;
  throw new Error("expected `sqlite`, `memory`, or a redis://, rediss:// or redis+sentinel:// URL");
}

/** The per-user state directory (XDG Base Directory): where a router keeps its SQLite store by default. */
export function defaultDataDir(env: Record<string, string | undefined> = process.env): string {
  const state = env["XDG_STATE_HOME"] || join(homedir(), ".local", "state");
  return join(state, "claudecluster", "router");
}
