// list_tasks: the router's tasks, newest first, bounded.
import { z } from "zod";
import { STATUS_WORDS, statusFromWord, taskShape, taskSummary } from "../shapes.js";
import { defineTool } from "../tool.js";

export const listTasks = defineTool({
  name: "list_tasks",
  title: "List tasks",
  description: "Lists the cluster's tasks, newest first: by default the queued and running ones. Each comes with its status, worker and, once ended, the start of its final answer.",
  input: {
    statuses: z.array(z.enum(STATUS_WORDS)).optional().describe("Only tasks in these statuses; default queued and running. Give all five for every task the router remembers."),
    limit: z.number().int().min(1).max(100).default(20).describe("At most this many (default 20, at most 100)."),
  },
  output: {
    tasks: z.array(taskShape),
    truncated: z.boolean().describe("More tasks match than were returned: raise limit or narrow statuses."),
  },
  readOnly: true,
  async run(args, ctx) {
    const statuses = (args.statuses ?? ["queued", "running"]).map(statusFromWord);
    const res = await ctx.client.listTasks({ statuses, limit: args.limit + 1 }, { signal: ctx.signal });
    return { structured: { tasks: res.tasks.slice(0, args.limit).map((t) => taskSummary(t, 500)), truncated: res.tasks.length > args.limit } };
  },
});
