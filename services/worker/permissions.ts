// Permission prompts relayed: claude asks, a person (or another claude) answers through the router.
//
// claude 2.1.330 run with `--permission-prompt-tool stdio --input-format stream-json` asks its host before a tool
// call that its rules do not settle: it prints a control request on stdout and waits for the answer on stdin,
//   → {"type":"control_request","request_id":"<uuid>","request":{"subtype":"can_use_tool","tool_name":"Bash",
//        "input":{…},"tool_use_id":"toolu_…","description":"…","permission_suggestions":[…]}}
//   ← {"type":"control_response","response":{"subtype":"success","request_id":"<uuid>",
//        "response":{"behavior":"allow","updatedInput":{…}}}}            (or "deny" with a "message")
// and "allow for the rest of the session" is an allow with
//   "updatedPermissions":[{"type":"addRules","rules":[{"toolName":"Bash"}],"behavior":"allow","destination":"session"}].
// claude may withdraw a request ({"type":"control_cancel_request","request_id":…}, e.g. its turn was interrupted).
//
// This module is the codec of those lines and the table of requests waiting for an answer: each becomes a
// `permission_request` event, puts the task in PHASE_WAITING_FOR_APPROVAL and is settled exactly once — by an
// answer, by the timeout (a deny) or by being withdrawn — with a `permission_resolved` event.
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import {
  type AnswerPermissionRequest,
  PermissionDecision,
  type PermissionRequest,
  PermissionRequestSchema,
  PermissionResolution,
  type PermissionResolved,
  PermissionResolvedSchema,
} from "../../gen/claudecluster/v1/permissions_pb.js";
import { Phase } from "../../gen/claudecluster/v1/run_pb.js";
import { failedPrecondition, notFound } from "../common/errors.js";
import { checkAnswer } from "../common/permission-answer.js";
import type { EventBody } from "./task-run.js";

type Json = Record<string, unknown>;
const obj = (v: unknown): Json => (typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Json) : {});
const str = (v: unknown): string => (typeof v === "string" ? v : "");

/** A control-protocol line claude printed, as this worker understands it. */
export type ControlMessage =
  | { kind: "can_use_tool"; requestId: string; toolName: string; input: Json; toolUseId: string; reason: string }
  | { kind: "cancel"; requestId: string }
  /** A request this worker does not serve (hooks, elicitation, …): answered with an error so claude does not wait. */
  | { kind: "unsupported"; requestId: string; subtype: string }
  /** An answer to a request of ours, or a line that is not usable: nothing to do. */
  | { kind: "ignored" };

/** Whether a stream-json line's `type` belongs to the control protocol rather than to claude's output. */
export function isControlType(type: string): boolean {
  return type === "control_request" || type === "control_response" || type === "control_cancel_request";
}

export function parseControlMessage(line: Json): ControlMessage {
  const requestId = str(line["request_id"]);
  if (line["type"] === "control_cancel_request") return requestId ? { kind: "cancel", requestId } : { kind: "ignored" };
  if (line["type"] !== "control_request" || requestId === "") return { kind: "ignored" };
  const request = obj(line["request"]);
  const subtype = str(request["subtype"]);
  if (subtype !== "can_use_tool") return { kind: "unsupported", requestId, subtype };
  return {
    kind: "can_use_tool",
    requestId,
    toolName: str(request["tool_name"]),
    input: obj(request["input"]),
    toolUseId: str(request["tool_use_id"]),
    reason: str(request["decision_reason"]) || str(request["description"]),
  };
}

/** The line that answers a can_use_tool request with "allow"; `alwaysTool` also allows that tool for the session. */
export function allowLine(requestId: string, input: Json, alwaysTool?: string): string {
  const response: Json = { behavior: "allow", updatedInput: input };
  if (alwaysTool) response["updatedPermissions"] = [{ type: "addRules", rules: [{ toolName: alwaysTool }], behavior: "allow", destination: "session" }];
  return controlResponse({ subtype: "success", request_id: requestId, response });
}

/** The line that answers a can_use_tool request with "deny": claude gets `message` as the tool's error. */
export function denyLine(requestId: string, message: string): string {
  return controlResponse({ subtype: "success", request_id: requestId, response: { behavior: "deny", message } });
}

/** The line that refuses a control request this worker does not serve. */
export function errorLine(requestId: string, error: string): string {
  return controlResponse({ subtype: "error", request_id: requestId, error });
}

function controlResponse(response: Json): string {
  return `${JSON.stringify({ type: "control_response", response })}\n`;
}

