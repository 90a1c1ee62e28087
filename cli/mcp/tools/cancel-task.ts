// cancel_task: stops a task wherever it is.
import { z } from "zod";
import { statusWord } from "../shapes.js";
import { defineTool } from "../tool.js";

export const cancelTask = defineTool({
  name: "cancel_task",
  title: "Cancel a task",
  description: "Stops a task: a queued one leaves the queue, a running one's claude is ended on its worker. Returns once it has stopped. Work it left in its workspace stays there.",
  input: {
    task_id: z.string().min(1),
    reason: z.string().max(500).optional().describe("Why, kept in the task's record."),
  },
  output: {
    task_id: z.string(),
    status: z.string().describe("cancelled, or how it had already ended."),
  },
  readOnly: false,
  destructive: true,
  async run(args, ctx) {
    const task = await ctx.client.cancelTask({ taskId: args.task_id, reason: args.reason ?? "cancelled through cc mcp" }, { signal: ctx.signal });
    return { structured: { task_id: task.id, status: statusWord(task.status) } };
  },
});
