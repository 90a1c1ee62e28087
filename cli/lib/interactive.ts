// The remote claude's terminal UI in the local terminal: raw mode, keystrokes → SendInput, window size → Resize,
// terminal output → stdout. Ctrl-P Ctrl-Q detaches and leaves the task running; the terminal is always restored.
import type { Exited, RunEvent } from "../../gen/claudecluster/v1/run_pb.js";
import type { RouterClient } from "./client.js";
import { follow, type FollowStart } from "./follow.js";

/** Ctrl-P then Ctrl-Q, as in docker attach. */
export const DETACH_SEQUENCE = "Ctrl-P Ctrl-Q";
const CTRL_P = 0x10;
const CTRL_Q = 0x11;

/** Splits keystrokes into what goes to the remote terminal and whether the detach sequence was typed. */
export class DetachDetector {
  private pending = false;

  push(chunk: Uint8Array): { forward: Buffer; detach: boolean } {
    const out: number[] = [];
    for (const byte of chunk) {
      if (this.pending) {
        this.pending = false;
        if (byte === CTRL_Q) return { forward: Buffer.from(out), detach: true };
        out.push(CTRL_P);
        if (byte === CTRL_P) {
          this.pending = true;
          continue;
        }
        out.push(byte);
      } else if (byte === CTRL_P) {
        this.pending = true;
      } else {
        out.push(byte);
      }
    }
    return { forward: Buffer.from(out), detach: false };
  }
}

/**
 * Undoes terminal modes a TUI may have switched on (cursor hidden, bracketed paste, mouse and focus reporting,
 * the kitty keyboard protocol, colours), so the shell gets back a normal terminal.
 */
export const TERMINAL_RESET = "\x1b[?25h\x1b[?2004l\x1b[?1000l\x1b[?1002l\x1b[?1003l\x1b[?1006l\x1b[?1004l\x1b[<u\x1b[0m";

export interface TerminalIn {
  isTTY?: boolean;
  setRawMode?(mode: boolean): unknown;
  on(event: "data", listener: (chunk: Buffer) => void): unknown;
  off(event: "data", listener: (chunk: Buffer) => void): unknown;
  resume(): unknown;
  pause(): unknown;
}

export interface TerminalOut {
  write(data: string | Uint8Array): unknown;
  columns?: number;
  rows?: number;
  on(event: "resize", listener: () => void): unknown;
  off(event: "resize", listener: () => void): unknown;
}

export interface InteractiveOptions {
  client: Pick<RouterClient, "run" | "attach" | "getTask" | "sendInput" | "resize">;
  start: FollowStart;
  stdin: TerminalIn;
  stdout: TerminalOut;
  /** Called once the task id is known. */
  onTask?(taskId: string): void;
  onReconnect?(attempt: number, delayMs: number, error: unknown): void;
  /** For attach: send the local terminal size once the task is known, so the TUI redraws to fit. */
  resizeOnStart?: boolean;
}

export type InteractiveEnd = { taskId: string; detached: true } | { taskId: string; detached: false; exited?: Exited; lastEvent?: RunEvent };

export async function runInteractive(o: InteractiveOptions): Promise<InteractiveEnd> {
  const abort = new AbortController();
  const detector = new DetachDetector();
  let taskId = "attach" in o.start ? o.start.attach : "";
  let detached = false;
  let pending: Buffer[] = [];
  let chain: Promise<unknown> = Promise.resolve();
  let lastEvent: RunEvent | undefined;

  const send = (data: Buffer) => {
    if (data.length === 0) return;
    if (taskId === "") {
      pending.push(data);
      return;
    }
    const id = taskId;
    // In order, one at a time; a task that has just ended refuses input, which is fine to ignore.
    chain = chain.then(() => o.client.sendInput({ taskId: id, input: { case: "data", value: data } }).catch(() => undefined));
  };
  const resize = () => {
    if (taskId === "" || !o.stdout.columns || !o.stdout.rows) return;
    const size = { cols: Math.min(1000, o.stdout.columns), rows: Math.min(1000, o.stdout.rows) };
    void o.client.resize({ taskId, size }).catch(() => undefined);
  };
  const taskKnown = (id: string) => {
    if (taskId !== "" && pending.length === 0) return;
    taskId = id;
    o.onTask?.(id);
    const queued = pending;
    pending = [];
    for (const data of queued) send(data);
    if (o.resizeOnStart) resize();
  };
  const onData = (chunk: Buffer) => {
    const { forward, detach } = detector.push(chunk);
    send(forward);
    if (detach) {
      detached = true;
      abort.abort();
    }
  };

  o.stdin.setRawMode?.(true);
  o.stdin.on("data", onData);
  o.stdin.resume();
  o.stdout.on("resize", resize);
  if (taskId !== "" && o.resizeOnStart) resize();
  try {
    const result = await follow({
      client: o.client,
      start: o.start,
      signal: abort.signal,
      ...(o.onReconnect ? { onReconnect: o.onReconnect } : {}),
      onEvent: (ev) => {
        lastEvent = ev;
        if (ev.taskId && (taskId === "" || pending.length > 0)) taskKnown(ev.taskId);
        if (ev.event.case === "output") o.stdout.write(ev.event.value.data);
      },
    });
    taskId = result.taskId || taskId;
    await chain;
    if (detached) return { taskId, detached: true };
    return { taskId, detached: false, ...(result.exited ? { exited: result.exited } : {}), ...(lastEvent ? { lastEvent } : {}) };
  } finally {
    o.stdout.off("resize", resize);
    o.stdin.off("data", onData);
    o.stdin.setRawMode?.(false);
    o.stdin.pause();
    o.stdout.write(TERMINAL_RESET);
  }
}
