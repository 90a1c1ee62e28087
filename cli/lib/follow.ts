// Follows a task's event stream to its end, its `exited` event: the router ends every task's stream with one,
// whoever ended the task (claude, the worker, or the router itself: a cancel, a lost worker, a queue timeout). The
// stream starts with Run (a new task) or Attach (an existing one); if it drops once the task id is known (network
// error, UNAVAILABLE, a router restart, a slow reader cut off), it is picked up again with Attach(task_id, last seq)
// a few times with backoff, so nothing is missed or seen twice.
import type { RunEvent, RunRequest, Exited } from "../../gen/claudecluster/v1/run_pb.js";
import type { RouterClient } from "./client.js";
import { FollowLostError, isNetworkError, isStreamDrop } from "./errors.js";

export type FollowStart = { run: RunRequest } | { attach: string; afterSeq?: bigint };

export interface FollowOptions {
  client: Pick<RouterClient, "run" | "attach">;
  start: FollowStart;
  /** Aborting stops following (the call is cancelled); follow() then resolves with `stopped: true`. */
  signal: AbortSignal;
  /** Called for every event, in order, once. Awaited: a slow consumer slows the stream. */
  onEvent(event: RunEvent): void | Promise<void>;
  /** A drop is being retried: attempt 1.., after `delayMs`. */
  onReconnect?(attempt: number, delayMs: number, error: unknown): void;
  /** Stop once this seq has been seen (`cc logs` without -f). */
  untilSeq?: bigint;
  /** Re-attach attempts in a row without progress before giving up. */
  retries?: number;
  /** Backoff: the first delay, doubled each attempt up to maxDelayMs. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

export interface FollowResult {
  taskId: string;
  lastSeq: bigint;
  /** The task's end, when the stream reached it. */
  exited?: Exited;
  /** The signal aborted, or untilSeq was reached. */
  stopped: boolean;
}

export function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}

export async function follow(options: FollowOptions): Promise<FollowResult> {
  const { client, start, signal } = options;
  // About 20 s in all: long enough for a router that restarts (it carries on with its tasks) to be back.
  const retries = options.retries ?? 8;
  const base = options.baseDelayMs ?? 250;
  const maxDelay = options.maxDelayMs ?? 4000;
  const sleep = options.sleep ?? abortableSleep;
  let taskId = "attach" in start ? start.attach : "";
  let lastSeq = "attach" in start ? (start.afterSeq ?? 0n) : 0n;
  let failures = 0;
  const stopped = (): FollowResult => ({ taskId, lastSeq, stopped: true });

  if (options.untilSeq !== undefined && lastSeq >= options.untilSeq) return stopped();
  for (;;) {
    if (signal.aborted) return stopped();
    const stream = taskId === "" && "run" in start ? client.run(start.run, { signal }) : client.attach({ taskId, afterSeq: lastSeq }, { signal });
    let error: unknown;
    try {
      for await (const event of stream) {
        failures = 0;
        if (event.seq <= lastSeq && lastSeq > 0n) continue;
        taskId = event.taskId || taskId;
        lastSeq = event.seq;
        await options.onEvent(event);
        if (event.event.case === "exited") return { taskId, lastSeq, exited: event.event.value, stopped: false };
        if (options.untilSeq !== undefined && lastSeq >= options.untilSeq) return stopped();
        if (signal.aborted) return stopped();
      }
      // The stream closed without the task's end: the router went away gracefully. Pick it up again.
      error = new Error("the stream ended before the task did");
    } catch (err) {
      if (signal.aborted) return stopped();
      if (!isStreamDrop(err)) throw err;
      error = err;
    }
    // Before the first event there is no task to attach to: report the failure as it is.
    if (taskId === "") throw error;
    failures += 1;
    if (failures > retries) throw isNetworkError(error) ? new FollowLostError(taskId, failures - 1, error) : error;
    const delay = Math.min(maxDelay, base * 2 ** (failures - 1));
    options.onReconnect?.(failures, delay, error);
    await sleep(delay, signal);
  }
}
