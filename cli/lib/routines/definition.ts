// A routine's definition as a user writes it, in a YAML file (`cc routine apply -f`) or as flags (`cc routine
// save`), turned into the Routine message. YAML is read with the `yaml` package's document API so that a mistake
// names its file and line: an unknown field, a wrong type, a missing prompt. The task's options are `cc run`'s
// (in camelCase), checked by the same code that checks `cc run`'s flags (buildRunRequest).
import { readFileSync } from "node:fs";
import { create } from "@bufbuild/protobuf";
import { UsageError } from "clipanion";
import { isMap, isScalar, isSeq, LineCounter, parseAllDocuments, type Node, type YAMLMap } from "yaml";
import { MissedRunPolicy, OverlapPolicy, RoutineSchema, type Routine } from "../../../gen/claudecluster/v1/routines_pb.js";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { buildRunRequest, parseTimeout, type RunFlags } from "../run-request.js";

/** What a routine is, in a user's words (YAML keys, or flags). */
export interface RoutineSpec {
  name: string;
  description?: string | undefined;
  prompt: string;
  defaults?: Record<string, string> | undefined;
  schedule?: { cron: string; timeZone?: string | undefined; overlap?: string | undefined; missed?: string | undefined } | undefined;
  retry?: { maxRetries?: number | undefined; backoff?: string | undefined } | undefined;
  webhook?: { url: string; secret?: string | undefined } | undefined;
  task?: RunFlags | undefined;
}

const OVERLAP: Record<string, OverlapPolicy> = { skip: OverlapPolicy.SKIP, queue: OverlapPolicy.QUEUE, allow: OverlapPolicy.ALLOW };
const MISSED: Record<string, MissedRunPolicy> = { skip: MissedRunPolicy.SKIP, "run-once": MissedRunPolicy.RUN_ONCE };

/** The Routine message for a spec; UsageError (with `where` in front) for what the router would refuse anyway. */
export function routineFromSpec(spec: RoutineSpec, where = ""): Routine {
  const at = where ? `${where}: ` : "";
  const fail = (message: string): never => {
    throw new UsageError(`${at}${message}`);
  };
  if (spec.schedule?.overlap !== undefined && !(spec.schedule.overlap in OVERLAP)) fail(`overlap must be skip, queue or allow; got "${spec.schedule.overlap}"`);
  if (spec.schedule?.missed !== undefined && !(spec.schedule.missed in MISSED)) fail(`missed must be skip or run-once; got "${spec.schedule.missed}"`);
  let backoffMs: number | undefined;
  try {
    backoffMs = spec.retry?.backoff !== undefined ? parseTimeout(spec.retry.backoff) : undefined;
  } catch {
    fail(`retry backoff "${spec.retry?.backoff}" is not a duration such as 30s, 5m or 1h`);
  }
  let task;
  try {
    // The prompt is the routine's; buildRunRequest only needs one to check the rest.
    task = buildRunRequest("(routine)", spec.task ?? {}, { requestId: "" });
  } catch (err) {
    fail(err instanceof Error ? err.message : String(err));
  }
  task!.prompt = "";
  task!.requestId = "";
  return create(RoutineSchema, {
    name: spec.name,
    description: spec.description ?? "",
    prompt: spec.prompt,
    defaults: spec.defaults ?? {},
    task: task!,
    ...(spec.schedule
      ? {
          schedule: {
            cron: spec.schedule.cron,
            timeZone: spec.schedule.timeZone ?? "",
            overlap: OVERLAP[spec.schedule.overlap ?? "skip"]!,
            missed: MISSED[spec.schedule.missed ?? "skip"]!,
          },
        }
      : {}),
    ...(spec.retry ? { retry: { maxRetries: spec.retry.maxRetries ?? 0, ...(backoffMs !== undefined ? { backoff: durationFromMs(backoffMs) } : {}) } } : {}),
    ...(spec.webhook ? { webhook: { url: spec.webhook.url, secret: spec.webhook.secret ?? "" } } : {}),
  });
}

// The fields a YAML routine may have, and each one's type.
type FieldType = "string" | "number" | "strings" | "map";
const TOP: Record<string, FieldType | "object"> = {
  name: "string",
  description: "string",
  prompt: "string",
  defaults: "map",
  schedule: "object",
  retry: "object",
  webhook: "object",
  task: "object",
};
const SCHEDULE: Record<string, FieldType> = { cron: "string", timeZone: "string", overlap: "string", missed: "string" };
const RETRY: Record<string, FieldType> = { maxRetries: "number", backoff: "string" };
const WEBHOOK: Record<string, FieldType> = { url: "string", secret: "string", secretEnv: "string" };
const TASK: Record<string, FieldType> = {
  model: "string",
  allowedTools: "strings",
  disallowedTools: "strings",
  permissionMode: "string",
  maxTurns: "number",
  systemPrompt: "string",
  appendSystemPrompt: "string",
  mcpConfig: "string",
  maxBudgetUsd: "number",
  worker: "string",
  labels: "map",
  cwd: "string",
  repo: "string",
  ref: "string",
  timeout: "string",
  egress: "string",
  addDirs: "strings",
  settings: "string",
  agents: "string",
  fallbackModel: "string",
  jsonSchema: "string",
};

