// A running task's event log on the router that owns the task: append, close, follow from a seq. Every event goes to
// the task store (store/interface.ts) in batches — one store write (a SQLite transaction, a Redis round trip) for
// whatever was appended since the last — and a follower sees an event only once it is stored, so no caller ever sees
// an event that a router restart could lose. A follower is a cursor: near the head it reads from memory, further back
// from the store. Nothing is ever dropped from a log, so a follower that attaches again from its last seq always
// finds what it missed.
//
// What stays in memory, per running task: the events not stored yet (about FLUSH_BYTES at most: past it `append`
// waits for the store), and the stored events a live follower has yet to read (about CC_SUBSCRIBER_LAG_BYTES at most:
// past it `append` waits for the follower); a follower further back reads the store. With the memory store these are
// references to the store's own copy.
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
import { SeqConflict } from "./store/interface.js";

const READY = Promise.resolve();
/** Bytes appended but not stored yet past which `append` waits for the store. */
export const FLUSH_BYTES = 1024 * 1024;
/** Events a follower reads from the store at a time. */
const PAGE = 256;
/** Backoff while the store refuses writes: from the first delay, doubled, up to the last. */
const RETRY_FIRST_MS = 100;
const RETRY_MAX_MS = 5000;

export interface TaskLogOptions {
  /** Bytes the log may hold (as eventSize counts them); an `exited` event is always accepted. */
  maxBytes: number;
  /** How far a live follower may fall behind before `append` waits for it. */
  maxLagBytes: number;
  /** How long `append` waits for a lagging follower that reads nothing before cutting it off. */
  stallMs: number;
}

/** Where a log's events are kept: the task store, for one task. */
export interface LogBacking {
  /** Stores `events` (all appended since the last call, in order) with the task's record as of them. */
  commit(events: RunEvent[]): Promise<void>;
  /** Stored events after `afterSeq`. */
  read(afterSeq: bigint, limit: number): Promise<RunEvent[]>;
  /** A write failed and will be tried again (the store is down): for the log. */
  onRetry?(err: unknown, attempt: number): void;
  /** Another router wrote this task's log: this one no longer owns it. */
  onLost?(err: SeqConflict): void;
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
  /** When it last read an event, or was woken at the head with more to read (Date.now()). */
  readAt: number;
  cut: ConnectError | undefined;
  /** Set while it waits at the head for the next stored event. */
  wake: (() => void) | undefined;
}

interface Held {
  event: RunEvent;
  /** Bytes appended to the log up to and including this event. */
  end: number;
}

/** Events kept in an array: a log with no store behind it (unit tests). */
export class ArrayBacking implements LogBacking {
  readonly events: RunEvent[] = [];
  async commit(events: RunEvent[]): Promise<void> {
    this.events.push(...events);
  }
  async read(afterSeq: bigint, limit: number): Promise<RunEvent[]> {
    return this.events.slice(Number(afterSeq), Number(afterSeq) + limit);
  }
}

export class TaskLog {
  /** Events in memory, in seq order: stored ones followers may need, then those not stored yet. */
  private readonly held: Held[] = [];
  /** Seq of held[0]. */
  private heldFrom: bigint;
  private appended: bigint;
  private stored: bigint;
  private bytes: number;
  private closed = false;
  private lost: ConnectError | undefined;
  private flushing: Promise<void> | undefined;
  /** A record change with no event waits to be saved. */
  private dirty = false;
  private readonly cursors = new Set<Cursor>();
  /** Wake the appends waiting for a lagging follower or for the store. */
  private readonly writers = new Set<() => void>();
  private readonly storedWaiters = new Set<() => void>();

  /**
   * `from`: what the store already holds of this log (a router carrying on with a task after a restart): its last
   * seq and its bytes.
   */
  constructor(
    private readonly options: TaskLogOptions,
    private readonly backing: LogBacking = new ArrayBacking(),
    from: { lastSeq: bigint; bytes: number } = { lastSeq: 0n, bytes: 0 },
  ) {
    this.appended = from.lastSeq;
    this.stored = from.lastSeq;
    this.heldFrom = from.lastSeq + 1n;
    this.bytes = from.bytes;
  }

  /** Seq of the last event appended; 0 when empty. Seqs start at 1. */
  get lastSeq(): bigint {
    return this.appended;
  }

  /** Seq of the last event the store holds. */
  get storedSeq(): bigint {
    return this.stored;
  }

  /** Seq of the oldest event still held (here or in the store): 1, since the log is never trimmed; 0 when empty. */
  get firstRetainedSeq(): bigint {
    return this.appended > 0n ? 1n : 0n;
  }

