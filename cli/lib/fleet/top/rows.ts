// How `cc top` looks: the fleet's workers and tasks as lines fitted to a terminal (the live screen), the same tables
// once (`--once`, no terminal), and one line per change when it follows without a terminal. Pure: records and the
// time in, strings out (golden files pin them).
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { TaskStatus, type Task, type WorkerRecord } from "../../../../gen/claudecluster/v1/router_pb.js";
import { Phase, RunMode } from "../../../../gen/claudecluster/v1/run_pb.js";
import { changesText } from "../../changes/summary.js";
import { formatCost } from "../../formats.js";
import { healthWord, taskStatusWord } from "../../listings.js";
import { truncate } from "../../render.js";
import type { Style } from "../../style.js";
import { formatAge, formatRows, oneLine } from "../../table.js";

/** Characters of the prompt shown beside the latest line. */
const PROMPT_CHARS = 32;

/** `queued #2`, `starting`, `setting up`, `running`, `waiting for approval`, `waiting for input`, or how it ended. */
export function taskState(t: Task): string {
  if (t.status === TaskStatus.QUEUED) {
    if (t.phase === Phase.STARTING) return "starting";
    if (t.phase === Phase.SETTING_UP) return "setting up";
    return t.queuePosition > 0 ? `queued #${t.queuePosition}` : "queued";
  }
  if (t.status === TaskStatus.RUNNING) {
    if (t.pendingPermissions.length > 0 || t.phase === Phase.WAITING_FOR_APPROVAL) return "waiting for approval";
    if (t.phase === Phase.WAITING_FOR_INPUT) return "waiting for input";
    if (t.phase === Phase.STARTING) return "starting";
    if (t.phase === Phase.SETTING_UP) return "setting up";
    return "running";
  }
  return taskStatusWord(t.status);
}

function colorState(state: string, style: Style): string {
  if (state === "succeeded") return style.green(state);
  if (state === "failed") return style.red(state);
  if (state.startsWith("waiting")) return style.yellow(state);
  if (state === "running") return style.cyan(state);
  return state;
}

/** Since it was accepted while it runs; how long it took once it ended. */
function taskAge(t: Task, now: number): string {
  const created = t.createdAt ? timestampMs(t.createdAt) : undefined;
  if (created === undefined) return "-";
  const end = t.endedAt ? timestampMs(t.endedAt) : now;
  return formatAge(end - created);
}

function promptCell(t: Task): string {
  return truncate((t.mode === RunMode.INTERACTIVE ? "[interactive] " : "") + oneLine(t.promptSummary), PROMPT_CHARS);
}

export const TASK_HEADERS = ["ID", "STATE", "WORKER", "AGE", "COST", "CHANGES", "PROMPT", "LATEST"];

/** One task's cells, in TASK_HEADERS' order (plain text: widths are counted on them). */
export function taskCells(t: Task, now: number): string[] {
  return [t.id, taskState(t), t.workerId || "-", taskAge(t, now), t.costUsd > 0 ? formatCost(t.costUsd) : "-", changesText(t.exit?.changes), promptCell(t), oneLine(t.latestLine) || "-"];
}

export const WORKER_HEADERS = ["WORKER", "HEALTH", "TASKS", "SESSIONS", "CLAUDE", "SEEN"];

/** One worker's cells: health, load (tasks this router placed there / its capacity), claude sessions it runs. */
export function workerCells(w: WorkerRecord, now: number): string[] {
  const capacity = w.poolCapacity || w.info?.capacity || 0;
  return [
    w.id,
    healthWord(w.health) + (w.problem ? ` (${w.problem})` : ""),
    `${w.assigned}/${capacity || "?"}`,
    String(w.info?.activeSessions ?? 0),
    w.info?.claudeVersion.split(" ")[0] || "-",
    w.lastSeen ? formatAge(now - timestampMs(w.lastSeen)) : "-",
  ];
}

/** `2 workers · 1 running · 1 queued · 3 ended`. */
export function fleetCounts(tasks: readonly Task[], workers: readonly WorkerRecord[]): string {
  const count = (s: TaskStatus) => tasks.filter((t) => t.status === s).length;
  const ended = tasks.length - count(TaskStatus.RUNNING) - count(TaskStatus.QUEUED);
  const w = `${workers.length} ${workers.length === 1 ? "worker" : "workers"}`;
  return `${w} · ${count(TaskStatus.RUNNING)} running · ${count(TaskStatus.QUEUED)} queued · ${ended} ended`;
}

