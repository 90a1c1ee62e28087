// A single-consumer queue measured in bytes, with high and low water marks. The producer is told to pause when the
// queue passes the high mark and to resume when the consumer has drained it below the low mark, so a slow reader
// slows the source (a PTY, a pipe) instead of growing memory.
import { waitForWake } from "./wake.js";

export interface EventQueueOptions<T> {
  /** Above this many queued bytes the producer is asked to pause. */
  highWaterBytes: number;
  /** Below this many the producer is asked to resume. */
  lowWaterBytes: number;
  sizeOf: (item: T) => number;
  /** Called with true to pause the producer, false to resume it. */
  onPressure?: (pause: boolean) => void;
}

export class EventQueue<T> {
  private readonly items: T[] = [];
  private head = 0;
  private bytes = 0;
  private paused = false;
  private closed = false;
  private wake: (() => void) | undefined;

  constructor(private readonly options: EventQueueOptions<T>) {}

  get queuedBytes(): number {
    return this.bytes;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  push(item: T): void {
    if (this.closed) return;
    this.items.push(item);
    this.bytes += this.options.sizeOf(item);
    if (!this.paused && this.bytes > this.options.highWaterBytes) {
      this.paused = true;
      this.options.onPressure?.(true);
    }
    this.notify();
  }

  /** No more items will come; the consumer still receives what is queued. */
  close(): void {
    this.closed = true;
    this.notify();
  }

  /**
   * Yields items until the queue is closed and empty. Returns early (without throwing) when `signal` aborts; what
   * is left stays queued for a later call.
   */
  async *drain(signal?: AbortSignal): AsyncGenerator<T> {
    while (!signal?.aborted) {
      if (this.head < this.items.length) {
        yield this.shift();
        continue;
      }
      if (this.closed) return;
      await this.waitForItem(signal);
    }
  }

  private shift(): T {
    const item = this.items[this.head]!;
    this.items[this.head++] = undefined as T;
    // Compact now and then instead of Array.shift() on every read.
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items.splice(0, this.head);
      this.head = 0;
    }
    this.bytes -= this.options.sizeOf(item);
    if (this.paused && this.bytes < this.options.lowWaterBytes) {
      this.paused = false;
      this.options.onPressure?.(false);
    }
    return item;
  }

  private waitForItem(signal?: AbortSignal): Promise<void> {
    return waitForWake(signal, (wake) => (this.wake = wake));
  }

  private notify(): void {
    this.wake?.();
  }
}
