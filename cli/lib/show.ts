// `cc show`: one task's whole record, for people (a list of fields) or as JSON (the protobuf JSON of the Task).
// Pure: the record and the time in, text out.
import { toJson } from "@bufbuild/protobuf";
import { timestampMs, type Timestamp } from "@bufbuild/protobuf/wkt";
import { TaskSchema, type Task } from "../../gen/claudecluster/v1/router_pb.js";
import { ExitReason, FileChangeKind, RunMode, type ChangesSummary, type FileChange } from "../../gen/claudecluster/v1/run_pb.js";
import { changesText } from "./changes/summary.js";
import { formatCost, formatDuration } from "./formats.js";
import { taskStatusWord } from "./listings.js";
import { taskOutcome } from "./outcome.js";
import type { Style } from "./style.js";
import { formatAge } from "./table.js";

const PROMPT_SUMMARY_CHARS = 200;

function when(t: Timestamp | undefined, now: number): string | undefined {
  if (!t) return undefined;
  const ms = timestampMs(t);
  return `${new Date(ms).toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z")} (${formatAge(now - ms)} ago)`;
}

function exitText(task: Task): string | undefined {
  const exit = task.exit;
  if (!exit) return undefined;
  const reason = ExitReason[exit.reason]?.toLowerCase().replace(/_/g, " ") ?? "unknown";
  const how = exit.signal ? `ended by ${exit.signal}` : exit.exitCode >= 0 ? `exit code ${exit.exitCode}` : "";
  return [reason, how].filter(Boolean).join(", ") + (exit.message ? ` — ${exit.message}` : "");
}

/** The names in a JSON object (or in its `under` object): the MCP servers, the subagents. */
function keysOf(json: string, under?: string): string {
  try {
    const value = JSON.parse(json) as Record<string, unknown>;
    const names = Object.keys((under ? (value[under] as object | undefined) : value) ?? {});
    return names.length ? names.join(", ") : "(none)";
  } catch {
    return "(not JSON)";
  }
}

/** Files `cc show` lists by name; `cc diff --stat` has them all. */
const SHOWN_FILES = 10;

/** `2 files +12 -4 on cc/<id> · cc diff <id>`, and what went wrong recording them. */
function changesLine(taskId: string, c: ChangesSummary): string {
  const commits = c.commits > 0 ? ` (${c.commits} ${c.commits === 1 ? "commit" : "commits"} by claude)` : "";
  const where = c.branch ? ` on ${c.branch}${commits}` : commits;
  const next = c.filesTotal > 0 ? ` · \`cc diff ${taskId}\`, \`cc apply ${taskId}\`` : "";
  return `${changesText(c)}${where}${next}${c.error ? ` · note: ${c.error}` : ""}`;
}

const KIND_WORDS: Partial<Record<FileChangeKind, string>> = {
  [FileChangeKind.ADDED]: "added",
  [FileChangeKind.DELETED]: "deleted",
  [FileChangeKind.RENAMED]: "renamed",
  [FileChangeKind.TYPE_CHANGED]: "type changed",
};

function fileText(f: FileChange): string {
  const kind = KIND_WORDS[f.kind];
  const counts = f.binary ? "binary" : `+${f.insertions} -${f.deletions}`;
  const path = f.kind === FileChangeKind.RENAMED && f.oldPath ? `${f.oldPath} → ${f.path}` : f.path;
  return `${path} (${kind ? `${kind}, ` : ""}${counts})`;
}

function filesLine(taskId: string, c: ChangesSummary): string | undefined {
  if (c.files.length === 0) return undefined;
  const shown = c.files.slice(0, SHOWN_FILES).map(fileText).join(", ");
  const more = c.filesTotal - Math.min(c.files.length, SHOWN_FILES);
  return more > 0 ? `${shown} … and ${more} more (\`cc diff --stat ${taskId}\`)` : shown;
}

function pushLine(c: ChangesSummary): string | undefined {
  const p = c.push;
  if (!p) return undefined;
  if (p.error) return `${p.branch || "the branch"} to ${p.url} failed: ${p.error}`;
  return `${p.branch} to ${p.url}${p.commit ? ` at ${p.commit.slice(0, 12)}` : ""}${p.compareUrl ? ` · open a pull request: ${p.compareUrl}` : ""}`;
}