export interface ScreenView {
  router: string;
  tasks: readonly Task[];
  workers: readonly WorkerRecord[];
  /** The selected task's id, if any. */
  selected: string | undefined;
  /** The first task row shown (scrolled so the selected one is visible). */
  scroll: number;
  /** A note for the bottom line: a question, an error, what happened. */
  message: string;
  /** False until the first snapshot arrived. */
  synced: boolean;
}

export const KEYS_LINE = "↑/↓ select · enter attach · c cancel · q quit";

/** Task rows that fit on a screen of `height` lines with `workers` workers shown. */
export function taskRowsRoom(height: number, workers: number): number {
  // Title, blank, the workers' header and rows (or one line for none), blank, the tasks' header, the rows, a
  // `… more` line and the keys line.
  return Math.max(1, height - 7 - workers);
}

/** The whole screen, `height` lines at most, each cut to `width` columns. */
export function screenLines(v: ScreenView, now: number, width: number, height: number, style: Style): string[] {
  const clock = new Date(now).toISOString().slice(11, 19);
  const title = `cc top · ${v.router} · ${fleetCounts(v.tasks, v.workers)}`;
  const lines: string[] = [style.bold(truncate(title, Math.max(1, width - clock.length - 2)).padEnd(Math.max(0, width - clock.length))) + clock, ""];
  const workerRows = v.workers.length > 0 ? formatRows([WORKER_HEADERS, ...v.workers.map((w) => workerCells(w, now))], width) : ["no workers (`cc workers` says more)"];
  lines.push(style.dim(truncate(workerRows[0]!, width)), ...workerRows.slice(1).map((r) => truncate(r, width)), "");
  const room = taskRowsRoom(height, v.workers.length);
  if (!v.synced) lines.push("reading the task list…");
  else if (v.tasks.length === 0) lines.push("no tasks match (start one with `cc run -d \"prompt\"`)");
  else {
    const shown = v.tasks.slice(v.scroll, v.scroll + room);
    const rows = formatRows([["", ...TASK_HEADERS], ...shown.map((t) => [t.id === v.selected ? ">" : " ", ...taskCells(t, now)])], width);
    lines.push(style.dim(truncate(rows[0]!, width)));
    rows.slice(1).forEach((fitted, i) => {
      // The last column is cut to the width; a narrow terminal cuts the others too.
      const row = truncate(fitted, width);
      const task = shown[i]!;
      const state = taskState(task);
      // Colour after fitting: the widths were counted on plain text.
      const coloured = row.replace(` ${state} `, ` ${colorState(state, style)} `);
      lines.push(task.id === v.selected ? style.bold(coloured) : coloured);
    });
    const hidden = v.tasks.length - shown.length;
    if (hidden > 0) lines.push(style.dim(`… ${hidden} more (${v.scroll} above, ${hidden - v.scroll} below)`));
  }
  while (lines.length < height - 1) lines.push("");
  lines.length = Math.min(lines.length, height - 1);
  lines.push(v.message ? truncate(v.message, width) : style.dim(truncate(KEYS_LINE, width)));
  return lines;
}

/** The scroll that keeps `selectedIndex` in view, moving as little as possible from `scroll`. */
export function scrollFor(selectedIndex: number, scroll: number, room: number, total: number): number {
  let s = Math.min(scroll, Math.max(0, total - room));
  if (selectedIndex < s) s = selectedIndex;
  if (selectedIndex >= s + room) s = selectedIndex - room + 1;
  return Math.max(0, s);
}

/** `cc top --once` (and the start of following without a terminal): the workers, then the tasks. */
export function snapshotText(tasks: readonly Task[], workers: readonly WorkerRecord[], now: number, width = Infinity): string {
  const w = workers.length > 0 ? formatRows([WORKER_HEADERS, ...workers.map((r) => workerCells(r, now))], width) : ["no workers"];
  const t = tasks.length > 0 ? formatRows([TASK_HEADERS, ...tasks.map((r) => taskCells(r, now))], width) : ["no tasks match"];
  return [...w, "", ...t].join("\n") + "\n";
}

/** What a change line says: it is printed again only when this differs (not for every new latest line). */
export function changeKey(t: Task): string {
  return [taskState(t), t.workerId, changesText(t.exit?.changes)].join("\t");
}

/** One line for a task that changed, when following without a terminal: the time, then the task's cells. */
export function changeLine(t: Task, now: number, width = Infinity): string {
  return formatRows([[new Date(now).toISOString().slice(11, 19), ...taskCells(t, now)]], width)[0]! + "\n";
}

/** A removed task, when following without a terminal. */
export function removedLine(id: string, now: number): string {
  return `${new Date(now).toISOString().slice(11, 19)}  ${id}  gone (no longer matches, or the router forgot it)\n`;
}
