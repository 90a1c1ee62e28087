// What a figure reports, how a run is written to bench/results/<date>.json, and the table printed to the terminal
// and regenerated in docs/benchmarks.md between its markers.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { machineLine, type Machine } from "./machine.js";

export type Status = "pass" | "miss" | "not available" | "error";

export interface Quantity {
  value: number;
  /** "ms", "MiB", "MiB/s", ... */
  unit: string;
  /** What was measured, e.g. "cc run → router → worker". */
  label: string;
}

/** The figure compared with its target: a ratio (×) or a difference (ms, MiB, MiB/session). */
export interface Target {
  op: "<=" | ">=";
  value: number;
  unit: string;
}

export interface Row {
  figure: number;
  /** Stable id, e.g. "latency-p99". */
  key: string;
  title: string;
  measured?: Quantity;
  baseline?: Quantity;
  /** The number compared with the target, in the target's unit. */
  result?: number;
  target: Target;
  status: Status;
  /** Runs the medians were taken over. */
  runs: number;
  /** How it was measured, and anything that qualifies the number; for "not available" and "error", why. */
  notes: string[];
  /** Per-run values, for anyone who wants more than the median. */
  samples?: Record<string, number[]>;
  /** The machine's 1-minute load average when the figure started and ended: other work skews every number. */
  load?: { before: number; after: number };
}

export interface BenchRun {
  date: string;
  startedAt: string;
  finishedAt: string;
  command: string;
  quick: boolean;
  figuresRequested: string[];
  machine: Machine;
  /** 1-minute load average when the run ended (the machine records it at the start). */
  loadAverageAfter: number;
  rows: Row[];
}

export function judge(result: number, target: Target): Status {
  if (!Number.isFinite(result)) return "error";
  return (target.op === "<=" ? result <= target.value : result >= target.value) ? "pass" : "miss";
}

/** A measured row: status from the target. */
export function row(fields: Omit<Row, "status"> & { result: number }): Row {
  return { ...fields, status: judge(fields.result, fields.target) };
}

function num(value: number): string {
  const abs = Math.abs(value);
  if (abs >= 100) return value.toFixed(0);
  if (abs >= 10) return value.toFixed(1);
  if (abs >= 1) return value.toFixed(2);
  return value.toFixed(3);
}

export function formatQuantity(q: Quantity | undefined, withLabel = true): string {
  if (!q) return "—";
  const text = q.unit === "×" ? `${num(q.value)}×` : `${num(q.value)} ${q.unit}`;
  return withLabel ? `${text} (${q.label})` : text;
}

function formatResult(r: Row): string {
  if (r.result === undefined || !Number.isFinite(r.result)) return "—";
  if (r.target.unit === "×") return `${r.result.toFixed(2)}×`;
  const sign = r.target.unit === "ms" && r.result > 0 ? "+" : "";
  return `${sign}${num(r.result)} ${r.target.unit}`;
}

export function formatTarget(t: Target): string {
  const op = t.op === "<=" ? "≤" : "≥";
  return t.unit === "×" ? `${op} ${t.value.toFixed(2)}×` : `${op} ${t.value} ${t.unit}`;
}

const HEADER = ["#", "figure", "measured", "baseline", "result", "target", "status", "runs"];

function cells(r: Row): string[] {
  return [String(r.figure), r.title, formatQuantity(r.measured), formatQuantity(r.baseline), formatResult(r), formatTarget(r.target), r.status, String(r.runs)];
}

/** A plain-text table for the terminal. */
export function textTable(rows: Row[]): string {
  const table = [HEADER, ...rows.map(cells)];
  const widths = HEADER.map((_, i) => Math.max(...table.map((line) => [...line[i]!].length)));
  return table.map((line) => line.map((cell, i) => cell + " ".repeat(widths[i]! - [...cell].length)).join("  ").trimEnd()).join("\n");
}

export function markdownTable(rows: Row[]): string {
  const escape = (cell: string) => cell.replace(/\|/g, "\\|");
  const lines = [`| ${HEADER.join(" | ")} |`, `| ${HEADER.map(() => "---").join(" | ")} |`];
  for (const r of rows) lines.push(`| ${cells(r).map(escape).join(" | ")} |`);
  return lines.join("\n");
}

/** Everything between the docs markers: when, where, how, the table, and each row's notes. */
export function markdownSection(run: BenchRun): string {
  const notes = run.rows.filter((r) => r.notes.length > 0).map((r) => `- **${r.figure} ${r.key}**: ${r.notes.join(" ")}`);
  return [
    `Measured ${run.date} (${run.startedAt} to ${run.finishedAt}) with \`${run.command}\`${run.quick ? " in quick mode (BENCH_QUICK=1)" : ""}.`,
    "",
    `Machine: ${machineLine(run.machine)}, ${run.loadAverageAfter} at the end (per figure in the JSON).`,
    "",
    markdownTable(run.rows),
    "",
    ...notes,
  ].join("\n");
}

export const START_MARKER = "<!-- bench:results -->";
export const END_MARKER = "<!-- /bench:results -->";

/** Replaces what is between the markers of `file` (which must have both). */
export function updateDocs(file: string, run: BenchRun): void {
  const text = readFileSync(file, "utf8");
  const from = text.indexOf(START_MARKER);
  const to = text.indexOf(END_MARKER);
  if (from < 0 || to < from) throw new Error(`${file} needs the markers ${START_MARKER} and ${END_MARKER}`);
  writeFileSync(file, `${text.slice(0, from + START_MARKER.length)}\n${markdownSection(run)}\n${text.slice(to)}`);
}

export function writeRun(file: string, run: BenchRun): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify(run, null, 2) + "\n");
}
