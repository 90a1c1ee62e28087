// Checks a RunRequest before anything is queued or spawned, so that every mistake comes back as INVALID_ARGUMENT
// naming the field, and nothing unchecked reaches claude's command line or the file system.
import { RunMode, type RunRequest } from "../../gen/claudecluster/v1/run_pb.js";
import { Code, ConnectError, invalidArgument } from "./errors.js";
import { isValidTaskId } from "./ids.js";

/** Permission modes the pinned claude accepts (`claude --help`). */
export const PERMISSION_MODES = ["acceptEdits", "auto", "bypassPermissions", "manual", "dontAsk", "plan"] as const;

export interface RunLimits {
  /** Largest prompt in bytes (UTF-8). */
  maxPromptBytes: number;
  /** Longest task timeout a request may ask for, in ms. */
  maxTimeoutMs: number;
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

  validateAgentOptions(req);
  validateWorkspace(req);
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
  if (a.resumeSessionId && !/^[A-Za-z0-9-]{1,64}$/.test(a.resumeSessionId)) {
    throw invalidArgument("agent.resume_session_id", "must be a claude session id (letters, digits and '-')");
  }
  if (!Number.isFinite(a.maxBudgetUsd) || a.maxBudgetUsd < 0) throw invalidArgument("agent.max_budget_usd", "must be zero or a positive amount");
}

function validateWorkspace(req: RunRequest): void {
  const source = req.workspace?.source;
  if (!source || source.case === undefined) return;
  if (source.case === "directory") {
    const dir = source.value;
    if (dir === "" || dir.length > 255) throw invalidArgument("workspace.directory", "must be 1-255 characters");
    // "." is the root itself. Other parts may not start with "." — that excludes "..", hidden directories and the
    // root's .tasks/ where fresh task workspaces live, private to their task.
    if (dir !== "." && (dir.startsWith("/") || dir.split(/[\\/]/).some((part) => part === "" || part.startsWith(".")))) {
      throw invalidArgument("workspace.directory", `must be "." or a relative path under the workspace root whose parts do not start with ".", got "${dir}"`);
    }
    if (!/^[A-Za-z0-9._/-]+$/.test(dir)) throw invalidArgument("workspace.directory", "may contain only letters, digits, '.', '_', '-' and '/'");
    return;
  }
  // Repository workspaces: the field is part of the contract; the clone itself comes with the hardening work.
  throw new ConnectError("workspace.repository: cloning a repository is not implemented yet; use workspace.directory", Code.Unimplemented);
}
