// Checks a RunRequest before anything is queued or spawned, so that every mistake comes back as INVALID_ARGUMENT
// naming the field, and nothing unchecked reaches claude's command line or the file system.
import { EgressMode, RunMode, type RunRequest } from "../../gen/claudecluster/v1/run_pb.js";
import { type ConnectError, invalidArgument } from "./errors.js";
import { isValidTaskId } from "./ids.js";
import { envProblem } from "./task-env.js";

/** Permission modes the pinned claude accepts (`claude --help`). */
export const PERMISSION_MODES = ["acceptEdits", "auto", "bypassPermissions", "manual", "dontAsk", "plan"] as const;

export interface RunLimits {
  /** Largest prompt in bytes (UTF-8). */
  maxPromptBytes: number;
  /** Longest task timeout a request may ask for, in ms. */
  maxTimeoutMs: number;
  /** Largest `resume_transcript` accepted, in bytes (the worker's CC_MAX_TRANSCRIPT_BYTES); unset: not checked here. */
  maxTranscriptBytes?: number;
}

/** Interactive prompts (and system prompts, MCP config) travel as one argv entry; Linux caps one at 128 KiB. */
export const MAX_INTERACTIVE_PROMPT_BYTES = 100 * 1024;
const MAX_TERMINAL_CELLS = 1000;
const MAX_FIELD_CHARS = 1024;
const MAX_LIST_ENTRIES = 200;
const MAX_LABELS = 64;

export function validateRunRequest(req: RunRequest, limits: RunLimits): void {
  const promptBytes = Buffer.byteLength(req.prompt, "utf8");
  if (!(req.mode in RunMode)) throw invalidArgument("mode", `unknown value ${req.mode}; use RUN_MODE_HEADLESS or RUN_MODE_INTERACTIVE`);
  const interactive = req.mode === RunMode.INTERACTIVE;
  if (!interactive && req.prompt.trim() === "") throw invalidArgument("prompt", "is empty; a headless task needs a prompt");
  if (promptBytes > limits.maxPromptBytes) {
    throw invalidArgument("prompt", `is ${promptBytes} bytes, over the limit of ${limits.maxPromptBytes}; shorten it or put the material in the workspace`);
  }
  if (interactive && promptBytes > MAX_INTERACTIVE_PROMPT_BYTES) {
    throw invalidArgument("prompt", `is ${promptBytes} bytes; interactive prompts are limited to ${MAX_INTERACTIVE_PROMPT_BYTES} bytes (send more with SendInput)`);
  }
  if (req.prompt.includes("\0")) throw invalidArgument("prompt", "contains a NUL character");
  if (req.taskId !== "" && !isValidTaskId(req.taskId)) throw invalidArgument("task_id", "must be 1-64 letters, digits, '-' or '_'");
  if (req.requestId.length > 128) throw invalidArgument("request_id", "is longer than 128 characters");
  if (req.resumeTranscript) {
    if (!req.agent?.resumeSessionId || req.resumeTranscript.sessionId !== req.agent.resumeSessionId) {
      throw invalidArgument("resume_transcript.session_id", "must be the session the task resumes (agent.resume_session_id)");
    }
    const bytes = req.resumeTranscript.jsonl.length;
    if (limits.maxTranscriptBytes !== undefined && bytes > limits.maxTranscriptBytes) {
      throw invalidArgument("resume_transcript", `is ${bytes} bytes, over this worker's CC_MAX_TRANSCRIPT_BYTES (${limits.maxTranscriptBytes})`);
    }
  }

  if (req.terminal) {
    for (const [name, value] of [["cols", req.terminal.cols], ["rows", req.terminal.rows]] as const) {
      if (value < 1 || value > MAX_TERMINAL_CELLS) throw invalidArgument(`terminal.${name}`, `must be from 1 to ${MAX_TERMINAL_CELLS}, got ${value}`);
    }
  }
  if (req.timeout) {
    const ms = Number(req.timeout.seconds) * 1000 + req.timeout.nanos / 1e6;
    if (!(ms > 0) || ms > limits.maxTimeoutMs) throw invalidArgument("timeout", `must be positive and at most ${limits.maxTimeoutMs / 1000}s`);
  }
  const labelEntries = Object.entries(req.labels);
  if (labelEntries.length > MAX_LABELS) throw invalidArgument("labels", `more than ${MAX_LABELS} labels`);
  for (const [k, v] of labelEntries) {
    if (!/^[A-Za-z0-9._/-]{1,63}$/.test(k)) throw invalidArgument("labels", `key "${k}" must be 1-63 letters, digits, '.', '_', '/' or '-'`);
    if (v.length > 256) throw invalidArgument(`labels.${k}`, "value is longer than 256 characters");
  }
  if (req.workerId !== "" && !isValidTaskId(req.workerId)) throw invalidArgument("worker_id", "must be 1-64 letters, digits, '-' or '_'");
  if (req.spreadGroup.length > 128 || UNPRINTABLE.test(req.spreadGroup)) throw invalidArgument("spread_group", "must be at most 128 characters, without whitespace or control characters");
  const envTrouble = envProblem(req.env);
  if (envTrouble) throw invalidArgument("env", envTrouble);
  const secretsTrouble = envProblem(req.setupSecrets);
  if (secretsTrouble) throw invalidArgument("setup_secrets", secretsTrouble);

  validateAgentOptions(req);
  validateWorkspace(req);
  validateEgress(req);
  validatePush(req);
}

