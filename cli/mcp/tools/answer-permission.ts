// answer_permission: allows or denies a tool call a task waits on.
import { z } from "zod";
import { PermissionDecision, PermissionResolution } from "../../../gen/claudecluster/v1/permissions_pb.js";
import { defineTool } from "../tool.js";

const DECISIONS = { allow: PermissionDecision.ALLOW, deny: PermissionDecision.DENY, allow_always: PermissionDecision.ALLOW_ALWAYS } as const;

export const answerPermission = defineTool({
  name: "answer_permission",
  title: "Answer a permission request",
  description: [
    "Answers a task's request to use a tool (from wait_tasks, get_task or list_permission_requests).",
    "allow runs this call (with updated_input instead of the original input, if given); deny refuses it and the task's claude is told message and carries on; allow_always runs it and lets the task use this tool for the rest of its run without asking.",
    "Ask your user first when the call is risky.",
  ].join(" "),
  input: {
    task_id: z.string().min(1),
    request_id: z.string().min(1),
    decision: z.enum(["allow", "deny", "allow_always"]),
    message: z.string().max(4096).optional().describe("With deny: what the task's claude is told, e.g. why and what to do instead."),
    updated_input: z.record(z.string(), z.json()).optional().describe("With allow: the tool's whole input to run instead of what the task asked for."),
  },
  output: {
    task_id: z.string(),
    request_id: z.string(),
    decision: z.string().describe("allow, deny or allow_always, as settled."),
    resolution: z.string().describe("answered (by this call)."),
  },
  readOnly: false,
  async run(args, ctx) {
    const res = await ctx.client.answerPermission(
      {
        taskId: args.task_id,
        requestId: args.request_id,
        decision: DECISIONS[args.decision],
        message: args.message ?? "",
        updatedInputJson: args.updated_input !== undefined ? JSON.stringify(args.updated_input) : "",
      },
      { signal: ctx.signal },
    );
    const decision = Object.entries(DECISIONS).find(([, d]) => d === res.resolved?.decision)?.[0] ?? args.decision;
    const resolution = (PermissionResolution[res.resolved?.resolution ?? PermissionResolution.ANSWERED] ?? "answered").toLowerCase();
    return { structured: { task_id: args.task_id, request_id: args.request_id, decision, resolution } };
  },
});
