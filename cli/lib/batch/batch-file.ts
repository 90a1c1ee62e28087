// A `cc batch` file: one task per entry, each with a prompt and any `cc run` option, as JSON Lines (one JSON object
// a line) or YAML (a list of mappings, or a mapping whose `tasks` is one). Every entry is checked, and becomes a
// RunRequest, before anything starts; a mistake names the line it is on.
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { dirname, isAbsolute, join } from "node:path";
import { UsageError } from "clipanion";
import type { RunRequest } from "../../../gen/claudecluster/v1/run_pb.js";
import { buildRunRequest, type RunFlags } from "../run-request.js";

export interface BatchEntry {
  /** 1-based place in the file. */
  index: number;
  /** The line the entry starts on. */
  line: number;
  /** Its `name`, if it has one. */
  name?: string;
  request: RunRequest;
}

/** How an entry's value becomes a `cc run` flag value. */
type Kind = "text" | "number" | "list" | "pairs" | "json" | "boolean";

/**
 * The entry keys: `cc run`'s long option names without the dashes (camelCase works too). Options that make no sense
 * for a batch (-i, -d, --output-format, --continue, -n and the router options) are not among them.
 */
export const ENTRY_KEYS: Record<string, { flag: keyof RunFlags; kind: Kind }> = {
  model: { flag: "model", kind: "text" },
  "fallback-model": { flag: "fallbackModel", kind: "text" },
  "allowed-tools": { flag: "allowedTools", kind: "list" },
  "disallowed-tools": { flag: "disallowedTools", kind: "list" },
  "permission-mode": { flag: "permissionMode", kind: "text" },
  "max-turns": { flag: "maxTurns", kind: "number" },
  "max-budget-usd": { flag: "maxBudgetUsd", kind: "number" },
  "system-prompt": { flag: "systemPrompt", kind: "text" },
  "append-system-prompt": { flag: "appendSystemPrompt", kind: "text" },
  "mcp-config": { flag: "mcpConfig", kind: "json" },
  settings: { flag: "settings", kind: "json" },
  agents: { flag: "agents", kind: "json" },
  "json-schema": { flag: "jsonSchema", kind: "json" },
  resume: { flag: "resume", kind: "text" },
  worker: { flag: "worker", kind: "text" },
  label: { flag: "labels", kind: "pairs" },
  cwd: { flag: "cwd", kind: "text" },
  repo: { flag: "repo", kind: "text" },
  ref: { flag: "ref", kind: "text" },
  timeout: { flag: "timeout", kind: "text" },
  env: { flag: "env", kind: "pairs" },
  "add-dir": { flag: "addDirs", kind: "list" },
  egress: { flag: "egress", kind: "text" },
  "setup-secret": { flag: "setupSecrets", kind: "list" },
  "no-cache": { flag: "noCache", kind: "boolean" },
};

/** `cc run` options a batch entry cannot take, and why. */
export const NOT_IN_BATCH: Record<string, string> = {
  interactive: "batch tasks are headless",
  detach: "cc batch follows every task to its end",
  "output-format": "use `cc batch --json`",
  "include-partial-messages": "use `cc batch --json`",
  continue: "give the session with resume",
  count: "repeat the entry instead",
  router: "give --router to cc batch",
  token: "give --token to cc batch",
  profile: "give --profile to cc batch",
  approve: "cc batch answers no permission requests; allow tools up front with allowed-tools",
  upload: "batch tasks upload no checkout; give repo, and each task clones it",
  apply: "apply a task's changes after the batch, with `cc apply <task>`",
  push: "not in a batch yet: push a task's branch with `cc run --repo URL --push`",
  "push-branch": "not in a batch yet: push a task's branch with `cc run --repo URL --push`",
  "push-author": "not in a batch yet: push a task's branch with `cc run --repo URL --push`",
  "push-message": "not in a batch yet: push a task's branch with `cc run --repo URL --push`",
};

const camel = (kebab: string) => kebab.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
const KEY_BY_NAME = new Map(Object.keys(ENTRY_KEYS).flatMap((k) => [[k, k], [camel(k), k]] as [string, string][]));
const ALSO = new Map([["labels", "label"], ["addDirs", "add-dir"], ["add-dirs", "add-dir"], ["allowedTools", "allowed-tools"], ["disallowedTools", "disallowed-tools"]]);

export interface ReadBatchOptions {
  /** How errors name the file: its path, or "stdin". */
  source: string;
  /** The caller's environment, for `env` entries without a value. */
  callerEnv: Record<string, string | undefined>;
  /** Relative paths in entries (settings, mcp-config files) are read from here. */
  baseDir: string;
  readFile?: (path: string) => string;
}

/** Which format a batch file is in: by its name, else by its first line that is not blank or a comment. */
export function batchFormat(name: string, text: string): "jsonl" | "yaml" {
  if (/\.ya?ml$/i.test(name)) return "yaml";
  if (/\.(jsonl|ndjson|json)$/i.test(name)) return "jsonl";
  const first = text.split("\n").find((l) => l.trim() !== "" && !l.trim().startsWith("#"));
  return first?.trim().startsWith("{") || first?.trim().startsWith('"') ? "jsonl" : "yaml";
}

/** Parses and checks a whole batch file. */
export async function readBatch(text: string, format: "jsonl" | "yaml", o: ReadBatchOptions): Promise<BatchEntry[]> {
  const raw = format === "jsonl" ? jsonLines(text, o.source) : await yamlEntries(text, o.source);
  if (raw.length === 0) throw new UsageError(`${o.source} has no tasks: give one entry per task, each with a prompt`);
  return raw.map(({ line, value }, i) => entry(value, i + 1, line, o));
}

