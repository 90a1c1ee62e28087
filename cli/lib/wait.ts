// `cc wait`: blocks until tasks end. Each is followed from its last event (Attach after the record's last seq), so
// waiting costs a stream per task, not polling, and replays nothing. Its outcome decides the exit code.
import { Code, ConnectError } from "@connectrpc/connect";
import { ExitReason, type Exited } from "../../gen/claudecluster/v1/run_pb.js";
import { TaskStatus } from "../../gen/claudecluster/v1/router_pb.js";
import { ExitCode } from "../exit-codes.js";
import { follow } from "./follow.js";
import { formatDuration } from "./formats.js";
import { processSignals } from "./io.js";
import { taskOutcome } from "./outcome.js";
import type { TaskCommandContext } from "./task-commands.js";

export interface WaitOptions {
  timeoutMs?: number;
  /** Names the task an error is about (unknown task). */
  onTask?: (id: string) => void;
}

/** "succeeded", "cancelled" or "failed (error_max_turns)": how a task ended, in the words of `cc ps`. */
export function endedWord(exited: Exited | undefined, taskId: string): { word: string; ok: boolean } {
  if (!exited) return { word: "failed", ok: false };
  const outcome = taskOutcome(exited, { taskId });
  if (outcome.summary.ok) return { word: "succeeded", ok: true };
  if (exited.reason === ExitReason.CANCELLED || exited.reason === ExitReason.CLIENT_GONE) return { word: "cancelled", ok: false };
  return { word: `failed (${outcome.summary.outcome})`, ok: false };
}

export async function waitTasks(c: TaskCommandContext, taskIds: readonly string[], o: WaitOptions = {}): Promise<number> {
  const signals = c.signals ?? processSignals;
  // Every id is checked first, so a typo fails before any waiting (and exits 4).
  const records = [];
  for (const id of taskIds) {
    o.onTask?.(id);
    records.push(await c.client.getTask({ taskId: id }));
  }
  o.onTask?.("");
  const abort = new AbortController();
  let timedOut = false;
  let interrupted = false;
  const timer = o.timeoutMs !== undefined ? setTimeout(() => ((timedOut = true), abort.abort()), o.timeoutMs) : undefined;
  const onInterrupt = () => ((interrupted = true), abort.abort());
  signals.on("SIGINT", onInterrupt);
  const pending = new Set(taskIds);
  let allOk = true;
  try {
    await Promise.all(
      records.map(async (task) => {
        let exited = task.exit;
        let current = task;
        while (current.status === TaskStatus.QUEUED || current.status === TaskStatus.RUNNING) {
          try {
            const result = await follow({ client: c.client, start: { attach: current.id, afterSeq: current.lastSeq }, signal: abort.signal, onEvent: () => undefined });
            if (result.stopped && !result.exited) return;
            exited = result.exited;
            break;
          } catch (err) {
            // A busy task's log moved on past where we attached (the router keeps a bounded log): from where it is now.
            if (!(err instanceof ConnectError) || err.code !== Code.OutOfRange) throw err;
            current = await c.client.getTask({ taskId: current.id }, { signal: abort.signal });
            exited = current.exit;
          }
        }
        pending.delete(task.id);
        const { word, ok } = endedWord(exited, task.id);
        allOk &&= ok;
        c.io.stdout.write(`${task.id} ${word}\n`);
      }),
    );
  } finally {
    clearTimeout(timer);
    signals.off("SIGINT", onInterrupt);
  }
  if (pending.size > 0) {
    const left = [...pending].join(", ");
    if (interrupted) {
      c.io.stderr.write(`cc: stopped waiting; still running: ${left}\n`);
      return ExitCode.Interrupted;
    }
    if (timedOut) {
      c.io.stderr.write(`cc: ${pending.size} of ${taskIds.length} ${taskIds.length === 1 ? "task" : "tasks"} still running after ${formatDuration(o.timeoutMs!)}: ${left}\n`);
      return ExitCode.WaitTimeout;
    }
  }
  return allOk ? ExitCode.Ok : ExitCode.AgentError;
}