  get subscriberCount(): number {
    return this.cursors.size;
  }

  /** Bytes of the events appended (as eventSize counts them). */
  get retainedBytes(): number {
    return this.bytes;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * Takes an event whose seq must be lastSeq + 1, at once, then resolves when the log is ready for the next one:
   * every live follower within `maxLagBytes` (or cut off after `stallMs` without reading), and the events not yet
   * stored under FLUSH_BYTES. Throws TaskLogFull at once, taking nothing, when the event would take the log past
   * `maxBytes` (unless it is `exited`). `signal` ends the wait early.
   */
  append(event: RunEvent, signal?: AbortSignal): Promise<void> {
    if (this.closed || this.lost) return READY;
    const size = eventSize(event);
    if (event.event.case !== "exited" && this.bytes + size > this.options.maxBytes) throw new TaskLogFull(this.options.maxBytes);
    this.bytes += size;
    this.appended = event.seq;
    this.held.push({ event, end: this.bytes });
    this.scheduleFlush();
    if (this.lagging().length === 0 && this.unstoredBytes() <= FLUSH_BYTES) return READY;
    return this.room(signal);
  }

  /** The task's record changed with no event (a placement): saved with the next write. */
  touch(): void {
    if (this.closed || this.lost) return;
    this.dirty = true;
    this.scheduleFlush();
  }

  /** No more events: followers read to the end (once it is stored) and finish. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.wakeCursors();
    this.wakeWriters();
  }

  /** Resolves once everything appended (and any record change) is stored, or the log was lost to another router. */
  whenStored(): Promise<void> {
    if (this.lost || (this.stored === this.appended && !this.dirty && !this.flushing)) return READY;
    return new Promise((resolve) => this.storedWaiters.add(resolve));
  }

  /**
   * This router no longer owns the task (another took it over, or it is shutting down without ending it): its
   * followers are ended with `error` (they attach again, elsewhere) and nothing more is stored.
   */
  abandon(error: ConnectError): void {
    if (this.lost) return;
    this.lost = error;
    for (const cursor of this.cursors) cursor.cut ??= error;
    this.wakeCursors();
    this.wakeWriters();
    this.settleStored();
  }

  /** Events after `afterSeq` as they are stored: the replay first, then live ones until the log closes. */
  async *follow(afterSeq: bigint, signal?: AbortSignal): AsyncGenerator<RunEvent> {
    const cursor: Cursor = { next: afterSeq + 1n, live: false, readAt: Date.now(), cut: this.lost, wake: undefined };
    this.cursors.add(cursor);
    try {
      while (!signal?.aborted) {
        if (cursor.cut) throw cursor.cut;
        if (cursor.next <= this.stored) {
          if (cursor.next >= this.heldFrom) {
            const held = this.held[Number(cursor.next - this.heldFrom)]!;
            cursor.next += 1n;
            cursor.readAt = Date.now();
            this.wakeWriters();
            yield held.event;
            continue;
          }
          // Further back than memory holds: a page from the store (it does not hold the task back).
          const upTo = this.heldFrom - 1n;
          const page = await this.backing.read(cursor.next - 1n, PAGE);
          // The store no longer has them: retention forgot the ended task. What was read is all there is; asking
          // again would spin without ever yielding to the event loop.
          if (page[0]?.seq !== cursor.next) return;
          for (const event of page) {
            if (event.seq !== cursor.next || event.seq > upTo) break;
            cursor.next += 1n;
            cursor.readAt = Date.now();
            yield event;
            if (signal?.aborted) return;
          }
          continue;
        }
        // Caught up with everything appended (not only what is stored): from now on it holds the task back.
        if (cursor.next > this.appended) cursor.live = true;
        if (this.closed && this.stored === this.appended) return;
        await waitForWake(signal, (wake) => (cursor.wake = wake));
      }
    } finally {
      this.cursors.delete(cursor);
      this.wakeWriters();
      this.trim();
    }
  }

  private unstoredBytes(): number {
    if (this.appended === this.stored) return 0;
    const firstUnstored = this.held[Number(this.stored + 1n - this.heldFrom)];
    return firstUnstored ? this.bytes - firstUnstored.end + eventSize(firstUnstored.event) : 0;
  }

  private scheduleFlush(): void {
    if (this.flushing) return;
    this.flushing = new Promise<void>((resolve) => setImmediate(() => void this.flush().finally(resolve)));
  }

  /** Stores everything appended so far, again and again until nothing is left (retrying while the store is down). */
  private async flush(): Promise<void> {
    let attempt = 0;
    for (;;) {
      if (this.lost) break;
      const from = this.stored + 1n;
      const to = this.appended;
      if (from > to && !this.dirty) break;
      const events = this.held.slice(Number(from - this.heldFrom), Number(to - this.heldFrom) + 1).map((h) => h.event);
      this.dirty = false;
      try {
        await this.backing.commit(events);
        attempt = 0;
        this.stored = to;
        this.wakeCursors();
        this.wakeWriters();
        this.trim();
      } catch (err) {
        if (err instanceof SeqConflict) {
          this.backing.onLost?.(err);
          this.abandon(new ConnectError("another router took this task over; attach again to follow it there", Code.Unavailable));
          break;
        }
        this.dirty = true;
        attempt += 1;
        this.backing.onRetry?.(err, attempt);
        await new Promise((r) => setTimeout(r, Math.min(RETRY_MAX_MS, RETRY_FIRST_MS * 2 ** (attempt - 1))));
      }
    }
    this.flushing = undefined;
    this.settleStored();
    // Appended while the last write was in flight, after the loop looked: go again.
    if (!this.lost && (this.stored !== this.appended || this.dirty)) this.scheduleFlush();
  }

  private settleStored(): void {
    if (!this.lost && (this.stored !== this.appended || this.dirty || this.flushing)) return;
    for (const resolve of [...this.storedWaiters]) resolve();
    this.storedWaiters.clear();
  }

  /**
   * Lets go of the stored events no live follower needs: a live follower is at most about maxLagBytes behind (append
   * waits for it), and any other reads the store.
   */
  private trim(): void {
    let keepFrom = this.stored + 1n;
    for (const c of this.cursors) if (c.live && !c.cut && c.next < keepFrom) keepFrom = c.next;
    const drop = Number(keepFrom - this.heldFrom);
    if (drop <= 0) return;
    this.held.splice(0, drop);
    this.heldFrom = keepFrom;
  }

  /** Bytes appended that `cursor` has not read yet. */
  private lagBytes(cursor: Cursor): number {
    const read = cursor.next - 1n;
    if (read < this.heldFrom) return this.bytes - (this.held[0] ? this.held[0].end - eventSize(this.held[0].event) : this.bytes);
    return this.bytes - this.held[Number(read - this.heldFrom)]!.end;
  }

  /** Live followers holding the task back. */
  private lagging(): Cursor[] {
    return [...this.cursors].filter((c) => c.live && !c.cut && this.lagBytes(c) > this.options.maxLagBytes);
  }

  /** Waits while a live follower lags (cutting off those that read nothing for `stallMs`) or the store is behind. */
  private async room(signal?: AbortSignal): Promise<void> {
    for (;;) {
      if (this.closed || this.lost || signal?.aborted) return;
      const lagging = this.lagging();
      const storeBehind = this.unstoredBytes() > FLUSH_BYTES;
      if (lagging.length === 0 && !storeBehind) return;
      const now = Date.now();
      // A follower waiting at the head has nothing stored to read yet: however long it waited, it has not stalled.
      const reading = lagging.filter((c) => c.wake === undefined);
      const stalled = reading.filter((c) => now - c.readAt >= this.options.stallMs);
      for (const cursor of stalled) {
        cursor.cut = new ConnectError(
          `this caller fell ${this.lagBytes(cursor)} bytes behind the task and read nothing for ${Math.round(this.options.stallMs / 1000)}s ` +
            "(CC_SUBSCRIBER_LAG_BYTES, CC_SUBSCRIBER_STALL), so it was cut off for the task to go on; nothing was lost: attach again with after_seq set to the last seq you received",
          Code.ResourceExhausted,
        );
        cursor.wake?.();
      }
      if (stalled.length > 0) continue;
      const stalls = reading.map((c) => c.readAt + this.options.stallMs - now);
      // Woken by a read, a store write (which also wakes the followers waiting at the head), or the first follower's
      // stall deadline.
      await this.wakeOrTimeout(stalls.length > 0 ? Math.min(...stalls) : undefined, signal);
    }
  }

  private wakeCursors(): void {
    const now = Date.now();
    for (const cursor of this.cursors) {
      if (!cursor.wake) continue;
      // Its stall clock starts now, when there is something for it to read, not when it last read.
      cursor.readAt = now;
      cursor.wake();
    }
  }

  private wakeWriters(): void {
    if (this.writers.size === 0) return;
    for (const wake of [...this.writers]) wake();
  }

  private wakeOrTimeout(ms: number | undefined, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", done);
        this.writers.delete(done);
        resolve();
      };
      const timer = ms === undefined ? undefined : setTimeout(done, Math.max(0, ms));
      this.writers.add(done);
      signal?.addEventListener("abort", done, { once: true });
    });
  }
}
