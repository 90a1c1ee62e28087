// Follows a task's event stream to its end. The stream starts with Run (a new task) or Attach (an existing one);
// if it drops once the task id is known (network error, UNAVAILABLE, a router restart, a slow reader cut off), it is
// picked up again with Attach(task_id, last seq) a few times with backoff, so nothing is missed or seen twice.
// An error the router sends because the task itself failed (e.g. its worker was lost) is not a drop: the task's
// record then says it has ended, and its `exit` is the outcome.
import { TaskStatus } from "../../gen/claudecluster/v1/router_pb.js";
import type { RunEvent, RunRequest, Exited } from "../../gen/claudecluster/v1/run_pb.js";
import type { RouterClient } from "./client.js";
import { FollowLostError, isNetworkError, isStreamDrop } from "./errors.js";

export type FollowStart = { run: RunRequest } | { attach: string; afterSeq?: bigint };

export interface FollowOptions {
  client: Pick<RouterClient, "run" | "attach" | "getTask">;
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
  /** The task's end, when the stream reached it (or, after a failure the router reported, the task's record). */
  exited?: Exited;
  /** The error the router ended the stream with, when the task failed that way. */
  error?: unknown;
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
  const retries = options.retries ?? 5;
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
    if (!isNetworkError(error)) {
      // The router answered: maybe the task itself ended with this error. Then its record has the outcome.
      const task = await client.getTask({ taskId }, { signal }).catch(() => undefined);
      if (task && task.status !== TaskStatus.QUEUED && task.status !== TaskStatus.RUNNING && task.lastSeq <= lastSeq) {
        return { taskId, lastSeq, ...(task.exit ? { exited: task.exit } : {}), error, stopped: false };
      }
    }
    failures += 1;
    if (failures > retries) throw isNetworkError(error) ? new FollowLostError(taskId, failures - 1, error) : error;
    const delay = Math.min(maxDelay, base * 2 ** (failures - 1));
    options.onReconnect?.(failures, delay, error);
    await sleep(delay, signal);
  }
}
