// The machine-readable output formats, shaped exactly like `claude -p --output-format ...` (verified against the
// real claude, see test/fixtures/cli), and the human summary line.
import type { Style } from "./style.js";

type Json = Record<string, unknown>;

export const OUTPUT_FORMATS = ["text", "json", "stream-json"] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/**
 * Keys claude adds to the `result` line only in stream-json with partial messages; `--output-format json` prints
 * the same object without them (same key order otherwise).
 */
const STREAM_ONLY_RESULT_KEYS = ["begun_message_ids", "model_usage_since_last_result"];

/** What `claude -p --output-format json` prints for this stream-json result line (without the newline). */
export function jsonResult(resultLine: string): string {
  let value: Json;
  try {
    value = JSON.parse(resultLine) as Json;
  } catch {
    return resultLine;
  }
  for (const key of STREAM_ONLY_RESULT_KEYS) delete value[key];
  return JSON.stringify(value);
}

/**
 * A stream-json line as `claude -p --output-format stream-json --verbose` would print it. The worker always asks
 * claude for partial messages; without --include-partial-messages the lines claude prints only in that mode
 * (`stream_event`, `system`/`status`) are dropped and the result line loses its partial-only `begun_message_ids`.
 * Returns undefined for a line to drop. Every other line passes byte for byte.
 */
export function streamJsonLine(line: string, type: string, subtype: string, includePartials: boolean): string | undefined {
  if (includePartials) return line;
  if (type === "stream_event") return undefined;
  if (type === "system" && subtype === "status") return undefined;
  if (type === "result") return line.replace(/,"begun_message_ids":\[[^\]]*\]/, "");
  return line;
}

export interface TextLimits {
  maxTurns?: number;
  maxBudgetUsd?: number;
}

/**
 * What `claude -p --output-format text` prints for a result: the answer with a trailing newline, or its one-line
 * error text (without a newline, as claude does).
 */
export function textResult(result: Json, limits: TextLimits = {}): string {
  const errors = Array.isArray(result["errors"]) ? (result["errors"] as unknown[]) : [];
  const firstError = typeof errors[0] === "string" ? errors[0] : undefined;
  switch (result["subtype"]) {
    case "success": {
      const text = typeof result["result"] === "string" ? result["result"] : "";
      return text.endsWith("\n") ? text : text + "\n";
    }
    case "error_during_execution":
      return "Execution error";
    case "error_max_turns": {
      const n = limits.maxTurns ?? /\((\d+)\)/.exec(firstError ?? "")?.[1];
      return `Error: Reached max turns${n === undefined ? "" : ` (${n})`}`;
    }
    case "error_max_budget_usd":
      return `Error: Exceeded USD budget${limits.maxBudgetUsd === undefined ? "" : ` (${limits.maxBudgetUsd})`}`;
    case "error_max_structured_output_retries":
      return `Error: ${firstError ?? "Failed to provide valid structured output after maximum retries"}`;
    default:
      return `Error: ${firstError ?? String(result["subtype"] ?? "unknown")}`;
  }
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const totalSeconds = Math.round(ms / 1000);
  const h = Math.floor(totalSeconds / 3600);
  const m = Math.floor((totalSeconds % 3600) / 60);
  const s = totalSeconds % 60;
  return h > 0 ? `${h}h ${String(m).padStart(2, "0")}m` : `${m}m ${String(s).padStart(2, "0")}s`;
}

export function formatCost(usd: number): string {
  if (usd === 0) return "$0";
  return usd < 0.01 ? `$${usd.toFixed(4)}` : `$${usd.toFixed(2)}`;
}

export interface Summary {
  ok: boolean;
  /** What happened, e.g. "done", "error_max_turns", "cancelled", "timed out". */
  outcome: string;
  durationMs?: number;
  turns?: number;
  costUsd?: number;
  sessionId?: string;
  workerId?: string;
  taskId?: string;
  /** Why it ended, for ends other than a normal completion. */
  message?: string;
}

/** The summary that `cc run` prints on stderr when a task ends. */
export function summaryText(s: Summary, style: Style): string {
  const parts: string[] = [];
  if (s.durationMs !== undefined) parts.push(formatDuration(s.durationMs));
  if (s.turns) parts.push(`${s.turns} ${s.turns === 1 ? "turn" : "turns"}`);
  if (s.costUsd !== undefined && s.costUsd > 0) parts.push(formatCost(s.costUsd));
  if (s.sessionId) parts.push(`session ${s.sessionId}`);
  if (s.workerId) parts.push(`worker ${s.workerId}`);
  if (s.taskId) parts.push(`task ${s.taskId}`);
  const head = s.ok ? style.green(`✓ ${s.outcome}`) : style.red(`✗ ${s.outcome}`);
  const line = `${head}${parts.length ? style.dim(` · ${parts.join(" · ")}`) : ""}\n`;
  return s.message ? `${line}${style.dim(`  ${s.message}`)}\n` : line;
}
