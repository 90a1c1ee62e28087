// The shapes tools share: a task as a model reads it, a permission request, and cutting text to a bound with a
// note that it was cut. Every list and every text a tool returns is bounded, and says so when it was cut.
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { z } from "zod";
import type { PermissionRequest } from "../../gen/claudecluster/v1/permissions_pb.js";
import { TaskStatus, type Task } from "../../gen/claudecluster/v1/router_pb.js";
import { type ChangesSummary, ExitReason, type PushResult, RunMode } from "../../gen/claudecluster/v1/run_pb.js";

/** Characters of a task's final answer a tool returns by default. */
export const RESULT_CHARS = 4000;
/** Characters of a tool call's input shown in a permission request. */
const INPUT_CHARS = 2000;

export const STATUS_WORDS = ["queued", "running", "succeeded", "failed", "cancelled"] as const;
export type StatusWord = (typeof STATUS_WORDS)[number];

export function statusWord(status: TaskStatus): StatusWord | "unknown" {
  switch (status) {
    case TaskStatus.QUEUED:
      return "queued";
    case TaskStatus.RUNNING:
      return "running";
    case TaskStatus.SUCCEEDED:
      return "succeeded";
    case TaskStatus.FAILED:
      return "failed";
    case TaskStatus.CANCELLED:
      return "cancelled";
    default:
      return "unknown";
  }
}

export function statusFromWord(word: StatusWord): TaskStatus {
  return { queued: TaskStatus.QUEUED, running: TaskStatus.RUNNING, succeeded: TaskStatus.SUCCEEDED, failed: TaskStatus.FAILED, cancelled: TaskStatus.CANCELLED }[word];
}

export function ended(task: Task): boolean {
  return task.status !== TaskStatus.QUEUED && task.status !== TaskStatus.RUNNING;
}

/** The start of `text`, at most `max` characters, and how much was left out. */
export function head(text: string, max: number): { text: string; truncated: boolean; omittedChars: number } {
  const chars = Array.from(text);
  if (chars.length <= max) return { text, truncated: false, omittedChars: 0 };
  return { text: chars.slice(0, max).join(""), truncated: true, omittedChars: chars.length - max };
}

/** The end of `text`, at most `max` characters, and how much was left out. */
export function tail(text: string, max: number): { text: string; truncated: boolean; omittedChars: number } {
  const chars = Array.from(text);
  if (chars.length <= max) return { text, truncated: false, omittedChars: 0 };
  return { text: chars.slice(chars.length - max).join(""), truncated: true, omittedChars: chars.length - max };
}

export const permissionShape = z.object({
  task_id: z.string(),
  request_id: z.string().describe("Pass to answer_permission."),
  tool: z.string().describe("The tool claude wants to use, e.g. Bash."),
  summary: z.string().describe("The call in one line, e.g. Bash(rm -rf build)."),
  input: z.string().describe("The tool's input as JSON (cut to 2000 characters)."),
  reason: z.string().describe("claude's words about the call, if any."),
  expires_at: z.string().describe("When the call is denied unless answered (ISO 8601)."),
});

export function permission(taskId: string, p: PermissionRequest): z.infer<typeof permissionShape> {
  return {
    task_id: taskId,
    request_id: p.requestId,
    tool: p.toolName,
    summary: p.summary,
    input: head(p.inputJson, INPUT_CHARS).text,
    reason: p.reason,
    expires_at: p.expiresAt ? new Date(timestampMs(p.expiresAt)).toISOString() : "",
  };
}

/** Paths of changed files a task's summary names (task_diff lists every file the record keeps). */
export const CHANGED_PATHS = 20;

export const pushShape = z.object({
  url: z.string().describe("The repository pushed to."),
  branch: z.string().describe("The branch pushed."),
  commit: z.string().describe("The commit the branch points at now, on the remote."),
  compare_url: z.string().describe("Where to open a pull request (GitHub, GitLab and Gitea hosts); empty for others."),
  error: z.string().describe("Why the push failed (it never forces); empty when it succeeded."),
});

export function pushSummary(push: PushResult | undefined): z.infer<typeof pushShape> | null {
  if (!push) return null;
  return { url: push.url, branch: push.branch, commit: push.commit, compare_url: push.compareUrl, error: push.error };
}

