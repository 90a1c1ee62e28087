// Turns `cc run`'s flags into a RunRequest. Pure apart from reading an --mcp-config file; every mistake is a
// UsageError that says how to fix it.
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { create } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { UsageError } from "clipanion";
import { EgressMode, RunMode, RunRequestSchema, type RunRequest } from "../../gen/claudecluster/v1/run_pb.js";
import { duration } from "../../services/common/settings.js";
import { envNameProblem, envProblem } from "../../services/common/task-env.js";
import { PERMISSION_MODES } from "../../services/common/validate-run.js";

export interface RunFlags {
  /** `--setup-secret NAME` (repeatable). */
  setupSecrets?: string[] | undefined;
  /** `--no-cache`. */
  noCache?: boolean | undefined;
  model?: string | undefined;
  allowedTools?: string[] | undefined;
  disallowedTools?: string[] | undefined;
  permissionMode?: string | undefined;
  maxTurns?: string | undefined;
  systemPrompt?: string | undefined;
  appendSystemPrompt?: string | undefined;
  mcpConfig?: string | undefined;
  resume?: string | undefined;
  maxBudgetUsd?: string | undefined;
  worker?: string | undefined;
  labels?: string[] | undefined;
  cwd?: string | undefined;
  repo?: string | undefined;
  ref?: string | undefined;
  timeout?: string | undefined;
  egress?: string | undefined;
  interactive?: boolean | undefined;
  detach?: boolean | undefined;
  push?: boolean | undefined;
  pushBranch?: string | undefined;
  pushAuthor?: string | undefined;
  pushMessage?: string | undefined;
  env?: string[] | undefined;
  addDirs?: string[] | undefined;
  settings?: string | undefined;
  agents?: string | undefined;
  fallbackModel?: string | undefined;
  jsonSchema?: string | undefined;
}

export interface RunRequestContext {
  /** The local terminal's size, for interactive runs. */
  terminal?: { cols: number; rows: number } | undefined;
  readFile?: (path: string) => string;
  requestId?: string;
  /** Where `--env NAME` (without a value) takes the value from: the caller's environment. */
  callerEnv?: Record<string, string | undefined>;
}

/**
 * Tool lists as claude takes them: repeatable, and each value comma- or space-separated, except inside
 * parentheses (`Bash(git add:*, git commit:*)` is one entry).
 */
export function splitToolList(values: readonly string[] | undefined): string[] {
  const out: string[] = [];
  for (const value of values ?? []) {
    let depth = 0;
    let current = "";
    for (const ch of value) {
      if (ch === "(") depth += 1;
      if (ch === ")") depth = Math.max(0, depth - 1);
      if (depth === 0 && (ch === "," || /\s/.test(ch))) {
        if (current.trim()) out.push(current.trim());
        current = "";
        continue;
      }
      current += ch;
    }
    if (current.trim()) out.push(current.trim());
  }
  return out;
}

/** `k=v` (repeatable; a value may also hold several comma-separated pairs). */
export function parseLabels(values: readonly string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const value of values ?? []) {
    for (const pair of value.split(",").map((p) => p.trim()).filter(Boolean)) {
      const eq = pair.indexOf("=");
      if (eq <= 0) throw new UsageError(`--label expects key=value, got "${pair}" (e.g. --label region=eu)`);
      out[pair.slice(0, eq).trim()] = pair.slice(eq + 1).trim();
    }
  }
  return out;
}

