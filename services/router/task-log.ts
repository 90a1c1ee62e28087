// A task's event log. The router reads each worker stream at full speed into it; Attach callers follow it. There is
// one copy of every event, shared by all subscribers: a subscriber is only a cursor, so a slow one costs no memory.
// A subscriber whose cursor falls more than `maxLagBytes` behind the head is cut off (RESOURCE_EXHAUSTED) and may
// attach again from its last seq. The log itself is bounded in bytes: the oldest events are dropped past the bound.
import { ConnectError, Code } from "@connectrpc/connect";
import type { RunEvent } from "../../gen/claudecluster/v1/run_pb.js";
import { eventSize } from "../common/event-size.js";
import { waitForWake } from "../common/wake.js";

export interface TaskLogOptions {
  maxBytes: number;
  maxLagBytes: number;
}

interface Cursor {
  /** The next seq this subscriber will read. */
  next: bigint;
  cut: ConnectError | undefined;
  wake: (() => void) | undefined;
}

export class TaskLog {
  private events: RunEvent[] = [];
  /** Cumulative byte offsets: ends[i] = bytes of events[0..i]. */
  private ends: number[] = [];
  /** Seq of events[0]. */
  private firstSeq = 1n;
  private droppedBytes = 0;
  private bytes = 0;
  private closed = false;
  private failure: ConnectError | undefined;
  private readonly cursors = new Set<Cursor>();

  constructor(private readonly options: TaskLogOptions) {}

  /** Seq of the last event appended; 0 when empty. */
  get lastSeq(): bigint {
    return this.firstSeq + BigInt(this.events.length) - 1n;
  }

  /** Seq of the oldest event still held: above 1 once the oldest were dropped; 0 when empty. */
  get firstRetainedSeq(): bigint {
    return this.events.length > 0 ? this.firstSeq : 0n;
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

  /** Appends an event whose seq must be lastSeq + 1. */
  append(event: RunEvent): void {
    if (this.closed) return;
    const size = eventSize(event);
    this.events.push(event);
    this.bytes += size;
    this.ends.push(this.droppedBytes + this.bytes);
    this.trim();
    for (const cursor of this.cursors) {
      const lag = this.lagBytes(cursor);
      if (lag > this.options.maxLagBytes && !cursor.cut) {
        cursor.cut = new ConnectError(
          `this subscriber fell ${lag} bytes behind the task's stream and was cut off; attach again with after_seq set to the last seq you received`,
          Code.ResourceExhausted,
        );
      }
      cursor.wake?.();
    }
  }

  /** The task ended: subscribers read to the end and finish; with `failure`, they then receive that error. */
  close(failure?: ConnectError): void {
    if (this.closed) return;
    this.closed = true;
    this.failure = failure;
    for (const cursor of this.cursors) cursor.wake?.();
  }

  /** Events after `afterSeq`: the replay first, then live ones until the log closes. */
  async *follow(afterSeq: bigint, signal?: AbortSignal): AsyncGenerator<RunEvent> {
    if (afterSeq + 1n < this.firstSeq) {
      throw new ConnectError(
        `events 1 to ${this.firstSeq - 1n} of this task were dropped from the router's log (its size limit); attach with after_seq of at least ${this.firstSeq - 1n}`,
        Code.OutOfRange,
      );
    }
    const cursor: Cursor = { next: afterSeq + 1n, cut: undefined, wake: undefined };
    this.cursors.add(cursor);
    try {
      while (!signal?.aborted) {
        if (cursor.cut) throw cursor.cut;
        const index = Number(cursor.next - this.firstSeq);
        if (index < 0) throw new ConnectError("this subscriber fell behind the router's log and was cut off; attach again", Code.ResourceExhausted);
        if (index < this.events.length) {
          cursor.next += 1n;
          yield this.events[index]!;
          continue;
        }
        if (this.closed) {
          if (this.failure) throw this.failure;
          return;
        }
        await waitForWake(signal, (wake) => (cursor.wake = wake));
      }
    } finally {
      this.cursors.delete(cursor);
    }
  }

  /**
   * Bytes a cursor has yet to read, not counting the newest event: a single event larger than the bound (a long
   * assistant message) must not cut off every subscriber at once.
   */
  private lagBytes(cursor: Cursor): number {
    const readUpTo = Number(cursor.next - this.firstSeq) - 1;
    const readBytes = readUpTo >= 0 ? this.ends[readUpTo]! : this.droppedBytes;
    const beforeNewest = this.ends.length >= 2 ? this.ends[this.ends.length - 2]! : this.droppedBytes;
    return Math.max(0, beforeNewest - readBytes);
  }

  /** Drops the oldest events while over the byte bound, always keeping the newest one. */
  private trim(): void {
    let drop = 0;
    while (this.bytes > this.options.maxBytes && drop < this.events.length - 1) {
      const size = eventSize(this.events[drop]!);
      this.bytes -= size;
      this.droppedBytes += size;
      drop += 1;
    }
    if (drop === 0) return;
    this.events = this.events.slice(drop);
    this.ends = this.ends.slice(drop);
    this.firstSeq += BigInt(drop);
  }
}
