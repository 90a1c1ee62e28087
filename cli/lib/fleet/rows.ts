// How many tasks look on screen: one status row each while they run (a terminal), one line per change otherwise,
// and the summary table and JSON at the end. Pure: progress records in, strings out (golden files pin them).
import { ExitCode } from "../../exit-codes.js";
import { formatCost, formatDuration } from "../formats.js";
import type { Style } from "../style.js";
import { formatRows, formatTable, oneLine } from "../table.js";
import { durationOf, resultKind, statusWord, type ResultKind, type TaskProgress } from "./progress.js";

const SPINNER = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

/** The mark in front of a row: a spinner frame while it is active, ✓ ✗ or – once it ended. */
function mark(p: Readonly<TaskProgress>, frame: number): string {
  if (p.phase === "waiting") return "·";
  if (p.phase !== "ended") return SPINNER[frame % SPINNER.length]!;
  const kind = resultKind(p);
  return kind === "succeeded" ? "✓" : kind === "failed" ? "✗" : "–";
}

function colorMark(m: string, style: Style): string {
  if (m === "✓") return style.green(m);
  if (m === "✗") return style.red(m);
  if (m === "–" || m === "·") return style.dim(m);
  return style.cyan(m);
}

/** Why a task did not succeed, in one line: the router's or worker's message, else claude's own error text. */
export function failureNote(p: Readonly<TaskProgress>): string {
  if (p.error !== undefined) return p.error;
  const s = p.outcome?.summary;
  if (!s || s.ok) return "";
  return s.message || oneLine(p.exited?.result?.result ?? "");
}

/** What the last column of a row says: the latest line while running, how it ended afterwards. */
function rowNote(p: Readonly<TaskProgress>): string {
  if (p.error !== undefined) return p.error;
  if (p.outcome) {
    const s = p.outcome.summary;
    const parts = [s.turns ? `${s.turns} ${s.turns === 1 ? "turn" : "turns"}` : "", s.costUsd ? formatCost(s.costUsd) : ""].filter(Boolean);
    return [parts.join(" · "), s.ok ? oneLine(p.exited?.result?.result ?? "") : failureNote(p)].filter(Boolean).join(" · ");
  }
  return p.latestLine;
}

/**
 * The live rows, one per task, aligned: mark, label, status, worker, task id, elapsed time, and the latest line
 * (cut to `width`). `frame` turns the spinners; `now` is cc's clock.
 */
export function progressRows(tasks: readonly Readonly<TaskProgress>[], now: number, width: number, style: Style, frame = 0): string[] {
  const marks = tasks.map((p) => mark(p, frame));
  const cells = tasks.map((p, i) => {
    const elapsed = durationOf(p, now, true);
    return [marks[i]!, p.label, statusWord(p), p.workerId || "-", p.taskId || "-", elapsed === undefined ? "" : formatDuration(elapsed), rowNote(p)];
  });
  return formatRows(cells, width - 1).map((line, i) => colorMark(marks[i]!, style) + line.slice(marks[i]!.length));
}

