// Permission requests on the router: which of a task's requests wait for an answer (kept in its record, so a caller
// who attaches late can answer even when the events that asked were trimmed from the log), and AnswerPermission,
// checked here and forwarded to the worker that runs the task. The worker holds the requests and is the judge of
// an answer; the router's copy is for listings and late attachers.
import type { AnswerPermissionRequest, AnswerPermissionResponse } from "../../gen/claudecluster/v1/permissions_pb.js";
import type { RunEvent } from "../../gen/claudecluster/v1/run_pb.js";
import { failedPrecondition, unavailable } from "../common/errors.js";
import { checkAnswer } from "../common/permission-answer.js";
import type { Identity } from "./identity/index.js";
import type { Registry } from "./registry.js";
import type { TaskEntry, Tasks } from "./tasks.js";

/** Longest a worker may take to answer AnswerPermission (it only writes a line to claude's stdin). */
const ANSWER_TIMEOUT_MS = 30_000;

/**
 * Keeps the task's pending requests in step with a worker event. Returns "asked" when a request began to wait and
 * "settled" when the last one waiting was settled, so the caller can pause and resume the task's caller-gone grace
 * period: a task waiting for approval waits for someone to come back until its requests time out.
 */
export function trackPermissionEvent(entry: TaskEntry, event: RunEvent): "asked" | "settled" | undefined {
  const e = event.event;
  const pending = entry.record.pendingPermissions;
  if (e.case === "permissionRequest") {
    pending.push(e.value);
    return "asked";
  }
  if (e.case === "permissionResolved") {
    const index = pending.findIndex((p) => p.requestId === e.value.requestId);
    if (index === -1) return undefined;
    pending.splice(index, 1);
    return pending.length === 0 ? "settled" : undefined;
  }
  return undefined;
}

/** AnswerPermission: checks what the router knows, then lets the task's worker settle the request. */
export async function answerPermission(tasks: Tasks, registry: Registry, req: AnswerPermissionRequest, headers: Record<string, string>, caller?: Identity): Promise<AnswerPermissionResponse> {
  checkAnswer(req);
  const found = await tasks.find(req.taskId, caller);
  const record = found.entry ? found.entry.record : found.stored.record;
  const request = found.entry ? found.entry.request : found.stored.request;
  if (record.endedAt) throw failedPrecondition(`task ${req.taskId} has ended; it waits for no approval`);
  if (!request.agent?.askPermissions) {
    throw failedPrecondition(`task ${req.taskId} was not started with agent.ask_permissions, so it never waits for approval`);
  }
  // Run here, or by another router sharing the store: the worker is the same, and it is the judge of the answer.
  if (!record.startedAt || (found.entry && !found.entry.started)) throw failedPrecondition(`task ${req.taskId} has not started yet, so it is not waiting for approval`);
  const worker = found.entry?.worker ?? registry.byId(record.workerId);
  if (!worker) throw unavailable(`task ${req.taskId} runs on worker ${record.workerId}, which this router does not see yet (it registers again within a few seconds); try again`);
  return worker.client.answerPermission(req, { headers, timeoutMs: ANSWER_TIMEOUT_MS });
}