/** Which input field says best what a call does, for claude's own tools; other tools show their first string. */
const MAIN_ARGUMENT: Record<string, string> = {
  Bash: "command",
  Read: "file_path",
  Write: "file_path",
  Edit: "file_path",
  MultiEdit: "file_path",
  NotebookEdit: "notebook_path",
  Glob: "pattern",
  Grep: "pattern",
  WebFetch: "url",
  WebSearch: "query",
  Task: "description",
  Agent: "description",
  Skill: "skill",
};

const SUMMARY_CHARS = 200;
/** Past this, a request's input_json is shortened for the event (the call keeps its whole input). */
export const MAX_EVENT_INPUT_BYTES = 64 * 1024;
const CUT_STRING_CHARS = 4096;

/** The input as the event carries it: whole, or with its long strings cut when it is over the bound. */
export function eventInput(input: Json): { json: string; truncated: boolean } {
  const json = JSON.stringify(input);
  if (Buffer.byteLength(json) <= MAX_EVENT_INPUT_BYTES) return { json, truncated: false };
  const cut = (v: unknown): unknown =>
    typeof v === "string" ? (v.length > CUT_STRING_CHARS ? `${v.slice(0, CUT_STRING_CHARS)}…` : v) : Array.isArray(v) ? v.map(cut) : v !== null && typeof v === "object" ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, cut(x)])) : v;
  const shorter = JSON.stringify(cut(input));
  return { json: Buffer.byteLength(shorter) <= MAX_EVENT_INPUT_BYTES ? shorter : "{}", truncated: true };
}

/** `Bash(rm -rf build)`: the tool and its main argument on one line, at most 200 characters. */
export function summarizeCall(toolName: string, input: Json): string {
  const key = MAIN_ARGUMENT[toolName];
  const value = key !== undefined && typeof input[key] === "string" ? (input[key] as string) : Object.values(input).find((v): v is string => typeof v === "string");
  const firstLine = (value ?? "").split("\n")[0] ?? "";
  const arg = Array.from(firstLine).length > SUMMARY_CHARS ? `${Array.from(firstLine).slice(0, SUMMARY_CHARS - 1).join("")}…` : firstLine;
  return arg === "" ? toolName : `${toolName}(${arg})`;
}

/** What the relay needs of its task: a place for its events and the task's phase. */
export interface PermissionSink {
  emit(event: EventBody): void;
  setPhase(phase: Phase, detail?: string): void;
}

export interface Timers {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const realTimers: Timers = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export interface PermissionRelayOptions {
  taskId: string;
  sink: PermissionSink;
  /** Writes a line to claude's stdin. */
  write(line: string): void;
  /** An unanswered request is denied after this long. */
  timeoutMs: number;
  /** Requests that may wait at once; more are denied at once (claude asks one per parallel tool call). */
  maxPending?: number;
  timers?: Timers;
}

interface Pending {
  request: PermissionRequest;
  input: Json;
  timer: unknown;
}

/** Settled requests remembered, so that a late or second answer to one is told what happened to it. */
const SETTLED_KEPT = 256;

export class PermissionRelay {
  private readonly pending = new Map<string, Pending>();
  private readonly settled = new Map<string, PermissionResolved>();
  private readonly timers: Timers;
  private closed = false;

  constructor(private readonly o: PermissionRelayOptions) {
    this.timers = o.timers ?? realTimers;
  }

  /** Requests waiting for an answer, oldest first. */
  get waiting(): PermissionRequest[] {
    return [...this.pending.values()].map((p) => p.request);
  }

  /** A control line claude printed. */
  onControl(message: ControlMessage): void {
    switch (message.kind) {
      case "can_use_tool":
        return this.ask(message);
      case "cancel":
        this.settle(message.requestId, PermissionDecision.DENY, PermissionResolution.WITHDRAWN, "claude withdrew the request");
        return;
      case "unsupported":
        return this.o.write(errorLine(message.requestId, `ClaudeCluster's worker does not answer ${message.subtype || "this"} control requests`));
      case "ignored":
        return;
    }
  }

  /** Settles a waiting request as the caller decided. */
  answer(req: AnswerPermissionRequest): PermissionResolved {
    const answer = checkAnswer(req);
    const pending = this.pending.get(req.requestId);
    if (!pending) throw this.notWaiting(req.requestId);
    const input = answer.updatedInput ?? pending.input;
    const toolName = pending.request.toolName;
    if (answer.decision === PermissionDecision.DENY) {
      const message = answer.message || `The user denied this ${toolName} call.`;
      return this.settle(req.requestId, PermissionDecision.DENY, PermissionResolution.ANSWERED, message)!;
    }
    return this.settle(req.requestId, answer.decision, PermissionResolution.ANSWERED, "", input)!;
  }

