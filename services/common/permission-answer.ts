// Checks an AnswerPermission request's own fields, the same way on the router (before forwarding) and on the worker
// (which holds the request): every mistake is INVALID_ARGUMENT naming the field. Whether the task and the request
// exist and wait is for the caller to check.
import { PermissionDecision, type AnswerPermissionRequest } from "../../gen/claudecluster/v1/permissions_pb.js";
import { invalidArgument } from "./errors.js";
import { isValidTaskId } from "./ids.js";

export const MAX_DENY_MESSAGE_CHARS = 4096;
export const MAX_UPDATED_INPUT_BYTES = 1024 * 1024;
const MAX_REQUEST_ID_CHARS = 128;

/** A checked answer: the updated input parsed, when one was given. */
export interface CheckedAnswer {
  decision: PermissionDecision.ALLOW | PermissionDecision.DENY | PermissionDecision.ALLOW_ALWAYS;
  message: string;
  updatedInput: Record<string, unknown> | undefined;
}

export function checkAnswer(req: AnswerPermissionRequest): CheckedAnswer {
  if (req.taskId === "") throw invalidArgument("task_id", "is required");
  if (!isValidTaskId(req.taskId)) throw invalidArgument("task_id", "must be 1-64 letters, digits, '-' or '_'");
  if (req.requestId === "") throw invalidArgument("request_id", "is required: the request_id of the task's permission_request event (or of its record's pending_permissions)");
  if (req.requestId.length > MAX_REQUEST_ID_CHARS || !/^[\w.:-]+$/.test(req.requestId)) {
    throw invalidArgument("request_id", `must be at most ${MAX_REQUEST_ID_CHARS} letters, digits, '-', '_', '.' or ':'`);
  }
  const decision = req.decision;
  if (decision !== PermissionDecision.ALLOW && decision !== PermissionDecision.DENY && decision !== PermissionDecision.ALLOW_ALWAYS) {
    throw invalidArgument("decision", "must be PERMISSION_DECISION_ALLOW, PERMISSION_DECISION_DENY or PERMISSION_DECISION_ALLOW_ALWAYS");
  }
  if (decision !== PermissionDecision.DENY && req.message !== "") throw invalidArgument("message", "goes with PERMISSION_DECISION_DENY only (it is what claude is told)");
  if (req.message.length > MAX_DENY_MESSAGE_CHARS) throw invalidArgument("message", `is longer than ${MAX_DENY_MESSAGE_CHARS} characters`);
  if (req.updatedInputJson === "") return { decision, message: req.message, updatedInput: undefined };
  if (decision === PermissionDecision.DENY) throw invalidArgument("updated_input_json", "goes with an ALLOW decision only: a denied call does not run");
  if (Buffer.byteLength(req.updatedInputJson, "utf8") > MAX_UPDATED_INPUT_BYTES) throw invalidArgument("updated_input_json", `is over ${MAX_UPDATED_INPUT_BYTES} bytes`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(req.updatedInputJson);
  } catch {
    throw invalidArgument("updated_input_json", 'is not valid JSON; give the tool\'s whole input as a JSON object, e.g. {"command":"ls"}');
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw invalidArgument("updated_input_json", 'must be a JSON object (the tool\'s whole input), e.g. {"command":"ls"}');
  }
  return { decision, message: req.message, updatedInput: parsed as Record<string, unknown> };
}
