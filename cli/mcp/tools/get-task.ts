// get_task: one task's state and result, without waiting.
import { z } from "zod";
import { RESULT_CHARS, taskShape, taskSummary } from "../shapes.js";
import { defineTool } from "../tool.js";

export const getTask = defineTool({
  name: "get_task",
  title: "Get a task",
  description: "Returns one task's status, worker, final answer (once ended, cut to result_chars), cost, turns, session id, any permission requests waiting for an answer, and once it ended in a git workspace of its own its changes (files changed, insertions, deletions, final commit; task_diff gives the patch). Does not wait: use wait_tasks for that.",
  input: {
    task_id: z.string().min(1),
    result_chars: z.number().int().min(0).max(100_000).default(RESULT_CHARS).describe(`Characters of the final answer to return (default ${RESULT_CHARS}).`),
  },
  output: taskShape.shape,
  readOnly: true,
  async run(args, ctx) {
    return { structured: taskSummary(await ctx.client.getTask({ taskId: args.task_id }, { signal: ctx.signal }), args.result_chars) };
  },
});