/** The fields worth showing, in order, as [label, value]; empty ones are left out. */
export function taskFields(task: Task, now: number): [string, string][] {
  const rows: [string, string | undefined][] = [];
  const add = (label: string, value: string | undefined | false) => {
    if (value) rows.push([label, value]);
  };
  const outcome = task.exit ? taskOutcome(task.exit, { taskId: task.id }) : undefined;
  const result = task.exit?.result;
  const agent = task.agent;
  add("Task", task.id);
  add("Status", taskStatusWord(task.status) + (outcome && !outcome.summary.ok ? ` (${outcome.summary.outcome})` : "") + (task.queuePosition ? `, position ${task.queuePosition} in the queue` : ""));
  add("Prompt", task.promptSummary + ([...task.promptSummary].length >= PROMPT_SUMMARY_CHARS ? " … (the first 200 characters)" : ""));
  add("Mode", task.mode === RunMode.INTERACTIVE ? "interactive" : "headless");
  add("Worker", (task.workerId || "-") + (task.requestedWorkerId && task.requestedWorkerId !== task.workerId ? ` (asked for ${task.requestedWorkerId})` : ""));
  add("Created", when(task.createdAt, now));
  const startedMs = task.startedAt ? timestampMs(task.startedAt) : undefined;
  const createdMs = task.createdAt ? timestampMs(task.createdAt) : undefined;
  add("Started", task.startedAt && `${when(task.startedAt, now)}${createdMs !== undefined ? `, ${formatDuration(startedMs! - createdMs)} after it was created` : ""}`);
  add("Ended", task.endedAt && `${when(task.endedAt, now)}${startedMs !== undefined ? `, after running ${formatDuration(timestampMs(task.endedAt) - startedMs)}` : ""}`);
  add("Exit", exitText(task));
  add("Attempts", task.attempts > 1 && String(task.attempts));
  add("Session", result?.sessionId || outcome?.summary.sessionId);
  add("Turns", result?.numTurns ? String(result.numTurns) : undefined);
  add("Cost", result?.totalCostUsd ? formatCost(result.totalCostUsd) : undefined);
  const u = result?.usage;
  add("Tokens", u && `${u.inputTokens} in · ${u.outputTokens} out · ${u.cacheCreationInputTokens} cache write · ${u.cacheReadInputTokens} cache read`);
  add("Duration", result?.durationMs ? `${formatDuration(Number(result.durationMs))} (API ${formatDuration(Number(result.durationApiMs))})` : undefined);
  add("Result", result?.result && result.result.split("\n")[0] + (result.result.includes("\n") ? ` … (${result.result.split("\n").length} lines; \`cc logs ${task.id}\`)` : ""));
  add("Structured", result?.structuredOutputJson);
  const changes = task.exit?.changes;
  add("Changes", changes && changesLine(task.id, changes));
  add("Files", changes && filesLine(task.id, changes));
  add("Pushed", changes && pushLine(changes));
  add("Model", agent?.model);
  add("Fallback", agent?.fallbackModel);
  add("Allowed", agent?.allowedTools.join(", "));
  add("Disallowed", agent?.disallowedTools.join(", "));
  add("Permissions", agent?.permissionMode);
  add("Max turns", agent?.maxTurns ? String(agent.maxTurns) : undefined);
  add("Max budget", agent?.maxBudgetUsd ? formatCost(agent.maxBudgetUsd) : undefined);
  add("System", agent?.systemPrompt && `${agent.systemPrompt.split("\n")[0]} (replaces the default)`);
  add("Append", agent?.appendSystemPrompt?.split("\n")[0]);
  add("Resumed", agent?.resumeSessionId);
  add("Add dirs", agent?.addDirs.join(", "));
  add("MCP", agent?.mcpConfigJson && keysOf(agent.mcpConfigJson, "mcpServers"));
  add("Agents", agent?.agentsJson && keysOf(agent.agentsJson));
  add("Settings", agent?.settingsJson);
  add("JSON schema", agent?.jsonSchema);
  const ws = task.workspace?.source;
  add("Workspace", ws?.case === "directory" ? `--cwd ${ws.value}` : ws?.case === "repository" ? `--repo ${ws.value.url}${ws.value.ref ? ` --ref ${ws.value.ref}` : ""}` : "a fresh directory of its own");
  add("Labels", Object.entries(task.labels).map(([k, v]) => `${k}=${v}`).join(", "));
  add("Timeout", task.timeout && formatDuration(Number(task.timeout.seconds) * 1000 + task.timeout.nanos / 1e6));
  add("Env", task.envNames.length > 0 && `${task.envNames.join(", ")} (the values are not kept)`);
  add("Detached", task.detach && "yes: it runs on with no one attached");
  add("Fan-out", task.spreadGroup);
  add("Routine", task.routine && `${task.routine}${task.retryOf ? ` (a retry of ${task.retryOf})` : ""}`);
  add("Request id", task.requestId);
  add("Log", task.lastSeq > 0n ? `events ${task.firstSeq > 1n ? task.firstSeq : 1n}–${task.lastSeq}${task.firstSeq > 1n ? ` (events 1–${task.firstSeq - 1n} were dropped from the router's log)` : ""}` : "no events yet");
  add("Attached", task.subscribers > 0 && `${task.subscribers} ${task.subscribers === 1 ? "caller" : "callers"}`);
  return rows.filter((r): r is [string, string] => r[1] !== undefined);
}

export function showText(task: Task, now: number, style: Style): string {
  const rows = taskFields(task, now);
  const width = Math.max(...rows.map(([label]) => label.length));
  return rows.map(([label, value]) => `${style.bold(label.padEnd(width))}  ${value.replace(/\n/g, " ")}`).join("\n") + "\n";
}

/** The protobuf JSON form of claudecluster.v1.Task, as `buf curl` would print it. */
export function showJson(task: Task): string {
  return JSON.stringify(toJson(TaskSchema, task), null, 2) + "\n";
}
