// Re-attaching to a task on the worker. A task run's events reach one caller at a time (Run, then Attach); the
// last CC_REPLAY_BYTES of what was taken off the task's queue stay here, so that a router that lost its stream (it
// restarted, or died and another took the task over) asks for what follows the last event it stored, and gets each
// event once. A new caller ends the previous one's stream (ABORTED): two routers never both forward a task. Attaching
// never starts anything: a task still runs at most once.
//
// A task placed by a router outlives a dropped stream for CC_ROUTER_GRACE (a direct caller's for
// CC_DISCONNECT_GRACE), and once ended its kept events stay for as long (EndedFeeds), so a router that comes back
// after the end still reads the `exited`.
import { Code, ConnectError } from "@connectrpc/connect";
import type { RunEvent } from "../../gen/claudecluster/v1/run_pb.js";
import { eventSize } from "../common/event-size.js";
import type { EventQueue } from "../common/event-queue.js";

export interface FeedCallbacks {
  /** The attached caller went away before the task ended. */
  callerGone(): void;
  /** A caller attached (again). */
  callerBack(): void;
}

export class TaskFeed {
  /** Events taken off the queue, oldest first, at most `maxBytes` of them (and always the last). */
  private readonly kept: RunEvent[] = [];
  private keptBytes = 0;
  /** The seq of the last event taken off the queue. */
  private lastTaken = 0n;
  private current: AbortController | undefined;
  private ended = false;

  constructor(
    private readonly queue: EventQueue<RunEvent>,
    private readonly maxBytes: number,
    private readonly callbacks: FeedCallbacks,
  ) {}

  /** Bytes of events kept for a re-attach. */
  get bytes(): number {
    return this.keptBytes;
  }

  get attached(): boolean {
    return this.current !== undefined;
  }

  /**
   * The caller's stream: the kept events after `afterSeq`, then new ones until `exited`. Throws OUT_OF_RANGE when
   * events right after `afterSeq` are no longer kept; ABORTED when another caller attaches.
   */
  async *stream(afterSeq: bigint, signal: AbortSignal): AsyncGenerator<RunEvent> {
    const oldest = this.kept[0]?.seq ?? this.lastTaken + 1n;
    if (afterSeq + 1n < oldest) {
      throw new ConnectError(
        `events ${afterSeq + 1n} to ${oldest - 1n} of this task are no longer kept on the worker (it keeps the last CC_REPLAY_BYTES, ${this.maxBytes} bytes); attach from ${oldest - 1n} or later`,
        Code.OutOfRange,
      );
    }
    this.current?.abort(new ConnectError("another caller attached to this task; this stream is no longer fed", Code.Aborted));
    const mine = new AbortController();
    this.current = mine;
    this.callbacks.callerBack();
    const both = AbortSignal.any([signal, mine.signal]);
    let sawExited = false;
    try {
      for (const event of this.kept.filter((e) => e.seq > afterSeq)) {
        if (both.aborted) break;
        sawExited ||= event.event.case === "exited";
        yield event;
      }
      if (!sawExited) {
        for await (const event of this.queue.drain(both)) {
          this.keep(event);
          yield event;
        }
      }
      if (mine.signal.aborted && !signal.aborted) throw mine.signal.reason;
    } finally {
      if (this.current === mine) {
        this.current = undefined;
        if (!this.ended) this.callbacks.callerGone();
      }
    }
  }

  /** The task ended: no caller is waited for any more. */
  end(): void {
    this.ended = true;
  }

  private keep(event: RunEvent): void {
    this.lastTaken = event.seq;
    this.kept.push(event);
    this.keptBytes += eventSize(event);
    while (this.kept.length > 1 && this.keptBytes > this.maxBytes) this.keptBytes -= eventSize(this.kept.shift()!);
  }
}

/**
 * Ended tasks a router placed, with their kept events, for CC_ROUTER_GRACE after the end: a router that comes back
 * reads their `exited`. Bounded in count and bytes: past either, the oldest go.
 */
export class EndedFeeds {
  private readonly feeds = new Map<string, { feed: TaskFeed; timer: NodeJS.Timeout }>();
  private bytes = 0;

  constructor(private readonly options: { keepMs: number; maxFeeds: number; maxBytes: number }) {}

  add(taskId: string, feed: TaskFeed): void {
    this.remove(taskId);
    const timer = setTimeout(() => this.remove(taskId), this.options.keepMs);
    timer.unref();
    this.feeds.set(taskId, { feed, timer });
    this.bytes += feed.bytes;
    for (const [id] of this.feeds) {
      if (this.feeds.size <= this.options.maxFeeds && this.bytes <= this.options.maxBytes) break;
      this.remove(id);
    }
  }

  get(taskId: string): TaskFeed | undefined {
    return this.feeds.get(taskId)?.feed;
  }

  remove(taskId: string): void {
    const kept = this.feeds.get(taskId);
    if (!kept) return;
    clearTimeout(kept.timer);
    this.bytes -= kept.feed.bytes;
    this.feeds.delete(taskId);
  }

  clear(): void {
    for (const id of [...this.feeds.keys()]) this.remove(id);
  }
}
