// Following a log that lives in this process (the memory and SQLite stores): read what is stored, then wait to be
// woken by the next append to the task, until its `exited`.
import type { RunEvent } from "../../../gen/claudecluster/v1/run_pb.js";
import { isExited } from "./event-bytes.js";

const PAGE = 256;

export class LocalFeed {
  private readonly waiters = new Map<string, Set<() => void>>();

  /** Something was appended to the task, or it was forgotten. */
  wake(taskId: string): void {
    const set = this.waiters.get(taskId);
    if (!set) return;
    this.waiters.delete(taskId);
    for (const w of set) w();
  }

  wakeAll(): void {
    for (const id of [...this.waiters.keys()]) this.wake(id);
  }

  async *follow(
    taskId: string,
    afterSeq: bigint,
    signal: AbortSignal | undefined,
    read: (afterSeq: bigint, limit: number) => RunEvent[] | Promise<RunEvent[]>,
    exists: () => boolean | Promise<boolean>,
  ): AsyncGenerator<RunEvent> {
    let after = afterSeq;
    while (!signal?.aborted) {
      // Registered before reading, so that an append between the read and the wait is not missed.
      let woken = false;
      let resolve: (() => void) | undefined;
      const waiter = () => {
        woken = true;
        resolve?.();
      };
      let set = this.waiters.get(taskId);
      if (!set) this.waiters.set(taskId, (set = new Set()));
      set.add(waiter);
      let events: RunEvent[];
      try {
        events = await read(after, PAGE);
      } catch (err) {
        set.delete(waiter);
        throw err;
      }
      if (events.length > 0) {
        set.delete(waiter);
        for (const event of events) {
          after = event.seq;
          yield event;
          if (isExited(event)) return;
        }
        continue;
      }
      if (!(await exists())) {
        set.delete(waiter);
        return;
      }
      if (!woken) {
        await new Promise<void>((r) => {
          const done = () => {
            signal?.removeEventListener("abort", done);
            r();
          };
          resolve = done;
          signal?.addEventListener("abort", done, { once: true });
        });
      }
      set.delete(waiter);
    }
  }
}
