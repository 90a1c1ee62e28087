// list_permission_requests: every permission request waiting for an answer, across the running tasks.
import { z } from "zod";
import { TaskStatus } from "../../../gen/claudecluster/v1/router_pb.js";
import { permission, permissionShape } from "../shapes.js";
import { defineTool } from "../tool.js";

const MAX_REQUESTS = 100;

export const listPermissionRequests = defineTool({
  name: "list_permission_requests",
  title: "List permission requests",
  description: "Lists the tool calls that running tasks wait to have approved, oldest task first: which tool, its input, and the request id to pass to answer_permission. A request nobody answers is denied after the worker's timeout (see expires_at).",
  input: {
    task_ids: z.array(z.string()).max(100).optional().describe("Only these tasks; default every running task."),
  },
  output: {
    requests: z.array(permissionShape),
    truncated: z.boolean(),
  },
  readOnly: true,
  async run(args, ctx) {
    const tasks = args.task_ids
      ? await Promise.all(args.task_ids.map((taskId) => ctx.client.getTask({ taskId }, { signal: ctx.signal })))
      : (await ctx.client.listTasks({ statuses: [TaskStatus.RUNNING], limit: 1000 }, { signal: ctx.signal })).tasks.reverse();
    const requests = tasks.flatMap((t) => t.pendingPermissions.map((p) => permission(t.id, p)));
    return { structured: { requests: requests.slice(0, MAX_REQUESTS), truncated: requests.length > MAX_REQUESTS } };
  },
});