export const changesShape = z.object({
  files_changed: z.number().describe("How many files the task changed."),
  insertions: z.number().describe("Lines added, over all text files."),
  deletions: z.number().describe("Lines removed, over all text files."),
  files: z.array(z.string()).describe(`The first ${CHANGED_PATHS} paths changed, in path order; task_diff lists them all with their counts.`),
  commits: z.number().describe("Commits claude made itself (what it left uncommitted is one more commit, in final_commit)."),
  base_commit: z.string().describe("The commit the task started from."),
  final_commit: z.string().describe("The task's end state as a commit, uncommitted work included; equal to base_commit when nothing changed."),
  branch: z.string().describe("The task's branch in its workspace, cc/<task id>."),
  push: pushShape.nullable().describe("The push of the task's branch, when it asked for one."),
  error: z.string().describe("Set when the changes could not be recorded, or only in part."),
});

export type ChangesSummaryShape = z.infer<typeof changesShape>;

export function changesSummary(changes: ChangesSummary | undefined): ChangesSummaryShape | null {
  if (!changes) return null;
  return {
    files_changed: changes.filesTotal,
    insertions: Number(changes.insertions),
    deletions: Number(changes.deletions),
    files: changes.files.slice(0, CHANGED_PATHS).map((f) => f.path),
    commits: changes.commits,
    base_commit: changes.baseCommit,
    final_commit: changes.finalCommit,
    branch: changes.branch,
    push: pushSummary(changes.push),
    error: changes.error,
  };
}

export const taskShape = z.object({
  task_id: z.string(),
  status: z.string().describe("queued, running, succeeded, failed or cancelled."),
  waiting_for_approval: z.boolean().describe("The task is paused on a permission request: see pending_permissions and answer_permission."),
  worker_id: z.string().describe("The worker it runs or ran on; empty while queued."),
  mode: z.string().describe("headless or interactive."),
  prompt: z.string().describe("The start of the task's prompt."),
  result: z.string().describe("claude's final answer (once ended), cut to a bound: see result_truncated; task_output gives more."),
  result_truncated: z.boolean(),
  is_error: z.boolean().describe("claude reported an error, or the task failed."),
  exit_reason: z.string().describe("Why it ended: completed, cancelled, timed_out, failed, ...; empty while it runs."),
  message: z.string().describe("What happened, for an ending other than completed."),
  cost_usd: z.number(),
  turns: z.number(),
  session_id: z.string().describe("claude's session id: run_task with resume_session_id (and the same worker) continues the conversation."),
  created_at: z.string(),
  ended_at: z.string(),
  pending_permissions: z.array(permissionShape),
  changes: changesShape
    .nullable()
    .describe("What the task changed, once it has ended in a git workspace of its own (run_task with upload or repo); null otherwise. task_diff returns the patch."),
});

export type TaskSummary = z.infer<typeof taskShape>;

const iso = (t: Task["createdAt"]): string => (t ? new Date(timestampMs(t)).toISOString() : "");

export function taskSummary(task: Task, resultChars = RESULT_CHARS): TaskSummary {
  const exit = task.exit;
  const result = head(exit?.result?.result ?? "", resultChars);
  return {
    task_id: task.id,
    status: statusWord(task.status),
    waiting_for_approval: task.pendingPermissions.length > 0,
    worker_id: task.workerId,
    mode: task.mode === RunMode.INTERACTIVE ? "interactive" : "headless",
    prompt: task.promptSummary,
    result: result.text,
    result_truncated: result.truncated,
    is_error: task.status === TaskStatus.FAILED || exit?.result?.isError === true,
    exit_reason: exit ? (ExitReason[exit.reason] ?? "unspecified").toLowerCase() : "",
    message: exit?.message ?? "",
    cost_usd: exit?.result?.totalCostUsd ?? 0,
    turns: exit?.result?.numTurns ?? 0,
    session_id: exit?.result?.sessionId ?? "",
    created_at: iso(task.createdAt),
    ended_at: iso(task.endedAt),
    pending_permissions: task.pendingPermissions.map((p) => permission(task.id, p)),
    changes: changesSummary(exit?.changes),
  };
}
