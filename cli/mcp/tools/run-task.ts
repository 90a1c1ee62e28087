// run_task: starts a task and returns at once with its id, never waiting for it to finish; wait_tasks waits. With
// `upload`, a local directory (a git checkout as it is on disk, uncommitted work included) is sent first and becomes
// the task's workspace, so a primary Claude can fan its own checkout out to sub-tasks and read their changes back
// (task_diff); the upload is what takes time, and it reports progress meanwhile.
import { randomUUID } from "node:crypto";
import { stat } from "node:fs/promises";
import { resolve } from "node:path";
import { create } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { z } from "zod";
import { GitPushSchema, RunMode, RunRequestSchema } from "../../../gen/claudecluster/v1/run_pb.js";
import { PERMISSION_MODES } from "../../../services/common/validate-run.js";
import { uploadAsWorkspace } from "../../lib/checkout/workspace.js";
import { humanBytes } from "../../lib/numbers.js";
import { statusWord } from "../shapes.js";
import { defineTool } from "../tool.js";

export const runTask = defineTool({
  name: "run_task",
  title: "Run a Claude Code task on the cluster",
  description: [
    "Starts Claude Code on a cluster worker with this prompt and returns at once with the task id; the task runs on its own.",
    "To split a job, call run_task once per independent part (they run at the same time on the cluster's workers), then call wait_tasks once with all the ids to get every result.",
    "The worker's claude does not see this conversation: give each task everything it needs in its prompt.",
    "By default (ask_permissions) a tool call the task's options do not allow pauses it until you answer with answer_permission; wait_tasks returns early when that happens.",
    "With upload (a local directory, e.g. \".\"), the task works on a copy of that checkout, uncommitted changes included, and once it ends task_diff returns what it changed.",
  ].join(" "),
  input: {
    prompt: z.string().min(1).describe("What the task's claude should do: a complete, self-contained instruction."),
    repo: z.string().optional().describe("A git repository to clone into the task's workspace (https://, ssh:// or git@host:org/repo)."),
    ref: z.string().optional().describe("With repo: the branch, tag or commit to check out."),
    upload: z
      .string()
      .min(1)
      .optional()
      .describe(
        "Send this local directory (relative to where cc mcp runs, usually your project) as the task's workspace: a git checkout goes as it is on disk (HEAD plus staged, unstaged and untracked files, never ignored ones) on a branch cc/<task id>, and its changes come back through task_diff; a directory outside git goes as a tarball. With repo, only what that repository lacks is sent, and push pushes there.",
      ),
    directory: z.string().optional().describe("Work in this directory under the worker's workspace root (created if missing; tasks naming the same directory share it). Not with repo or upload."),
    model: z.string().optional().describe("A model alias (sonnet, opus) or full name; default the worker's."),
    allowed_tools: z.array(z.string()).max(200).optional().describe('Tools the task may use without asking, in claude\'s rule syntax, e.g. ["Bash(npm test:*)", "Edit"].'),
    disallowed_tools: z.array(z.string()).max(200).optional().describe("Tools the task must not use."),
    permission_mode: z.enum(PERMISSION_MODES).optional().describe("claude's --permission-mode, e.g. acceptEdits to allow file edits."),
    ask_permissions: z.boolean().default(true).describe("true (default): calls not allowed up front wait for answer_permission; false: they are refused at once."),
    append_system_prompt: z.string().optional().describe("Text added to the task's system prompt."),
    max_turns: z.number().int().min(1).max(10_000).optional().describe("Stop after this many agent turns."),
    max_budget_usd: z.number().positive().optional().describe("Stop once the task's API cost passes this many dollars."),
    resume_session_id: z.string().optional().describe("Continue this claude session (from an earlier task's session_id; give that task's worker too)."),
    labels: z.record(z.string(), z.string()).optional().describe('Run on a worker with these labels, e.g. {"region": "eu"}.'),
    worker: z.string().optional().describe("Run on this worker only (see list_workers)."),
    timeout_seconds: z.number().int().min(1).max(86_400).optional().describe("Stop the task after this many seconds; default the worker's."),
    push: z.boolean().default(false).describe("With repo: when the task ends, commit what it left uncommitted and push its branch to that repository (never forcing). get_task and wait_tasks then report the branch and a compare URL."),
    push_branch: z.string().min(1).optional().describe("With push: the branch to push to (default cc/<task id>)."),
    push_author: z.string().optional().describe("With push: author of the commit of uncommitted work, as 'Name <email>' (default the worker's)."),
    push_message: z.string().optional().describe("With push: that commit's message (default 'cc: work of task <id>' and the prompt)."),
  },
  output: {
    task_id: z.string().describe("Pass to wait_tasks, get_task, task_output, cancel_task."),
    status: z.string().describe("queued or running (or how it ended, if that fast)."),
    worker_id: z.string().describe("The worker it was placed on; empty while queued."),
    queue_position: z.number().describe("While queued: 1 for the next task to be placed; 0 otherwise."),
    uploaded: z.string().optional().describe("With upload: what was sent, e.g. the checkout at 1a2b3c4d5e6f on main, with its uncommitted changes."),
  },
  readOnly: false,
  async run(args, ctx) {
    if (args.repo !== undefined && args.directory !== undefined) throw new Error("give repo or directory, not both");
    if (args.upload !== undefined && args.directory !== undefined) throw new Error("give upload or directory, not both: an upload is unpacked into a fresh directory of the task's own");
    if (args.ref !== undefined && args.repo === undefined) throw new Error("ref needs repo");
    if (args.push && args.repo === undefined) throw new Error("push needs repo: the repository to push the task's branch to (with upload, the repository the checkout came from)");
    for (const [name, value] of [["push_branch", args.push_branch], ["push_author", args.push_author], ["push_message", args.push_message]] as const) {
      if (value !== undefined && !args.push) throw new Error(`${name} needs push: true`);
    }
    const directory = args.directory ?? (args.repo === undefined && args.upload === undefined ? ctx.taskDefaults.directory : undefined);
    const request = create(RunRequestSchema, {
      prompt: args.prompt,
      mode: RunMode.HEADLESS,
      agent: {
        model: args.model ?? "",
        allowedTools: args.allowed_tools ?? [],
        disallowedTools: args.disallowed_tools ?? [],
        permissionMode: args.permission_mode ?? "",
        appendSystemPrompt: args.append_system_prompt ?? "",
        maxTurns: args.max_turns ?? 0,
        maxBudgetUsd: args.max_budget_usd ?? 0,
        resumeSessionId: args.resume_session_id ?? "",
        askPermissions: args.ask_permissions,
      },
      ...(args.repo !== undefined ? { workspace: { source: { case: "repository" as const, value: { url: args.repo, ref: args.ref ?? "" } } } } : {}),
      ...(directory !== undefined ? { workspace: { source: { case: "directory" as const, value: directory } } } : {}),
      ...(args.timeout_seconds !== undefined ? { timeout: durationFromMs(args.timeout_seconds * 1000) } : {}),
      labels: args.labels ?? {},
      workerId: args.worker ?? "",
      requestId: randomUUID(),
      // The task outlives this call (and this MCP server's connection): wait_tasks and the others find it by id.
      detach: true,
    });
    if (args.push) request.workspace!.push = create(GitPushSchema, { branch: args.push_branch ?? "", author: args.push_author ?? "", message: args.push_message ?? "" });
    let uploaded: string | undefined;
    if (args.upload !== undefined) {
      const dir = resolve(ctx.cwd, args.upload);
      if (!(await stat(dir).catch(() => undefined))?.isDirectory()) throw new Error(`upload: ${dir} is not a directory (a relative path is taken from ${ctx.cwd}, where cc mcp runs)`);
      let lastReport = -Infinity;
      const sent = await uploadAsWorkspace(ctx.client, dir, request, {
        signal: ctx.signal,
        onProgress: (bytes, total) => {
          // A notification a second at most (a chunk is 240 KiB).
          if (ctx.clock.now() - lastReport < 1000 && bytes < total) return;
          lastReport = ctx.clock.now();
          void ctx.progress(bytes, total, `uploading ${args.upload}: ${humanBytes(bytes)} of ${humanBytes(total)}`).catch(() => undefined);
        },
      });
      request.workspace = sent.workspace;
      uploaded = `${sent.description}, to worker ${sent.response.workerId}`;
    }
    // Run answers with the task's first event: placed (started, or starting a clone) or queued. Then leave.
    const abort = new AbortController();
    const stop = () => abort.abort();
    ctx.signal.addEventListener("abort", stop, { once: true });
    let taskId = "";
    let queuePosition = 0;
    try {
      for await (const event of ctx.client.run(request, { signal: abort.signal })) {
        taskId = event.taskId;
        if (event.event.case === "status") queuePosition = event.event.value.queuePosition;
        break;
      }
    } finally {
      ctx.signal.removeEventListener("abort", stop);
      abort.abort();
    }
    if (taskId === "") throw new Error("the router ended the call before the task was accepted");
    const task = await ctx.client.getTask({ taskId }, { signal: ctx.signal });
    return {
      structured: { task_id: taskId, status: statusWord(task.status), worker_id: task.workerId, queue_position: task.workerId ? 0 : queuePosition, ...(uploaded !== undefined ? { uploaded } : {}) },
    };
  },
});