/** Reads every routine in a YAML file (documents separated by `---`). */
export function readRoutineFile(path: string, env: Record<string, string | undefined>, text = readFileSync(path, "utf8")): Routine[] {
  const lines = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter: lines, prettyErrors: false });
  const line = (node: { range?: [number, number, number] | null | undefined } | null | undefined) => (node?.range ? lines.linePos(node.range[0]).line : 1);
  const fail = (node: Node | null | undefined, message: string): never => {
    throw new UsageError(`${path}:${line(node)}: ${message}`);
  };
  if (!Array.isArray(docs)) fail(null, "is not YAML");
  const routines: Routine[] = [];
  for (const doc of docs as Exclude<typeof docs, { empty: true }>) {
    const first = doc.errors[0];
    if (first) throw new UsageError(`${path}:${lines.linePos(first.pos[0]).line}: ${first.message.split("\n")[0]}`);
    if (doc.contents === null) continue;
    const top = mapOf(doc.contents as Node, "the routine", fail);
    const fields = readFields(top, TOP, "", fail) as Record<string, unknown>;
    for (const required of ["name", "prompt"]) if (fields[required] === undefined) fail(top, `the routine has no "${required}"`);
    const sub = (key: string, known: Record<string, FieldType>) => {
      const node = top.get(key, true) as Node | undefined;
      return node === undefined ? undefined : readFields(mapOf(node, key, fail), known, `${key}.`, fail);
    };
    const schedule = sub("schedule", SCHEDULE);
    if (schedule && schedule["cron"] === undefined) fail(top.get("schedule", true) as Node, 'schedule has no "cron"');
    const webhook = sub("webhook", WEBHOOK);
    let secret = webhook?.["secret"] as string | undefined;
    if (webhook?.["secretEnv"] !== undefined) {
      secret = env[webhook["secretEnv"] as string];
      if (secret === undefined) fail(top.get("webhook", true) as Node, `webhook.secretEnv names ${String(webhook["secretEnv"])}, which is not set in this environment`);
    }
    if (webhook && webhook["url"] === undefined) fail(top.get("webhook", true) as Node, 'webhook has no "url"');
    const task = sub("task", TASK) ?? {};
    const flags: RunFlags = {};
    for (const [k, v] of Object.entries(task)) {
      if (k === "labels") flags.labels = Object.entries(v as Record<string, string>).map(([lk, lv]) => `${lk}=${lv}`);
      else if (typeof v === "number") (flags as Record<string, unknown>)[k] = String(v);
      else (flags as Record<string, unknown>)[k] = v;
    }
    const retry = sub("retry", RETRY);
    routines.push(
      routineFromSpec(
        {
          name: fields["name"] as string,
          description: fields["description"] as string | undefined,
          prompt: fields["prompt"] as string,
          defaults: fields["defaults"] as Record<string, string> | undefined,
          schedule: schedule as RoutineSpec["schedule"],
          retry: retry as RoutineSpec["retry"],
          webhook: webhook ? { url: webhook["url"] as string, secret } : undefined,
          task: flags,
        },
        `${path}:${line(top)}`,
      ),
    );
  }
  return routines;
}

type Fail = (node: Node | null | undefined, message: string) => never;

function mapOf(node: Node, what: string, fail: Fail): YAMLMap {
  if (!isMap(node)) fail(node, `${what} must be a mapping of fields`);
  return node as YAMLMap;
}

/** Reads a mapping's fields, refusing unknown ones and wrong types, naming the field and its line. */
function readFields(map: YAMLMap, known: Record<string, FieldType | "object">, prefix: string, fail: Fail): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const pair of map.items) {
    const keyNode = pair.key as Node;
    const key = isScalar(keyNode) ? String(keyNode.value) : "";
    const type = known[key];
    if (type === undefined) fail(keyNode, `unknown field "${prefix}${key}" (known: ${Object.keys(known).join(", ")})`);
    if (type === "object") continue;
    const value = pair.value as Node | null;
    out[key] = valueOf(value ?? keyNode, type as FieldType, `${prefix}${key}`, value === null, fail);
  }
  return out;
}

function valueOf(node: Node, type: FieldType, field: string, empty: boolean, fail: Fail): unknown {
  const scalar = (n: Node) => (isScalar(n) && (typeof n.value === "string" || typeof n.value === "number" || typeof n.value === "boolean") ? n.value : undefined);
  if (empty) fail(node, `${field} is empty`);
  switch (type) {
    case "string": {
      const v = scalar(node);
      if (v === undefined || typeof v === "boolean") fail(node, `${field} must be a string`);
      return String(v);
    }
    case "number": {
      const v = scalar(node);
      if (typeof v !== "number") fail(node, `${field} must be a number`);
      return v;
    }
    case "strings": {
      if (isScalar(node) && typeof node.value === "string") return [node.value];
      if (!isSeq(node)) fail(node, `${field} must be a list of strings`);
      return (node as unknown as { items: Node[] }).items.map((item) => {
        const v = scalar(item);
        if (typeof v !== "string") fail(item, `${field} must be a list of strings`);
        return v;
      });
    }
    case "map": {
      if (!isMap(node)) fail(node, `${field} must be a mapping of strings`);
      const out: Record<string, string> = {};
      for (const pair of (node as YAMLMap).items) {
        const k = scalar(pair.key as Node);
        const v = pair.value ? scalar(pair.value as Node) : undefined;
        if (k === undefined || v === undefined) fail((pair.value as Node) ?? (pair.key as Node), `${field} must be a mapping of strings`);
        out[String(k)] = String(v);
      }
      return out;
    }
  }
}
