// One task's progress as many-task views show it (cc run -n, cc batch, and later cc top): where it stands, where it
// runs, its latest line of output, and how it ended. Built from the task's events; pure, with the clock injected.
import type { Exited, RunEvent } from "../../../gen/claudecluster/v1/run_pb.js";
import { ExitReason, Phase } from "../../../gen/claudecluster/v1/run_pb.js";
import { taskOutcome, type Outcome } from "../outcome.js";
import { TextRenderer } from "../render.js";
import { PLAIN } from "../style.js";

/** waiting: not sent yet (batch); sent: sent, no event yet; then what the router and worker report. */
export type ProgressPhase = "waiting" | "sent" | "queued" | "starting" | "setting up" | "running" | "input" | "ended";

export interface TaskProgress {
  /** Position in the run: attempt 1..N, or the entry of a batch file. */
  index: number;
  /** How views name it: "1", "2"… or the batch entry's name. */
  label: string;
  taskId: string;
  workerId: string;
  phase: ProgressPhase;
  /** While queued: 1 for the next task to be placed. */
  queuePosition: number;
  /** Agent turns seen so far (assistant messages), claude's own count once it ends. */
  turns: number;
  /** The latest line the task printed, rendered as `cc run` shows it (a text line or `⏺ Tool(arg)`). */
  latestLine: string;
  /** When cc sent it, and when it ended (ms, cc's clock). */
  sentAt?: number;
  endedAt?: number;
  /** How it ended, once it has. */
  outcome?: Outcome;
  exited?: Exited;
  /** It never became a task (the router refused it, or could not be reached), or cc lost it: what happened. */
  error?: string;
  /** The exit code that error calls for (exit-codes.ts). */
  errorExitCode?: number;
  /** The run was interrupted before this one was sent. */
  skipped?: boolean;
}

/** Keeps the last line a renderer wrote, ANSI-free. */
class LastLine {
  line = "";
  private partial = "";
  write(s: string): void {
    const text = this.partial + s;
    const lines = text.split("\n");
    this.partial = lines.pop() ?? "";
    const complete = lines.filter((l) => l.trim() !== "");
    if (complete.length > 0) this.line = complete.at(-1)!.trim();
    if (this.partial.trim() !== "") this.line = this.partial.trim();
  }
}

export class TaskTracker {
  private readonly state: TaskProgress;
  private readonly last = new LastLine();
  private readonly renderer = new TextRenderer(this.last, { style: PLAIN, width: 200 });
  private readonly assistantIds = new Set<string>();
  private firstEventAt: number | undefined;
  private lastEventAt: number | undefined;

  constructor(index: number, label: string) {
    this.state = { index, label, taskId: "", workerId: "", phase: "waiting", queuePosition: 0, turns: 0, latestLine: "" };
  }

  get progress(): Readonly<TaskProgress> {
    return this.state;
  }

  sent(now: number): void {
    this.state.phase = "sent";
    this.state.sentAt = now;
  }

  event(ev: RunEvent): void {
    const s = this.state;
    s.taskId = ev.taskId || s.taskId;
    const t = ev.time ? Number(ev.time.seconds) * 1000 + ev.time.nanos / 1e6 : undefined;
    if (t !== undefined) {
      this.firstEventAt ??= t;
      this.lastEventAt = t;
    }
    const e = ev.event;
    switch (e.case) {
      case "status":
        s.queuePosition = e.value.phase === Phase.QUEUED ? e.value.queuePosition : 0;
        if (e.value.phase === Phase.QUEUED) s.phase = "queued";
        else if (e.value.phase === Phase.STARTING) s.phase = "starting";
        else if (e.value.phase === Phase.SETTING_UP) s.phase = "setting up";
        else if (e.value.phase === Phase.RUNNING) s.phase = "running";
        else if (e.value.phase === Phase.WAITING_FOR_INPUT) s.phase = "input";
        break;
      case "started":
        s.workerId = e.value.workerId;
        s.queuePosition = 0;
        s.phase = "running";
        break;
      case "message":
        if (e.value.body.case === "assistant" && e.value.parentToolUseId === "") {
          this.assistantIds.add(e.value.body.value.id || `#${this.assistantIds.size}`);
          s.turns = this.assistantIds.size;
        }
        this.renderer.line(e.value.json);
        s.latestLine = this.last.line;
        break;
      default:
        break;
    }
  }

  /** The task ended with `exited`. */
  finish(exited: Exited, now: number, interrupted = false): void {
    const s = this.state;
    s.phase = "ended";
    s.endedAt = now;
    s.exited = exited;
    s.outcome = taskOutcome(exited, {
      taskId: s.taskId,
      workerId: s.workerId,
      interrupted,
      ...(this.firstEventAt !== undefined && this.lastEventAt !== undefined ? { elapsedMs: this.lastEventAt - this.firstEventAt } : {}),
    });
    if (exited.result?.numTurns) s.turns = exited.result.numTurns;
  }

  /** It was never sent: the run was interrupted first. */
  skip(now: number): void {
    this.state.phase = "ended";
    this.state.endedAt = now;
    this.state.skipped = true;
  }

  /** It could not be run, or cc lost track of it. */
  fail(message: string, exitCode: number, now: number): void {
    this.state.phase = "ended";
    this.state.endedAt = now;
    this.state.error = message;
    this.state.errorExitCode = exitCode;
  }
}

/** The word for where a task stands or how it ended, as the tables print it. */
export function statusWord(p: Readonly<TaskProgress>): string {
  if (p.skipped) return "not started";
  if (p.error !== undefined) return p.taskId ? "lost" : "refused";
  if (p.outcome) return p.outcome.summary.ok ? "succeeded" : p.outcome.summary.outcome;
  switch (p.phase) {
    case "waiting":
      return "waiting";
    case "sent":
      return "sending";
    case "queued":
      return p.queuePosition ? `queued #${p.queuePosition}` : "queued";
    case "starting":
      return "starting";
    case "setting up":
      return "setting up";
    case "input":
      return "waiting for input";
    default:
      return "running";
  }
}

export type ResultKind = "succeeded" | "failed" | "cancelled" | "not_started";

/** How a finished task counts: succeeded, failed (refused and lost included), cancelled, or never started. */
export function resultKind(p: Readonly<TaskProgress>): ResultKind {
  if (p.skipped) return "not_started";
  if (p.outcome?.summary.ok) return "succeeded";
  if (p.exited?.reason === ExitReason.CANCELLED || p.exited?.reason === ExitReason.CLIENT_GONE) return "cancelled";
  return "failed";
}

/**
 * Duration to show: claude's own when it reported one (unless `wall`), else the time between sending and the end (or
 * `now`). Live rows use wall time throughout, so a row's clock does not jump when its task ends.
 */
export function durationOf(p: Readonly<TaskProgress>, now: number, wall = false): number | undefined {
  if (!wall && p.outcome?.summary.durationMs !== undefined) return p.outcome.summary.durationMs;
  if (p.sentAt === undefined) return undefined;
  return (p.endedAt ?? now) - p.sentAt;
}