const MAX_EGRESS_ENTRIES = 500;

/** The shape of `egress`; what the entries mean (and whether the worker allows them) is the worker's to say. */
function validateEgress(req: RunRequest): void {
  const egress = req.egress;
  if (!egress) return;
  if (!(egress.mode in EgressMode)) throw invalidArgument("egress.mode", `unknown value ${egress.mode}; use EGRESS_MODE_OPEN, EGRESS_MODE_ALLOWLIST or EGRESS_MODE_NONE`);
  if (egress.mode === EgressMode.ALLOWLIST && egress.allow.length === 0) throw invalidArgument("egress.allow", "is empty; an allowlist needs at least one host (or use EGRESS_MODE_NONE)");
  if (egress.mode !== EgressMode.ALLOWLIST && egress.allow.length > 0) throw invalidArgument("egress.allow", "is only for EGRESS_MODE_ALLOWLIST");
  if (egress.allow.length > MAX_EGRESS_ENTRIES) throw invalidArgument("egress.allow", `more than ${MAX_EGRESS_ENTRIES} entries`);
  egress.allow.forEach((entry, i) => {
    if (entry.length === 0 || entry.length > 255 || /[\s\u0000-\u001f,]/.test(entry)) throw invalidArgument(`egress.allow[${i}]`, "must be one host, *.domain, host:port, IP address or @preset");
  });
}

/** Values that become claude flags must not look like flags themselves, nor carry NULs. */
function flagValue(field: string, value: string): void {
  if (value.length > MAX_FIELD_CHARS) throw invalidArgument(field, `is longer than ${MAX_FIELD_CHARS} characters`);
  if (value.startsWith("-")) throw invalidArgument(field, `must not start with "-" (got "${value}")`);
  if (value.includes("\0") || value.includes("\n")) throw invalidArgument(field, "contains a NUL or newline");
}

