// The two ways to watch many tasks at once. On a terminal, LiveRows keeps one status row per task and redraws them
// in place (like `docker compose pull`); elsewhere, PlainLines writes a line per change, and with `output` each
// task's rendered text too, every line prefixed with the task's label so they can be told apart (and grepped).
import type { RunEvent } from "../../../gen/claudecluster/v1/run_pb.js";
import { TextRenderer, type Writer } from "../render.js";
import type { Timers } from "../status-line.js";
import type { Style } from "../style.js";
import type { TaskProgress } from "./progress.js";
import { progressChange, progressRows } from "./rows.js";

export interface FleetView {
  /** The task at `position` (in ViewSource.tasks()) changed; `ev` is the event that changed it, if one did. */
  update(position: number, ev?: RunEvent): void;
  /** A line of its own, above the rows on a terminal (notices: cancelling, could not cancel). */
  note(text: string): void;
  /** Stops drawing for a moment (a question is being asked below the rows). */
  pause(): void;
  resume(): void;
  /** The last drawing: every task's final state stays on screen. */
  close(): void;
}

export interface ViewSource {
  tasks(): readonly Readonly<TaskProgress>[];
  now(): number;
}

const realTimers: Timers = {
  setInterval: (fn, ms) => {
    const t = setInterval(fn, ms);
    t.unref();
    return t;
  },
  clearInterval: (h) => clearInterval(h as NodeJS.Timeout),
};

export interface TerminalOut extends Writer {
  columns?: number;
  rows?: number;
}

/** One row per task, redrawn in place every `intervalMs`. Rows never wrap, so moving the cursor up is exact. */
export class LiveRows implements FleetView {
  private drawn = 0;
  private frame = 0;
  private timer: unknown;
  private paused = false;

  constructor(
    private readonly out: TerminalOut,
    private readonly source: ViewSource,
    private readonly style: Style,
    private readonly timers: Timers = realTimers,
    private readonly intervalMs = 100,
  ) {}

  start(): void {
    this.draw();
    this.timer = this.timers.setInterval(() => {
      this.frame += 1;
      if (!this.paused) this.draw();
    }, this.intervalMs);
  }

  update(): void {
    // Drawn at the next tick: many events a second must not mean many redraws.
  }

  note(text: string): void {
    // Over the first row, then the rows again below it.
    this.out.write(`${this.drawn > 0 ? `\x1b[${this.drawn}A` : ""}\r\x1b[2K${text}\n`);
    this.drawn = 0;
    this.draw();
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    this.draw();
  }

  close(): void {
    if (this.timer !== undefined) this.timers.clearInterval(this.timer);
    this.timer = undefined;
    this.paused = false;
    this.draw();
  }

  /** Draws the rows over the previous drawing. */
  draw(): void {
    const lines = this.visibleRows();
    let text = this.drawn > 0 ? `\x1b[${this.drawn}A` : "";
    for (const line of lines) text += `\r\x1b[2K${line}\n`;
    // Fewer rows than last time: clear what is left below.
    for (let i = lines.length; i < this.drawn; i++) text += "\r\x1b[2K\n";
    if (lines.length < this.drawn) text += `\x1b[${this.drawn - lines.length}A`;
    this.out.write(text);
    this.drawn = lines.length;
  }

  /** All rows when they fit the terminal; otherwise the active ones first, then the rest, and a count of the others. */
  private visibleRows(): string[] {
    const tasks = this.source.tasks();
    const width = this.out.columns ?? 80;
    const room = Math.max(3, (this.out.rows ?? 24) - 2);
    if (tasks.length <= room) return progressRows(tasks, this.source.now(), width, this.style, this.frame);
    const active = tasks.filter((t) => t.phase !== "waiting" && t.phase !== "ended");
    const ended = tasks.filter((t) => t.phase === "ended").sort((a, b) => (b.endedAt ?? 0) - (a.endedAt ?? 0));
    const waiting = tasks.filter((t) => t.phase === "waiting");
    const shown = [...active, ...ended, ...waiting].slice(0, room - 1).sort((a, b) => a.index - b.index);
    const hiddenEnded = ended.filter((t) => !shown.includes(t)).length;
    const hiddenWaiting = waiting.filter((t) => !shown.includes(t)).length;
    const more = [hiddenEnded ? `${hiddenEnded} ended` : "", hiddenWaiting ? `${hiddenWaiting} waiting` : ""].filter(Boolean).join(", ");
    return [...progressRows(shown, this.source.now(), width, this.style, this.frame), this.style.dim(`  … and ${tasks.length - shown.length} more (${more})`)];
  }
}

/** Writes whole lines only, each with a prefix, so the lines of several tasks never mix mid-line. */
export class PrefixedLines implements Writer {
  private partial = "";

  constructor(
    private readonly out: Writer,
    private readonly prefix: string,
  ) {}

  write(s: string): void {
    const lines = (this.partial + s).split("\n");
    this.partial = lines.pop() ?? "";
    for (const line of lines) this.out.write(`${this.prefix}${line}\n`);
  }

  flush(): void {
    if (this.partial !== "") this.out.write(`${this.prefix}${this.partial}\n`);
    this.partial = "";
  }
}

/** A line per change of state; with `output`, each task's text rendered as `cc run` shows it, prefixed. */
export class PlainLines implements FleetView {
  private readonly seen = new Map<number, TaskProgress>();
  private readonly renderers = new Map<number, { prefixed: PrefixedLines; renderer: TextRenderer }>();

  constructor(
    private readonly out: Writer,
    private readonly source: ViewSource,
    private readonly style: Style,
    private readonly options: { output: boolean; width: number; notes: Writer },
  ) {}

  update(position: number, ev?: RunEvent): void {
    const p = this.source.tasks()[position];
    if (!p) return;
    if (this.options.output && ev?.event.case === "message") this.rendererFor(p, position).renderer.line(ev.event.value.json);
    if (p.phase === "ended") {
      const r = this.renderers.get(position);
      r?.renderer.finish();
      r?.prefixed.flush();
    }
    const line = progressChange(this.seen.get(position), p, this.style);
    this.seen.set(position, { ...p });
    if (line !== undefined) this.out.write(line + "\n");
  }

  note(text: string): void {
    this.options.notes.write(text + "\n");
  }

  pause(): void {}

  resume(): void {}

  close(): void {
    for (const r of this.renderers.values()) r.prefixed.flush();
  }

  private rendererFor(p: Readonly<TaskProgress>, position: number) {
    let r = this.renderers.get(position);
    if (!r) {
      const prefixed = new PrefixedLines(this.out, this.style.dim(`[${p.label}] `));
      r = { prefixed, renderer: new TextRenderer(prefixed, { style: this.style, width: Math.max(40, this.options.width - p.label.length - 3) }) };
      this.renderers.set(position, r);
    }
    return r;
  }
}
