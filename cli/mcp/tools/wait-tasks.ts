// wait_tasks: waits until the given tasks have ended (all, or with `any` the first), or one of them needs an
// answer to a permission request, or the timeout passes; then returns each task's state and result. While it
// waits it follows the tasks' event streams (so it hears of an end or a request at once) and sends MCP progress
// notifications, which also keep a client's idle timeout from firing on a long wait.
import { z } from "zod";
import type { Task } from "../../../gen/claudecluster/v1/router_pb.js";
import { ended, RESULT_CHARS, taskShape, taskSummary } from "../shapes.js";
import { defineTool, type ClusterClient, type ToolContext } from "../tool.js";

const MAX_TASKS = 50;
/** How often progress is reported while nothing happens. */
export const PROGRESS_INTERVAL_MS = 10_000;

export const waitTasks = defineTool({
  name: "wait_tasks",
  title: "Wait for tasks to finish",
  description: [
    "Waits until every given task has ended (or, with any=true, the first one) and returns each task's status and final answer (result), cost, turns and session id, and for a task in a git workspace of its own its changes (files changed, insertions, deletions, final commit; task_diff gives the patch).",
    "It also returns early when a task is waiting for approval of a tool call (waiting_for_approval, pending_permissions): answer with answer_permission, then call wait_tasks again.",
    "On timeout it returns what is known so far with timed_out=true; call it again to keep waiting. Results are cut to result_chars characters (result_truncated says so); task_output gives the rest.",
  ].join(" "),
  input: {
    task_ids: z.array(z.string()).min(1).max(MAX_TASKS).describe("The tasks, as run_task returned them."),
    any: z.boolean().default(false).describe("Return as soon as one of them has ended, instead of all."),
    timeout_seconds: z.number().int().min(1).max(3600).default(600).describe("Return after this long at the latest (default 600)."),
    return_on_approval: z.boolean().default(true).describe("Return early when a task waits for a permission answer (default true)."),
    result_chars: z.number().int().min(0).max(100_000).default(RESULT_CHARS).describe(`Characters of each final answer to return (default ${RESULT_CHARS}).`),
  },
  output: {
    done: z.boolean().describe("All the tasks (or with any, one of them) have ended."),
    timed_out: z.boolean().describe("The timeout passed first."),
    waiting_for_approval: z.boolean().describe("Some task waits for answer_permission."),
    ended: z.number().describe("How many of the tasks have ended."),
    tasks: z.array(taskShape).describe("Each task, in the order asked."),
  },
  readOnly: true,
  async run(args, ctx) {
    const ids = [...new Set(args.task_ids)];
    const deadline = ctx.clock.now() + args.timeout_seconds * 1000;
    for (;;) {
      const tasks = await Promise.all(ids.map((taskId) => ctx.client.getTask({ taskId }, { signal: ctx.signal })));
      const endedCount = tasks.filter(ended).length;
      const done = args.any ? endedCount > 0 : endedCount === tasks.length;
      const approval = tasks.some((t) => t.pendingPermissions.length > 0);
      const timedOut = ctx.clock.now() >= deadline;
      if (done || (approval && args.return_on_approval) || timedOut || ctx.signal.aborted) {
        return {
          structured: {
            done,
            timed_out: timedOut && !done,
            waiting_for_approval: approval,
            ended: endedCount,
            tasks: tasks.map((t) => taskSummary(t, args.result_chars)),
          },
        };
      }
      await ctx.progress(endedCount, tasks.length, progressMessage(tasks));
      await untilSomethingHappens(ctx, tasks.filter((t) => !ended(t)), Math.min(PROGRESS_INTERVAL_MS, deadline - ctx.clock.now()));
    }
  },
});

export function progressMessage(tasks: readonly Task[]): string {
  const open = tasks.filter((t) => !ended(t));
  const parts = open.slice(0, 5).map((t) => (t.pendingPermissions.length > 0 ? `${t.id} waits for approval` : t.workerId ? `${t.id} runs on ${t.workerId}` : `${t.id} is queued`));
  const more = open.length > 5 ? `, and ${open.length - 5} more` : "";
  return `${tasks.length - open.length} of ${tasks.length} tasks ended; ${parts.join(", ")}${more}`;
}

/**
 * Resolves when one of the tasks ends or asks for a permission (its event stream says so), after `ms`, or when the
 * call is cancelled. Each stream starts after the seq the task's record had, so only new events count.
 */
async function untilSomethingHappens(ctx: ToolContext, open: readonly Task[], ms: number): Promise<void> {
  const abort = new AbortController();
  const stop = () => abort.abort();
  ctx.signal.addEventListener("abort", stop, { once: true });
  try {
    await Promise.race([ctx.clock.sleep(Math.max(0, ms), abort.signal), ...open.map((t) => nextNews(ctx.client, t, abort.signal))]);
  } finally {
    ctx.signal.removeEventListener("abort", stop);
    abort.abort();
  }
}

/** The next event of a task that wait_tasks must act on; a stream that fails never resolves (the timer does). */
function nextNews(client: ClusterClient, task: Task, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    void (async () => {
      try {
        for await (const event of client.attach({ taskId: task.id, afterSeq: task.lastSeq }, { signal })) {
          const c = event.event.case;
          if (c === "exited" || c === "permissionRequest") return resolve();
        }
        // The stream ended: the task has ended (or the router went away); look again.
        resolve();
      } catch {
        // A dropped stream or a cancelled wait: the timer or the next look decides.
      }
    })();
  });
}