function validateAgentOptions(req: RunRequest): void {
  const a = req.agent;
  if (!a) return;
  if (a.model) flagValue("agent.model", a.model);
  for (const [field, tools] of [["agent.allowed_tools", a.allowedTools], ["agent.disallowed_tools", a.disallowedTools]] as const) {
    if (tools.length > MAX_LIST_ENTRIES) throw invalidArgument(field, `more than ${MAX_LIST_ENTRIES} entries`);
    tools.forEach((t, i) => {
      if (t.trim() === "") throw invalidArgument(`${field}[${i}]`, "is empty");
      flagValue(`${field}[${i}]`, t);
    });
  }
  if (a.permissionMode && !(PERMISSION_MODES as readonly string[]).includes(a.permissionMode)) {
    throw invalidArgument("agent.permission_mode", `unknown mode "${a.permissionMode}"; use one of ${PERMISSION_MODES.join(", ")}`);
  }
  if (a.maxTurns > 10_000) throw invalidArgument("agent.max_turns", "must be at most 10000");
  for (const [field, value] of [["agent.system_prompt", a.systemPrompt], ["agent.append_system_prompt", a.appendSystemPrompt]] as const) {
    if (value.includes("\0")) throw invalidArgument(field, "contains a NUL character");
    if (Buffer.byteLength(value) > MAX_INTERACTIVE_PROMPT_BYTES) throw invalidArgument(field, `is over ${MAX_INTERACTIVE_PROMPT_BYTES} bytes`);
  }
  if (a.mcpConfigJson) {
    if (Buffer.byteLength(a.mcpConfigJson) > MAX_INTERACTIVE_PROMPT_BYTES) {
      throw invalidArgument("agent.mcp_config_json", `is over ${MAX_INTERACTIVE_PROMPT_BYTES} bytes (it travels as one command-line argument)`);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(a.mcpConfigJson);
    } catch {
      throw invalidArgument("agent.mcp_config_json", "is not valid JSON");
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
      throw invalidArgument("agent.mcp_config_json", 'must be a JSON object such as {"mcpServers": {...}}');
    }
  }
  if (a.resumeSessionId && !/^[A-Za-z0-9][A-Za-z0-9-]{0,63}$/.test(a.resumeSessionId)) {
    throw invalidArgument("agent.resume_session_id", "must be a claude session id (letters, digits and '-')");
  }
  if (!Number.isFinite(a.maxBudgetUsd) || a.maxBudgetUsd < 0) throw invalidArgument("agent.max_budget_usd", "must be zero or a positive amount");
  if (a.askPermissions && req.mode === RunMode.INTERACTIVE) {
    throw invalidArgument("agent.ask_permissions", "applies to headless tasks; an interactive claude asks in its own terminal");
  }
  if (a.addDirs.length > MAX_ADD_DIRS) throw invalidArgument("agent.add_dirs", `more than ${MAX_ADD_DIRS} entries`);
  a.addDirs.forEach((dir, i) => relativeDirectory(`agent.add_dirs[${i}]`, dir));
  jsonObjectFlag("agent.settings_json", a.settingsJson, '{"permissions": {...}}');
  jsonObjectFlag("agent.agents_json", a.agentsJson, '{"reviewer": {"description": "...", "prompt": "..."}}');
  jsonObjectFlag("agent.json_schema", a.jsonSchema, '{"type": "object", "properties": {...}}');
  if (a.jsonSchema && req.mode === RunMode.INTERACTIVE) throw invalidArgument("agent.json_schema", "applies to headless tasks only (claude takes it with --print)");
  if (a.fallbackModel) {
    flagValue("agent.fallback_model", a.fallbackModel);
    if (!/^[A-Za-z0-9._:@/\[\]-]+(,[A-Za-z0-9._:@/\[\]-]+)*$/.test(a.fallbackModel)) throw invalidArgument("agent.fallback_model", "must be model names separated by commas");
  }
}

const MAX_ADD_DIRS = 32;

