// A task's event log: append, close, follow from a seq. There is one copy of every event, shared by all followers;
// a follower is only a cursor into it. Nothing is ever dropped from a log, so a follower that attaches again from
// its last seq always finds what it missed.
//
// Two bounds, each with a visible outcome instead of a hole in the replay:
// - Bytes (`maxBytes`): an event that would take the log past it is refused with TaskLogFull (the dispatcher then
//   stops the task with EXIT_REASON_OUTPUT_LIMIT). `exited` always fits, so a task can always end.
// - Lag (`maxLagBytes`): while a live follower (one that has caught up with the log once) is more than this behind,
//   `append` waits for it, and the dispatcher stops reading the worker's stream: HTTP/2 flow control then fills the
//   worker's queue, which pauses claude. A follower that reads nothing for `stallMs` while it holds the task back is
//   cut off (RESOURCE_EXHAUSTED) so the task can go on; it may attach again from its last seq and lose nothing. A
//   follower replaying from further back never holds the task back: the log is its buffer.
import { Code, ConnectError } from "@connectrpc/connect";
import type { RunEvent } from "../../gen/claudecluster/v1/run_pb.js";
import { eventSize } from "../common/event-size.js";
import { waitForWake } from "../common/wake.js";

const READY = Promise.resolve();

export interface TaskLogOptions {
  /** Bytes the log may hold (as eventSize counts them); an `exited` event is always accepted. */
  maxBytes: number;
  /** How far a live follower may fall behind before `append` waits for it. */
  maxLagBytes: number;
  /** How long `append` waits for a lagging follower that reads nothing before cutting it off. */
  stallMs: number;
}

/** The log is full: the event was not stored. */
export class TaskLogFull extends Error {
  constructor(readonly maxBytes: number) {
    super(`the task's event log is full (${maxBytes} bytes)`);
  }
}

interface Cursor {
  /** The next seq this follower will read. */
  next: bigint;
  /** It has read up to the head once: from then on it holds the task back when it lags. */
  live: boolean;
  /** When it last read an event (Date.now()). */
  readAt: number;
  cut: ConnectError | undefined;
  wake: (() => void) | undefined;
}

export class TaskLog {
  private readonly events: RunEvent[] = [];
  /** Cumulative byte counts: ends[i] = bytes of events[0..i]. */
  private readonly ends: number[] = [];
  private bytes = 0;
  private closed = false;
  private readonly cursors = new Set<Cursor>();
  /** Wake the appends waiting for a lagging follower. */
  private readonly writers = new Set<() => void>();

  constructor(private readonly options: TaskLogOptions) {}

  /** Seq of the last event appended; 0 when empty. Seqs start at 1. */
  get lastSeq(): bigint {
    return BigInt(this.events.length);
  }

  /** Seq of the oldest event still held: 1, since the log is never trimmed; 0 when empty. */
  get firstRetainedSeq(): bigint {
    return this.events.length > 0 ? 1n : 0n;
  }

  get subscriberCount(): number {
    return this.cursors.size;
  }

  /** Bytes of the events held (as eventSize counts them). */
  get retainedBytes(): number {
    return this.bytes;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * Stores an event whose seq must be lastSeq + 1, at once, then resolves when the log is ready for the next one:
   * every live follower within `maxLagBytes`, or cut off after `stallMs` without reading. Throws TaskLogFull at once,
   * storing nothing, when the event would take the log past `maxBytes` (unless it is `exited`). `signal` ends the wait
   * early.
   */
  append(event: RunEvent, signal?: AbortSignal): Promise<void> {
    if (this.closed) return READY;
    const size = eventSize(event);
    if (event.event.case !== "exited" && this.bytes + size > this.options.maxBytes) throw new TaskLogFull(this.options.maxBytes);
    this.events.push(event);
    this.bytes += size;
    this.ends.push(this.bytes);
    for (const cursor of this.cursors) cursor.wake?.();
    return this.lagging().length === 0 ? READY : this.room(signal);
  }

  /** No more events: followers read to the end and finish. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const cursor of this.cursors) cursor.wake?.();
    this.wakeWriters();
  }

  /** Events after `afterSeq`: the replay first, then live ones until the log closes. */
  async *follow(afterSeq: bigint, signal?: AbortSignal): AsyncGenerator<RunEvent> {
    const cursor: Cursor = { next: afterSeq + 1n, live: false, readAt: Date.now(), cut: undefined, wake: undefined };
    this.cursors.add(cursor);
    try {
      while (!signal?.aborted) {
        if (cursor.cut) throw cursor.cut;
        const index = Number(cursor.next - 1n);
        if (index < this.events.length) {
          cursor.next += 1n;
          cursor.readAt = Date.now();
          this.wakeWriters();
          yield this.events[index]!;
          continue;
        }
        cursor.live = true;
        if (this.closed) return;
        await waitForWake(signal, (wake) => (cursor.wake = wake));
      }
    } finally {
      this.cursors.delete(cursor);
      this.wakeWriters();
    }
  }

  /** Bytes appended that `cursor` has not read yet. */
  private lagBytes(cursor: Cursor): number {
    const read = Number(cursor.next - 1n);
    return this.bytes - (read > 0 ? this.ends[Math.min(read, this.ends.length) - 1]! : 0);
  }

  /** Live followers holding the task back. */
  private lagging(): Cursor[] {
    return [...this.cursors].filter((c) => c.live && !c.cut && this.lagBytes(c) > this.options.maxLagBytes);
  }

  /** Waits while a live follower lags, cutting off those that read nothing for `stallMs`. */
  private async room(signal?: AbortSignal): Promise<void> {
    for (;;) {
      if (this.closed || signal?.aborted) return;
      const lagging = this.lagging();
      if (lagging.length === 0) return;
      const now = Date.now();
      for (const cursor of lagging.filter((c) => now - c.readAt >= this.options.stallMs)) {
        cursor.cut = new ConnectError(
          `this caller fell ${this.lagBytes(cursor)} bytes behind the task and read nothing for ${Math.round(this.options.stallMs / 1000)}s ` +
            "(CC_SUBSCRIBER_LAG_BYTES, CC_SUBSCRIBER_STALL), so it was cut off for the task to go on; nothing was lost: attach again with after_seq set to the last seq you received",
          Code.ResourceExhausted,
        );
        cursor.wake?.();
      }
      const waitMs = Math.min(...lagging.filter((c) => !c.cut).map((c) => c.readAt + this.options.stallMs - now));
      if (!Number.isFinite(waitMs)) continue;
      await this.wakeOrTimeout(waitMs, signal);
    }
  }

  private wakeWriters(): void {
    if (this.writers.size === 0) return;
    for (const wake of [...this.writers]) wake();
  }

  private wakeOrTimeout(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", done);
        this.writers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, ms));
      this.writers.add(done);
      signal?.addEventListener("abort", done, { once: true });
    });
  }
}