  /** The task ended: whatever still waits is withdrawn (claude is gone, nothing is written). */
  close(): void {
    if (this.closed) return;
    for (const id of [...this.pending.keys()]) this.settle(id, PermissionDecision.DENY, PermissionResolution.WITHDRAWN, "the task ended before the request was answered", undefined, false);
    this.closed = true;
  }

  private ask(m: Extract<ControlMessage, { kind: "can_use_tool" }>): void {
    if (this.closed) return;
    if (this.pending.has(m.requestId) || this.settled.has(m.requestId)) {
      this.o.write(errorLine(m.requestId, "a control request with this request_id was already received"));
      return;
    }
    const max = this.o.maxPending ?? 64;
    if (this.pending.size >= max || !/^[\w.:-]{1,128}$/.test(m.requestId)) {
      const why = this.pending.size >= max ? `more than ${max} permission requests are waiting` : "its request_id is not usable";
      this.o.write(denyLine(m.requestId, `Denied by ClaudeCluster: ${why}.`));
      return;
    }
    const expiresAt = this.timers.now() + this.o.timeoutMs;
    const shown = eventInput(m.input);
    const request = create(PermissionRequestSchema, {
      requestId: m.requestId,
      toolName: m.toolName,
      inputJson: shown.json,
      inputTruncated: shown.truncated,
      toolUseId: m.toolUseId,
      summary: summarizeCall(m.toolName, m.input),
      reason: m.reason,
      expiresAt: timestampFromMs(expiresAt),
    });
    const timeoutMs = this.o.timeoutMs;
    const timer = this.timers.setTimeout(() => {
      const seconds = Math.round(timeoutMs / 1000);
      this.settle(m.requestId, PermissionDecision.DENY, PermissionResolution.TIMED_OUT, `Denied: nobody answered this permission request within ${seconds}s (the worker's CC_PERMISSION_TIMEOUT).`);
    }, timeoutMs);
    this.pending.set(m.requestId, { request, input: m.input, timer });
    this.o.sink.emit({ case: "permissionRequest", value: request });
    this.o.sink.setPhase(Phase.WAITING_FOR_APPROVAL, `waiting for approval: ${request.summary}`);
  }

  /** Answers claude (unless it is gone), records the outcome and tells the task's stream. */
  private settle(requestId: string, decision: PermissionDecision, resolution: PermissionResolution, message: string, input?: Json, writeToClaude = true): PermissionResolved | undefined {
    const pending = this.pending.get(requestId);
    if (!pending) return undefined;
    this.pending.delete(requestId);
    this.timers.clearTimeout(pending.timer);
    const toolName = pending.request.toolName;
    if (writeToClaude && resolution !== PermissionResolution.WITHDRAWN) {
      this.o.write(decision === PermissionDecision.DENY ? denyLine(requestId, message) : allowLine(requestId, input ?? pending.input, decision === PermissionDecision.ALLOW_ALWAYS ? toolName : undefined));
    }
    const resolved = create(PermissionResolvedSchema, { requestId, decision, resolution, message, toolName });
    this.settled.set(requestId, resolved);
    if (this.settled.size > SETTLED_KEPT) this.settled.delete(this.settled.keys().next().value!);
    this.o.sink.emit({ case: "permissionResolved", value: resolved });
    if (this.pending.size === 0 && !this.closed && writeToClaude) this.o.sink.setPhase(Phase.RUNNING);
    return resolved;
  }

  private notWaiting(requestId: string) {
    const settled = this.settled.get(requestId);
    if (settled) {
      const how = settled.resolution === PermissionResolution.TIMED_OUT ? "timed out (denied)" : settled.resolution === PermissionResolution.WITHDRAWN ? "was withdrawn" : `was already answered (${decisionWord(settled.decision)})`;
      return failedPrecondition(`permission request ${requestId} of task ${this.o.taskId} ${how}; nothing is waiting on it`);
    }
    if (this.pending.size === 0) return failedPrecondition(`task ${this.o.taskId} is not waiting for approval`);
    const ids = [...this.pending.keys()].slice(0, 5).join(", ");
    return notFound(`permission request ${requestId} of task ${this.o.taskId}`, `the requests waiting are: ${ids}`);
  }
}

export function decisionWord(decision: PermissionDecision): string {
  switch (decision) {
    case PermissionDecision.ALLOW:
      return "allowed";
    case PermissionDecision.ALLOW_ALWAYS:
      return "allowed for the rest of the task";
    case PermissionDecision.DENY:
      return "denied";
    default:
      return "unknown";
  }
}