/** A JSON object that travels as one command-line argument, when set. */
function jsonObjectFlag(field: string, value: string, example: string): void {
  if (!value) return;
  if (Buffer.byteLength(value) > MAX_INTERACTIVE_PROMPT_BYTES) throw invalidArgument(field, `is over ${MAX_INTERACTIVE_PROMPT_BYTES} bytes (it travels as one command-line argument)`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    throw invalidArgument(field, "is not valid JSON");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw invalidArgument(field, `must be a JSON object such as ${example}`);
}

/** A directory under the workspace root: "." or relative parts that do not start with "." (no "..", no hidden ones). */
function relativeDirectory(field: string, dir: string): void {
  if (dir === "" || dir.length > 255) throw invalidArgument(field, "must be 1-255 characters");
  // "." is the root itself, which only a worker with CC_ROOT_WORKSPACE takes (the worker checks). Other parts may
  // not start with "." — that excludes "..", hidden directories and the root's .tasks/ where fresh task
  // workspaces live, private to their task.
  if (dir !== "." && (dir.startsWith("/") || dir.split(/[\\/]/).some((part) => part === "" || part.startsWith(".")))) {
    throw invalidArgument(field, `must be "." or a relative path under the workspace root whose parts do not start with ".", got "${dir}"`);
  }
  if (!/^[A-Za-z0-9._/-]+$/.test(dir)) throw invalidArgument(field, "may contain only letters, digits, '.', '_', '-' and '/'");
}

function validateWorkspace(req: RunRequest): void {
  const source = req.workspace?.source;
  if (!source || source.case === undefined) return;
  if (source.case === "directory") {
    relativeDirectory("workspace.directory", source.value);
    return;
  }
  if (source.case === "upload") {
    const upload = source.value;
    if (upload.uploadId === "") throw invalidArgument("workspace.upload.upload_id", "is required: the id UploadWorkspace returned");
    if (!isValidTaskId(upload.uploadId)) throw invalidArgument("workspace.upload.upload_id", "must be 1-64 letters, digits, '-' or '_'");
    if (upload.origin) validateRepository(upload.origin, "workspace.upload.origin");
  } else {
    validateRepository(source.value, "workspace.repository");
  }
}

function validateRepository(repo: { url: string; ref: string; token: string }, field: string): void {
  validateRepositoryUrl(repo.url, `${field}.url`);
  validateRef(repo.ref, `${field}.ref`);
  validateToken(repo.token, repo.url, `${field}.token`);
}

const MAX_PUSH_MESSAGE_BYTES = 64 * 1024;

/** `workspace.push`: only with a repository to push to; a branch name git accepts; an identity; a plain message. */
function validatePush(req: RunRequest): void {
  const push = req.workspace?.push;
  if (!push) return;
  const source = req.workspace?.source;
  const origin = source?.case === "repository" ? source.value.url : source?.case === "upload" ? source.value.origin?.url : undefined;
  if (!origin) throw invalidArgument("workspace.push", "needs a repository to push to: workspace.repository, or workspace.upload.origin (cc run --repo URL)");
  if (push.branch !== "") {
    if (push.branch.startsWith("refs/") || push.branch === "HEAD") throw invalidArgument("workspace.push.branch", `must be a branch name such as cc/fix-tests, not "${push.branch}"`);
    validateRef(push.branch, "workspace.push.branch");
  }
  if (push.author !== "" && !/^[^<>\n\0]+<[^<>\s]+>$/.test(push.author.trim())) throw invalidArgument("workspace.push.author", "must be `Name <email>`");
  if (push.message.includes("\0")) throw invalidArgument("workspace.push.message", "contains a NUL character");
  if (Buffer.byteLength(push.message) > MAX_PUSH_MESSAGE_BYTES) throw invalidArgument("workspace.push.message", `is over ${MAX_PUSH_MESSAGE_BYTES} bytes`);
}

// Repository workspaces. The worker hands these values to git (as arguments after `--`, never through a shell), so
// everything git could read as an option, a local path or a transport helper (`ext::`, `file://`) is refused here;
// git itself is also told to allow only https and ssh.

export const MAX_REPOSITORY_URL_CHARS = 2048;
export const MAX_REF_CHARS = 255;
export const MAX_TOKEN_CHARS = 4096;
const URL_RULE = "only https://host/path, ssh://[user@]host/path and scp-like user@host:path URLs are accepted";
/** Whitespace and control characters: nothing git, ssh or a log line should ever see inside a URL, ref or token. */
const UNPRINTABLE = /[\s\u0000-\u001f\u007f-\u009f]/u;
/** An ssh user name, possibly empty, that cannot be read as an option. */
const USER = /^(?:[A-Za-z0-9._~][A-Za-z0-9._~-]*)?$/;
/** Host names and bracketed IP literals: nothing that could reach ssh or curl as an option or an escape. */
const HOST = /^(?:[A-Za-z0-9][A-Za-z0-9.-]*|\[[0-9A-Fa-f:.]+\])$/;
const HOST_PORT = new RegExp(`${HOST.source.slice(0, -1)}(?::[0-9]{1,5})?$`);

/** Throws INVALID_ARGUMENT unless `url` is an https://, ssh:// or scp-like URL git can clone without surprises. */
export function validateRepositoryUrl(url: string, field = "workspace.repository.url"): void {
  const badUrl = (problem: string): ConnectError => invalidArgument(field, `${problem}; ${URL_RULE}`);
  const credentialsInUrl = (): ConnectError =>
    badUrl(`must not carry credentials (user:password@host), pass an access token in ${field.replace(/\.url$/, ".token")}`);
  if (url === "") throw badUrl("is empty");
  if (url.length > MAX_REPOSITORY_URL_CHARS) throw badUrl(`is longer than ${MAX_REPOSITORY_URL_CHARS} characters`);
  if (UNPRINTABLE.test(url)) throw badUrl("contains whitespace or control characters");
  if (url.startsWith("-")) throw badUrl('must not start with "-"');
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(url)?.[1];
  if (scheme === "https" || scheme === "ssh") {
    // Parsed by hand, strictly: a lenient parser (WHATWG URL turns "https:///x" into host "x") may disagree with git.
    const [, authority = "", rest = ""] = /^[a-z]+:\/\/([^/?#]*)(.*)$/.exec(url) ?? [];
    const at = authority.lastIndexOf("@");
    const userinfo = at < 0 ? undefined : authority.slice(0, at);
    // https takes no user name at all (the token is the credential); ssh takes one (`ssh://git@host/...`) but no password.
    if (userinfo !== undefined && (scheme === "https" || userinfo.includes(":"))) throw credentialsInUrl();
    if (userinfo !== undefined && (userinfo === "" || !USER.test(userinfo))) throw badUrl("has a user name that is not letters, digits, '.', '_', '~' and '-', or starts with '-'");
    if (!HOST_PORT.test(authority.slice(at + 1))) throw badUrl("has no valid host name");
    if (!/^\/[^?#]/.test(rest)) throw badUrl("has no repository path");
    return;
  }
  if (scheme !== undefined) throw badUrl(`uses the scheme "${scheme}://"`);
  // `<transport>::<address>` runs a transport helper (`ext::sh -c ...`, `fd::3`).
  if (url.includes("::")) throw badUrl('names a git transport helper ("::")');
  // scp-like `[user@]host:path`. Like git, a URL with no colon, or a slash before the first colon, is a local path.
  const colon = url.indexOf(":");
  if (colon < 0 || url.slice(0, colon).includes("/")) throw badUrl("is a local path, not a URL");
  const [authority, path] = [url.slice(0, colon), url.slice(colon + 1)];
  const at = authority.lastIndexOf("@");
  const [user, host] = at < 0 ? ["", authority] : [authority.slice(0, at), authority.slice(at + 1)];
  // `user:password@host:path` splits at its first colon into host "user" and a path "password@host:path".
  if (/^[^/]*@/.test(path)) throw credentialsInUrl();
  if (!HOST.test(host) || !USER.test(user) || (at >= 0 && user === "")) throw badUrl("has no valid [user@]host before the colon");
  if (path === "" || path.startsWith("-")) throw badUrl('has an empty path or one starting with "-"');
}

/**
 * Throws INVALID_ARGUMENT unless `ref` is empty or a name `git check-ref-format --allow-onelevel` accepts (the rules
 * of git-check-ref-format(1), applied here rather than by running git), that does not start with "-".
 */
export function validateRef(ref: string, field = "workspace.repository.ref"): void {
  if (ref === "") return;
  const bad = (problem: string) =>
    invalidArgument(field, `${problem}; give a branch or tag name, a full commit id, or a full ref name such as refs/heads/main`);
  if (ref.length > MAX_REF_CHARS) throw bad(`is longer than ${MAX_REF_CHARS} characters`);
  if (ref.startsWith("-")) throw bad('must not start with "-"');
  if (UNPRINTABLE.test(ref)) throw bad("contains whitespace or control characters");
  if (/[~^:?*[\\]/.test(ref)) throw bad("contains one of ~ ^ : ? * [ \\");
  if (ref.includes("..")) throw bad('contains ".."');
  if (ref.includes("@{") || ref === "@") throw bad('is "@" or contains "@{"');
  if (ref.startsWith("/") || ref.endsWith("/") || ref.includes("//")) throw bad('starts or ends with "/" or contains "//"');
  if (ref.endsWith(".")) throw bad('ends with "."');
  if (ref.split("/").some((part) => part.startsWith(".") || part.endsWith(".lock"))) throw bad('has a part that starts with "." or ends with ".lock"');
}

function validateToken(token: string, url: string, field: string): void {
  if (token === "") return;
  if (!url.startsWith("https://")) throw invalidArgument(field, "is only used with https:// URLs; ssh uses the worker's keys");
  if (token.length > MAX_TOKEN_CHARS) throw invalidArgument(field, `is longer than ${MAX_TOKEN_CHARS} characters`);
  if (UNPRINTABLE.test(token)) throw invalidArgument(field, "contains whitespace or control characters");
}