function positiveInteger(flag: string, raw: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${flag} expects a whole number of 1 or more, got "${raw}"`);
  return n;
}

function positiveAmount(flag: string, raw: string): number {
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`${flag} expects an amount in US dollars above 0, got "${raw}"`);
  return n;
}

/**
 * A flag whose value is a JSON object given inline or as the path of a JSON file on this machine (`--mcp-config`,
 * `--settings`, `--agents`, `--json-schema`): the request carries the document, since the worker cannot read the
 * caller's files.
 */
export function jsonObjectArgument(flag: string, raw: string, readFile: (path: string) => string, example: string): string {
  const trimmed = raw.trim();
  let text = trimmed;
  if (!trimmed.startsWith("{")) {
    try {
      text = readFile(trimmed);
    } catch (err) {
      throw new UsageError(`${flag}: cannot read ${trimmed}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}; give a JSON file or a JSON string`);
    }
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new UsageError(`${flag}: ${trimmed.startsWith("{") ? "the value" : trimmed} is not valid JSON`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new UsageError(`${flag}: expected a JSON object such as ${example}`);
  }
  return JSON.stringify(parsed);
}

/** `--mcp-config` is a JSON document or the path of a JSON file; the request carries the document. */
export function mcpConfigJson(raw: string, readFile: (path: string) => string): string {
  return jsonObjectArgument("--mcp-config", raw, readFile, '{"mcpServers": {...}}');
}

/**
 * `--env NAME=VALUE`, or `--env NAME` for the caller's own value (as `docker run -e` does). Names the worker
 * reserves are refused here already, so a typo costs no round trip; values are never echoed.
 */
export function parseEnv(values: readonly string[] | undefined, callerEnv: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const value of values ?? []) {
    const eq = value.indexOf("=");
    const name = eq < 0 ? value : value.slice(0, eq);
    const problem = envNameProblem(name);
    if (problem) throw new UsageError(`--env: ${problem}`);
    if (eq >= 0) out[name] = value.slice(eq + 1);
    else {
      const own = callerEnv[name];
      if (own === undefined) throw new UsageError(`--env ${name}: ${name} is not set in your environment; give --env ${name}=VALUE`);
      out[name] = own;
    }
  }
  const problem = envProblem(out);
  if (problem) throw new UsageError(`--env: ${problem}`);
  return out;
}

/**
 * `--setup-secret NAME`: the value of NAME in the caller's environment, for the environment's setup script only.
 * Never NAME=VALUE on the command line, where shell history and `ps` would keep it.
 */
export function parseSetupSecrets(names: readonly string[] | undefined, callerEnv: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of names ?? []) {
    if (name.includes("=")) throw new UsageError(`--setup-secret takes a name, not NAME=VALUE: export ${name.slice(0, name.indexOf("="))} and pass --setup-secret ${name.slice(0, name.indexOf("="))}`);
    const problem = envNameProblem(name);
    if (problem) throw new UsageError(`--setup-secret: ${problem}`);
    const value = callerEnv[name];
    if (value === undefined) throw new UsageError(`--setup-secret ${name}: ${name} is not set in your environment; export it first`);
    out[name] = value;
  }
  const problem = envProblem(out);
  if (problem) throw new UsageError(`--setup-secret: ${problem}`);
  return out;
}

/** `--cwd` and `--add-dir` name directories under the worker's workspace root. */
function workerDirectory(flag: string, dir: string): string {
  if (dir === "" || dir.startsWith("/") || dir.split("/").includes("..")) {
    throw new UsageError(`${flag} is a directory name under the worker's workspace root, without "/" at the start or "..", got "${dir}"`);
  }
  return dir;
}

export function parseTimeout(raw: string): number {
  let ms: number;
  try {
    ms = duration(raw);
  } catch {
    throw new UsageError(`--timeout expects a duration such as 30s, 5m or 1h, got "${raw}"`);
  }
  if (ms <= 0) throw new UsageError("--timeout must be more than 0");
  return ms;
}

/** `--egress none|open|host,*.domain,@preset…`; whether the worker allows it is the worker's to say. */
function parseEgress(raw: string): { mode: EgressMode; allow: string[] } {
  const value = raw.trim();
  if (value === "none") return { mode: EgressMode.NONE, allow: [] };
  if (value === "open") return { mode: EgressMode.OPEN, allow: [] };
  const allow = value.split(",").map((e) => e.trim()).filter(Boolean);
  if (allow.length === 0) throw new UsageError('--egress takes none, open, or hosts and @presets separated by commas, e.g. --egress "@package-registries,github.com"');
  return { mode: EgressMode.ALLOWLIST, allow };
}

