// A one-line status with a spinner on stderr, while a task is queued or starting. Only on a terminal; it redraws
// itself in place and leaves nothing behind when cleared.
import type { Style } from "./style.js";

const FRAMES = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

export interface StatusStream {
  write(s: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface Timers {
  setInterval(fn: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
}

const realTimers: Timers = {
  setInterval: (fn, ms) => {
    const t = setInterval(fn, ms);
    t.unref();
    return t;
  },
  clearInterval: (h) => clearInterval(h as NodeJS.Timeout),
};

export class StatusLine {
  private text = "";
  private frame = 0;
  private timer: unknown;
  private shown = false;
  private readonly enabled: boolean;

  constructor(
    private readonly stream: StatusStream,
    private readonly style: Style,
    private readonly timers: Timers = realTimers,
  ) {
    this.enabled = stream.isTTY === true;
  }

  /** Shows (or replaces) the status text. */
  set(text: string): void {
    if (!this.enabled) return;
    this.text = text;
    if (this.timer === undefined) this.timer = this.timers.setInterval(() => this.draw(), 80);
    this.draw();
  }

  /** Removes the line and stops the spinner. */
  clear(): void {
    if (this.timer !== undefined) this.timers.clearInterval(this.timer);
    this.timer = undefined;
    if (this.shown) this.stream.write("\r\x1b[2K");
    this.shown = false;
  }

  private draw(): void {
    const width = Math.max(20, (this.stream.columns ?? 80) - 1);
    const frame = FRAMES[this.frame++ % FRAMES.length]!;
    const line = `${frame} ${this.text}`;
    const cut = Array.from(line).length > width ? Array.from(line).slice(0, width - 1).join("") + "…" : line;
    this.stream.write(`\r\x1b[2K${this.style.cyan(frame)}${this.style.dim(cut.slice(frame.length))}`);
    this.shown = true;
  }
}