/** Without a terminal: a line for each change of a task's state (queued, started, ended), prefixed with its label. */
export function progressChange(before: Readonly<TaskProgress> | undefined, p: Readonly<TaskProgress>, style: Style): string | undefined {
  const tag = style.dim(`[${p.label}]`);
  if (p.phase === "ended" && before?.phase !== "ended") {
    if (p.skipped) return `${tag} – not started`;
    if (p.error !== undefined) return `${tag} ${style.red("✗")} ${statusWord(p)}: ${p.error}`;
    const s = p.outcome!.summary;
    const parts = [
      s.durationMs !== undefined ? formatDuration(s.durationMs) : "",
      s.turns ? `${s.turns} ${s.turns === 1 ? "turn" : "turns"}` : "",
      s.costUsd ? formatCost(s.costUsd) : "",
      p.taskId ? `task ${p.taskId}` : "",
    ].filter(Boolean);
    const head = s.ok ? style.green(`✓ ${s.outcome}`) : resultKind(p) === "cancelled" ? `– ${s.outcome}` : style.red(`✗ ${s.outcome}`);
    const why = failureNote(p);
    return `${tag} ${head}${parts.length ? ` · ${parts.join(" · ")}` : ""}${why ? ` · ${why}` : ""}`;
  }
  if (p.phase === "queued" && (before?.phase !== "queued" || before.queuePosition !== p.queuePosition)) {
    return `${tag} queued${p.queuePosition ? ` (position ${p.queuePosition})` : ""}${p.taskId ? ` · task ${p.taskId}` : ""}`;
  }
  if (p.workerId && !before?.workerId) return `${tag} started on ${p.workerId} · task ${p.taskId}`;
  return undefined;
}

/** The table printed when they have all ended. `first` names the first column (ATTEMPT, ENTRY). */
export function summaryTable(tasks: readonly Readonly<TaskProgress>[], first: string, width = Infinity): string {
  const rows = tasks.map((p) => {
    const duration = durationOf(p, p.endedAt ?? p.sentAt ?? 0);
    const s = p.outcome?.summary;
    return [
      p.label,
      p.taskId || "-",
      p.workerId || "-",
      statusWord(p),
      s?.turns ? String(s.turns) : p.turns ? String(p.turns) : "-",
      s?.costUsd ? formatCost(s.costUsd) : "-",
      duration === undefined ? "-" : formatDuration(duration),
      failureNote(p),
    ];
  });
  return formatTable([first, "TASK", "WORKER", "STATUS", "TURNS", "COST", "DURATION", "NOTE"], rows, width);
}

export type Counts = Record<ResultKind, number>;

export function countResults(tasks: readonly Readonly<TaskProgress>[]): Counts {
  const counts: Counts = { succeeded: 0, failed: 0, cancelled: 0, not_started: 0 };
  for (const p of tasks) counts[resultKind(p)] += 1;
  return counts;
}

/** "3 succeeded, 1 failed" (zero counts left out). */
export function countsLine(counts: Counts): string {
  const words: [keyof Counts, string][] = [["succeeded", "succeeded"], ["failed", "failed"], ["cancelled", "cancelled"], ["not_started", "not started"]];
  const parts = words.filter(([k]) => counts[k] > 0).map(([k, w]) => `${counts[k]} ${w}`);
  return parts.length ? parts.join(", ") : "nothing ran";
}

/**
 * One task's entry in `--json` output (docs: README, `cc batch --help`). Field names and meanings are stable; new
 * fields may be added.
 */
export function taskResultJson(p: Readonly<TaskProgress>): Record<string, unknown> {
  const s = p.outcome?.summary;
  const result = p.exited?.result;
  const duration = durationOf(p, p.endedAt ?? 0);
  let structured: unknown;
  if (result?.structuredOutputJson) {
    try {
      structured = JSON.parse(result.structuredOutputJson);
    } catch {
      structured = undefined;
    }
  }
  return {
    index: p.index,
    label: p.label,
    taskId: p.taskId || null,
    workerId: p.workerId || null,
    status: resultKind(p),
    outcome: p.skipped ? "not started" : p.error !== undefined ? statusWord(p) : s?.outcome ?? null,
    exitCode: p.skipped ? null : p.error !== undefined ? (p.errorExitCode ?? ExitCode.AgentError) : (p.outcome?.exitCode ?? null),
    turns: s?.turns ?? (p.turns || null),
    costUsd: s?.costUsd ?? null,
    durationMs: duration === undefined || p.skipped ? null : Math.round(duration),
    sessionId: s?.sessionId ?? null,
    result: result?.result ?? null,
    ...(structured !== undefined ? { structuredOutput: structured } : {}),
    message: failureNote(p) || null,
  };
}