export function buildRunRequest(prompt: string, flags: RunFlags, ctx: RunRequestContext = {}): RunRequest {
  const readFile = ctx.readFile ?? ((path: string) => readFileSync(path, "utf8"));
  if (flags.permissionMode !== undefined && !(PERMISSION_MODES as readonly string[]).includes(flags.permissionMode)) {
    throw new UsageError(`--permission-mode must be one of ${PERMISSION_MODES.join(", ")}; got "${flags.permissionMode}"`);
  }
  if (flags.ref !== undefined && flags.repo === undefined) throw new UsageError("--ref needs --repo URL");
  if (flags.repo !== undefined && flags.cwd !== undefined) throw new UsageError("give either --cwd (a directory on the worker) or --repo (a repository to clone), not both");
  if (flags.cwd !== undefined) workerDirectory("--cwd", flags.cwd);
  if (flags.jsonSchema !== undefined && flags.interactive) throw new UsageError("--json-schema applies to headless runs, not to -i");

  if (!flags.push && (flags.pushBranch !== undefined || flags.pushAuthor !== undefined || flags.pushMessage !== undefined)) {
    throw new UsageError("--push-branch, --push-author and --push-message go with --push");
  }
  if (flags.push && flags.repo === undefined) throw new UsageError("--push needs --repo URL: the repository the task's branch is pushed to");
  if (flags.pushAuthor !== undefined && !/^[^<>\n]+<[^<>\s]+>$/.test(flags.pushAuthor.trim())) throw new UsageError(`--push-author expects 'Name <email>', got "${flags.pushAuthor}"`);

  const interactive = flags.interactive === true;
  if (!interactive && prompt.trim() === "") throw new UsageError("give a prompt: cc run \"your prompt\" (or `cc run -` to read it from stdin)");

  const agent = {
    model: flags.model ?? "",
    allowedTools: splitToolList(flags.allowedTools),
    disallowedTools: splitToolList(flags.disallowedTools),
    permissionMode: flags.permissionMode ?? "",
    maxTurns: flags.maxTurns !== undefined ? positiveInteger("--max-turns", flags.maxTurns) : 0,
    systemPrompt: flags.systemPrompt ?? "",
    appendSystemPrompt: flags.appendSystemPrompt ?? "",
    mcpConfigJson: flags.mcpConfig !== undefined ? mcpConfigJson(flags.mcpConfig, readFile) : "",
    resumeSessionId: flags.resume ?? "",
    maxBudgetUsd: flags.maxBudgetUsd !== undefined ? positiveAmount("--max-budget-usd", flags.maxBudgetUsd) : 0,
    addDirs: (flags.addDirs ?? []).map((d) => workerDirectory("--add-dir", d)),
    settingsJson: flags.settings !== undefined ? jsonObjectArgument("--settings", flags.settings, readFile, '{"permissions": {...}}') : "",
    agentsJson: flags.agents !== undefined ? jsonObjectArgument("--agents", flags.agents, readFile, '{"reviewer": {"description": "...", "prompt": "..."}}') : "",
    fallbackModel: flags.fallbackModel ?? "",
    jsonSchema: flags.jsonSchema !== undefined ? jsonObjectArgument("--json-schema", flags.jsonSchema, readFile, '{"type": "object", "properties": {...}}') : "",
  };

  const push = flags.push ? { push: { branch: flags.pushBranch ?? "", author: flags.pushAuthor?.trim() ?? "", message: flags.pushMessage ?? "" } } : {};
  const workspace =
    flags.repo !== undefined
      ? { source: { case: "repository" as const, value: { url: flags.repo, ref: flags.ref ?? "" } }, ...push }
      : flags.cwd !== undefined
        ? { source: { case: "directory" as const, value: flags.cwd } }
        : undefined;

  return create(RunRequestSchema, {
    prompt,
    mode: interactive ? RunMode.INTERACTIVE : RunMode.HEADLESS,
    agent,
    ...(workspace ? { workspace } : {}),
    ...(interactive && ctx.terminal ? { terminal: { cols: clamp(ctx.terminal.cols), rows: clamp(ctx.terminal.rows) } } : {}),
    ...(flags.timeout !== undefined ? { timeout: durationFromMs(parseTimeout(flags.timeout)) } : {}),
    ...(flags.egress !== undefined ? { egress: parseEgress(flags.egress) } : {}),
    labels: parseLabels(flags.labels),
    workerId: flags.worker ?? "",
    requestId: ctx.requestId ?? randomUUID(),
    env: parseEnv(flags.env, ctx.callerEnv ?? {}),
    setupSecrets: parseSetupSecrets(flags.setupSecrets, ctx.callerEnv ?? {}),
    noCache: flags.noCache === true,
    // Interactive tasks are always detachable: Ctrl-P Ctrl-Q must leave them running (the worker's idle timeout
    // ends one nobody comes back to).
    detach: flags.detach === true || interactive,
  });
}

function clamp(n: number): number {
  return Math.max(1, Math.min(1000, Math.trunc(n)));
}