function jsonLines(text: string, source: string): { line: number; value: unknown }[] {
  const out: { line: number; value: unknown }[] = [];
  text.split("\n").forEach((l, i) => {
    if (l.trim() === "") return;
    try {
      out.push({ line: i + 1, value: JSON.parse(l) as unknown });
    } catch (err) {
      throw new UsageError(`${source} line ${i + 1}: not valid JSON (${(err as Error).message}); each line is one task, e.g. {"prompt": "fix the tests", "model": "sonnet"}`);
    }
  });
  return out;
}

async function yamlEntries(text: string, source: string): Promise<{ line: number; value: unknown }[]> {
  // Loaded only for YAML files. yaml is CommonJS: bundled, its exports come as the module's default.
  const loaded = (await import("yaml")) as typeof import("yaml") & { default?: typeof import("yaml") };
  const { LineCounter, parseDocument, isMap, isSeq } = typeof loaded.LineCounter === "function" ? loaded : loaded.default!;
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const problem = doc.errors[0];
  if (problem) {
    const line = problem.linePos?.[0].line ?? lines.linePos(problem.pos[0]).line;
    throw new UsageError(`${source} line ${line}: not valid YAML (${problem.message.split("\n")[0]})`);
  }
  let list: unknown = doc.contents;
  if (isMap(list)) list = list.get("tasks", true);
  if (!isSeq(list)) throw new UsageError(`${source}: expected a list of tasks (each "- prompt: ..."), or a mapping with a "tasks" list`);
  const values = list.toJSON() as unknown[];
  return list.items.map((item, i) => {
    const offset = (item as { range?: [number, number, number] }).range?.[0] ?? 0;
    return { line: lines.linePos(offset).line, value: values[i] };
  });
}

function entry(value: unknown, index: number, line: number, o: ReadBatchOptions): BatchEntry {
  const where = `${o.source} line ${line}`;
  const fail = (message: string): never => {
    throw new UsageError(`${where}: ${message}`);
  };
  const fields: Record<string, unknown> = typeof value === "string" ? { prompt: value } : isObject(value) ? value : fail('expected a task: an object with a "prompt" (or just the prompt as a string)');
  const prompt = fields["prompt"];
  if (typeof prompt !== "string" || prompt.trim() === "") fail('needs a "prompt": the text for claude');
  const name = fields["name"];
  if (name !== undefined && (typeof name !== "string" || name === "" || /[\s\u0000-\u001f]/u.test(name) || name.length > 40)) {
    fail('"name" must be 1-40 characters without spaces, shown in the progress and the table');
  }
  const flags: RunFlags = {};
  for (const [key, v] of Object.entries(fields)) {
    if (key === "prompt" || key === "name") continue;
    const known = KEY_BY_NAME.get(key) ?? ALSO.get(key);
    if (!known) {
      const why = NOT_IN_BATCH[key];
      fail(why ? `"${key}" does not go in a batch entry: ${why}` : `unknown key "${key}"; entries take "prompt", "name" and cc run's options without the dashes (${Object.keys(ENTRY_KEYS).join(", ")})`);
    }
    const spec = ENTRY_KEYS[known!]!;
    (flags as Record<string, unknown>)[spec.flag] = flagValue(known!, spec.kind, v, fail);
  }
  const readFile = o.readFile ?? ((path: string) => readFileSync(isAbsolute(path) ? path : join(o.baseDir, path), "utf8"));
  try {
    const request = buildRunRequest(prompt as string, flags, { callerEnv: o.callerEnv, requestId: randomUUID(), readFile });
    return { index, line, ...(typeof name === "string" ? { name } : {}), request };
  } catch (err) {
    // cc run's own checks, worded for flags: say which entry, with the entry's key names.
    if (err instanceof UsageError) fail(err.message.replace(/--([a-z][a-z-]*)/g, (m, flag: string) => (KEY_BY_NAME.has(flag) ? `"${flag}"` : m)));
    throw err;
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function flagValue(key: string, kind: Kind, v: unknown, fail: (m: string) => never): string | string[] | boolean {
  const scalar = (x: unknown): string => (typeof x === "string" ? x : typeof x === "number" || typeof x === "boolean" ? String(x) : fail(`"${key}" takes text, got ${JSON.stringify(x)}`));
  switch (kind) {
    case "text":
      return Array.isArray(v) && key === "fallback-model" ? v.map(scalar).join(",") : scalar(v);
    case "number":
      if (typeof v !== "number" && typeof v !== "string") fail(`"${key}" takes a number, got ${JSON.stringify(v)}`);
      return String(v);
    case "list":
      return Array.isArray(v) ? v.map(scalar) : [scalar(v)];
    case "pairs":
      // {"KEY": "value"} or ["KEY=value", "KEY"] (as on the command line).
      if (isObject(v)) return Object.entries(v).map(([k, x]) => `${k}=${scalar(x)}`);
      return Array.isArray(v) ? v.map(scalar) : [scalar(v)];
    case "json":
      // A JSON object inline, or the path of a JSON file.
      return isObject(v) ? JSON.stringify(v) : scalar(v);
    case "boolean":
      if (typeof v !== "boolean") fail(`"${key}" takes true or false, got ${JSON.stringify(v)}`);
      return v;
  }
}

/** The directory relative paths in a batch file are read from. */
export function batchBaseDir(path: string): string {
  return path === "-" ? process.cwd() : dirname(path);
}
