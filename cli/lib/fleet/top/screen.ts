// `cc top` on a terminal: the fleet drawn in place on the alternate screen (as top and htop do), redrawn when the
// feed changes, the terminal is resized or a second passes (ages and the clock). Keys: ↑/↓ (or k/j) select a task,
// Enter attaches to it (the screen gives way, and comes back when you press a key after the attach ends), c cancels
// it (after a y), q or Ctrl-C quits. The terminal is given back as it was on every way out: q, Ctrl-C, SIGTERM,
// SIGHUP, a failure.
import { TaskStatus } from "../../../../gen/claudecluster/v1/router_pb.js";
import { ExitCode } from "../../../exit-codes.js";
import { describeError } from "../../errors.js";
import { processSignals, type SignalSource } from "../../io.js";
import type { Style } from "../../style.js";
import type { TaskCommandContext } from "../../task-commands.js";
import type { FleetFeed } from "./feed.js";
import { screenLines, scrollFor, taskRowsRoom } from "./rows.js";
import { isEnded } from "./state.js";

const ENTER_SCREEN = "\x1b[?1049h\x1b[?25l";
const LEAVE_SCREEN = "\x1b[?25h\x1b[?1049l";
const HOME = "\x1b[H";
const CLEAR_LINE = "\x1b[K";
const CLEAR_BELOW = "\x1b[J";

interface RawInput {
  isTTY?: boolean;
  setRawMode?(raw: boolean): unknown;
  on(event: "data", listener: (chunk: Buffer) => void): unknown;
  off(event: "data", listener: (chunk: Buffer) => void): unknown;
  resume(): unknown;
  pause(): unknown;
}

/** One key a token: an escape sequence (arrows, page keys) or a single character. */
export function keysOf(data: string): string[] {
  return data.match(/\x1b\[[0-9;]*[A-Za-z~]|\x1bO[A-Za-z]|[\s\S]/g) ?? [];
}

export interface ScreenOptions {
  style: Style;
  /** Attaches to a task (cc attach), once the screen has given way. */
  attach(taskId: string): Promise<number>;
  signals?: SignalSource;
  now?: () => number;
}

export async function runScreen(c: TaskCommandContext, feed: FleetFeed, o: ScreenOptions): Promise<number> {
  const stdin = c.io.stdin as unknown as RawInput;
  const out = c.io.stdout;
  const signals = o.signals ?? processSignals;
  const now = o.now ?? Date.now;
  let selected: string | undefined;
  let scroll = 0;
  /** Where the selection was, so that it moves to the next row down when its task goes. */
  let lastIndex = 0;
  let message = "";
  let trouble = "";
  /** The task a `c` asks about, until y or another key. */
  let confirming: string | undefined;
  let paused = false;
  let drawPending = false;
  let finish!: (code: number) => void;
  const finished = new Promise<number>((resolve) => (finish = resolve));

  const size = () => ({ width: out.columns || 80, height: out.rows || 24 });

  const tasks = () => feed.state.list();

  /** Keeps the selection on a task that is still shown (the next one down when it went), and in view. */
  const settle = () => {
    const list = tasks();
    let index = list.findIndex((t) => t.id === selected);
    if (index < 0) {
      index = Math.min(lastIndex, list.length - 1);
      selected = list[index]?.id;
    }
    lastIndex = Math.max(0, index);
    scroll = scrollFor(lastIndex, scroll, taskRowsRoom(size().height, feed.state.workers.length), list.length);
  };

  const draw = () => {
    drawPending = false;
    if (paused) return;
    settle();
    const { width, height } = size();
    const lines = screenLines({ router: c.router, tasks: tasks(), workers: feed.state.workers, selected, scroll, message: message || trouble, synced: feed.state.synced }, now(), width, height, o.style);
    out.write(HOME + lines.map((l) => l + CLEAR_LINE).join("\r\n") + CLEAR_BELOW);
  };
  const redraw = () => {
    if (drawPending) return;
    drawPending = true;
    setImmediate(draw);
  };

  const move = (by: number) => {
    const list = tasks();
    if (list.length === 0) return;
    const index = Math.max(0, Math.min(list.length - 1, list.findIndex((t) => t.id === selected) + by));
    selected = list[index]!.id;
    lastIndex = index;
  };

  const cancel = async (taskId: string) => {
    message = `cancelling ${taskId}…`;
    redraw();
    try {
      const task = await c.client.cancelTask({ taskId, reason: "cancelled from cc top" });
      message = `${taskId} ${task.status === TaskStatus.CANCELLED ? "cancelled" : "had already ended"}`;
    } catch (err) {
      message = `could not cancel ${taskId}: ${describeError(err, { router: c.router, taskId }).message}`;
    }
    redraw();
  };

  const attach = async (taskId: string) => {
    paused = true;
    leave();
    let note: string;
    try {
      await o.attach(taskId);
      note = "";
    } catch (err) {
      note = `cc: ${describeError(err, { router: c.router, taskId }).message}\n`;
    }
    out.write(`${note}— press a key to go back to cc top —`);
    await new Promise<void>((resolve) => {
      const once = () => (stdin.off("data", once), resolve());
      stdin.setRawMode?.(true);
      stdin.on("data", once);
      stdin.resume();
    });
    enter();
    paused = false;
    message = "";
    redraw();
  };

  const onKey = (key: string) => {
    if (confirming !== undefined) {
      const taskId = confirming;
      confirming = undefined;
      message = "";
      if (key === "y" || key === "Y") void cancel(taskId);
      else if (key === "\x03") finish(ExitCode.Ok);
      redraw();
      return;
    }
    message = "";
    switch (key) {
      case "q":
      case "Q":
      case "\x03":
        finish(ExitCode.Ok);
        return;
      case "\x1b[A":
      case "\x1bOA":
      case "k":
        move(-1);
        break;
      case "\x1b[B":
      case "\x1bOB":
      case "j":
        move(1);
        break;
      case "\x1b[5~":
        move(-taskRowsRoom(size().height, feed.state.workers.length));
        break;
      case "\x1b[6~":
        move(taskRowsRoom(size().height, feed.state.workers.length));
        break;
      case "g":
      case "\x1b[H":
        move(-Infinity);
        break;
      case "G":
      case "\x1b[F":
        move(Infinity);
        break;
      case "\r":
      case "\n":
        if (selected) void attach(selected);
        return;
      case "c": {
        const task = selected ? feed.state.get(selected) : undefined;
        if (!task) break;
        if (isEnded(task)) message = `${task.id} has already ended`;
        else {
          confirming = task.id;
          message = `cancel ${task.id}? [y/N]`;
        }
        break;
      }
      default:
        break;
    }
    redraw();
  };

  const onData = (chunk: Buffer) => {
    if (paused) return;
    for (const key of keysOf(chunk.toString("utf8"))) {
      if (paused) return;
      onKey(key);
    }
  };
  const onSignal = () => finish(ExitCode.Ok);

  function enter() {
    stdin.setRawMode?.(true);
    stdin.on("data", onData);
    stdin.resume();
    signals.on("SIGINT", onSignal);
    out.write(ENTER_SCREEN);
  }
  function leave() {
    out.write(LEAVE_SCREEN);
    signals.off("SIGINT", onSignal);
    stdin.off("data", onData);
    stdin.setRawMode?.(false);
    stdin.pause();
  }

  const resized = () => redraw();
  const ticker = setInterval(redraw, 1000);
  ticker.unref();
  signals.on("SIGTERM", onSignal);
  signals.on("SIGHUP", onSignal);
  out.on("resize", resized);
  enter();
  redraw();
  feed.listener = { update: redraw, trouble: (m) => ((trouble = m), redraw()) };
  try {
    const failed = feed.done.then(() => ExitCode.Ok);
    return await Promise.race([finished, failed]);
  } finally {
    feed.listener = undefined;
    clearInterval(ticker);
    out.off("resize", resized);
    signals.off("SIGTERM", onSignal);
    signals.off("SIGHUP", onSignal);
    if (!paused) leave();
  }
}
