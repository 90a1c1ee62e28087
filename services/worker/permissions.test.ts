// The permission relay in memory: the control-protocol lines as claude 2.1.330 prints and takes them (the shapes
// were read off the real claude; test/e2e/permissions.test.ts runs it), the table of waiting requests, timeouts on
// an injected clock, and the codes of bad answers.
import { create } from "@bufbuild/protobuf";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { AnswerPermissionRequestSchema, PermissionDecision, type PermissionRequest, PermissionResolution } from "../../gen/claudecluster/v1/permissions_pb.js";
import { Phase } from "../../gen/claudecluster/v1/run_pb.js";
import { allowLine, denyLine, eventInput, isControlType, parseControlMessage, PermissionRelay, summarizeCall, type Timers } from "./permissions.js";
import type { EventBody } from "./task-run.js";

/** A can_use_tool request exactly as claude printed one. */
const CAN_USE_TOOL = {
  type: "control_request",
  request_id: "9a9f6344-af33-4732-9a34-fe6dfd4fbf9e",
  request: {
    subtype: "can_use_tool",
    tool_name: "Bash",
    display_name: "Bash",
    input: { command: "touch made.txt", description: "make a file" },
    description: "make a file",
    permission_suggestions: [{ type: "addRules", rules: [{ toolName: "Bash", ruleContent: "touch made.txt" }], behavior: "allow", destination: "localSettings" }],
    blocked_path: "/tmp/x/made.txt",
    tool_use_id: "toolu_scripted_c0_t0_0",
  },
};

class FakeTimers implements Timers {
  time = 1_000_000;
  private next = 1;
  readonly armed = new Map<number, { at: number; fn: () => void }>();
  now = () => this.time;
  setTimeout = (fn: () => void, ms: number) => {
    const id = this.next++;
    this.armed.set(id, { at: this.time + ms, fn });
    return id;
  };
  clearTimeout = (h: unknown) => void this.armed.delete(h as number);
  advance(ms: number): void {
    this.time += ms;
    for (const [id, t] of [...this.armed]) {
      if (t.at <= this.time) {
        this.armed.delete(id);
        t.fn();
      }
    }
  }
}

function relay(timeoutMs = 60_000, maxPending?: number) {
  const events: EventBody[] = [];
  const phases: { phase: Phase; detail: string }[] = [];
  const written: string[] = [];
  const timers = new FakeTimers();
  const r = new PermissionRelay({
    taskId: "t1",
    sink: { emit: (e) => void events.push(e), setPhase: (phase, detail = "") => void phases.push({ phase, detail }) },
    write: (line) => void written.push(line),
    timeoutMs,
    timers,
    ...(maxPending !== undefined ? { maxPending } : {}),
  });
  return { r, events, phases, written, timers, sent: () => written.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

function ask(r: PermissionRelay, id = CAN_USE_TOOL.request_id, input: Record<string, unknown> = CAN_USE_TOOL.request.input): void {
  r.onControl(parseControlMessage({ ...CAN_USE_TOOL, request_id: id, request: { ...CAN_USE_TOOL.request, input } }));
}

const answer = (fields: Partial<{ requestId: string; decision: PermissionDecision; message: string; updatedInputJson: string }>) =>
  create(AnswerPermissionRequestSchema, { taskId: "t1", requestId: CAN_USE_TOOL.request_id, decision: PermissionDecision.ALLOW, ...fields });

function codeOf(fn: () => unknown): { code: Code; message: string } {
  try {
    fn();
  } catch (err) {
    const e = ConnectError.from(err);
    return { code: e.code, message: e.rawMessage };
  }
  throw new Error("expected an error");
}

describe("the control-protocol codec", () => {
  it("reads claude's can_use_tool request", () => {
    expect(parseControlMessage(CAN_USE_TOOL)).toEqual({
      kind: "can_use_tool",
      requestId: CAN_USE_TOOL.request_id,
      toolName: "Bash",
      input: { command: "touch made.txt", description: "make a file" },
      toolUseId: "toolu_scripted_c0_t0_0",
      reason: "make a file",
    });
    expect(parseControlMessage({ type: "control_cancel_request", request_id: "r1" })).toEqual({ kind: "cancel", requestId: "r1" });
    expect(parseControlMessage({ type: "control_request", request_id: "r2", request: { subtype: "hook_callback" } })).toEqual({ kind: "unsupported", requestId: "r2", subtype: "hook_callback" });
    expect(parseControlMessage({ type: "control_response", response: {} })).toEqual({ kind: "ignored" });
    expect(parseControlMessage({ type: "control_request", request: { subtype: "can_use_tool" } })).toEqual({ kind: "ignored" });
    expect(["control_request", "control_response", "control_cancel_request"].every(isControlType)).toBe(true);
    expect(isControlType("assistant")).toBe(false);
  });

  it("writes the answers claude takes: allow echoes the input, always adds a session rule for the tool, deny carries a message", () => {
    expect(JSON.parse(allowLine("r1", { command: "ls" }))).toEqual({
      type: "control_response",
      response: { subtype: "success", request_id: "r1", response: { behavior: "allow", updatedInput: { command: "ls" } } },
    });
    expect(JSON.parse(allowLine("r1", { command: "ls" }, "Bash")).response.response.updatedPermissions).toEqual([
      { type: "addRules", rules: [{ toolName: "Bash" }], behavior: "allow", destination: "session" },
    ]);
    expect(JSON.parse(denyLine("r1", "no"))).toEqual({ type: "control_response", response: { subtype: "success", request_id: "r1", response: { behavior: "deny", message: "no" } } });
    expect(allowLine("r1", {}).endsWith("}\n")).toBe(true);
  });

  it("keeps a big input out of the event: long strings cut, the JSON still valid, the call's own input whole", () => {
    const { r, events, sent } = relay();
    const input = { file_path: "/w/big.txt", content: "x".repeat(200_000) };
    ask(r, "big", input);
    const value = (events[0] as { value: PermissionRequest }).value;
    expect(value.inputTruncated).toBe(true);
    expect(JSON.parse(value.inputJson)).toEqual({ file_path: "/w/big.txt", content: `${"x".repeat(4096)}…` });
    r.answer(answer({ requestId: "big" }));
    expect(sent()[0]).toMatchObject({ response: { response: { updatedInput: input } } });
    expect(eventInput({ a: "b" })).toEqual({ json: '{"a":"b"}', truncated: false });
  });

  it("summarises a call the way cc prints it", () => {
    expect(summarizeCall("Bash", { command: "rm -rf build", description: "clean" })).toBe("Bash(rm -rf build)");
    expect(summarizeCall("Write", { file_path: "/w/a.txt", content: "x" })).toBe("Write(/w/a.txt)");
    expect(summarizeCall("mcp__s__t", { q: "first\nsecond" })).toBe("mcp__s__t(first)");
    expect(summarizeCall("Thing", {})).toBe("Thing");
    expect(Array.from(summarizeCall("Bash", { command: "x".repeat(500) })).length).toBe("Bash()".length + 200);
  });
});

describe("the permission relay", () => {
  it("turns a request into an event and the waiting phase, and an allow into claude's answer with the input echoed", () => {
    const { r, events, phases, sent, timers } = relay();
    ask(r);
    expect(events).toHaveLength(1);
    const request = events[0]!;
    expect(request?.case).toBe("permissionRequest");
    const value = request?.case === "permissionRequest" ? (request.value as PermissionRequest) : undefined;
    expect(value).toMatchObject({ requestId: CAN_USE_TOOL.request_id, toolName: "Bash", summary: "Bash(touch made.txt)", toolUseId: "toolu_scripted_c0_t0_0", reason: "make a file" });
    expect(JSON.parse(value!.inputJson)).toEqual(CAN_USE_TOOL.request.input);
    expect(timestampMs(value!.expiresAt!)).toBe(timers.time + 60_000);
    expect(phases).toEqual([{ phase: Phase.WAITING_FOR_APPROVAL, detail: "waiting for approval: Bash(touch made.txt)" }]);
    expect(r.waiting.map((p) => p.requestId)).toEqual([CAN_USE_TOOL.request_id]);

    const resolved = r.answer(answer({}));
    expect(resolved).toMatchObject({ decision: PermissionDecision.ALLOW, resolution: PermissionResolution.ANSWERED, toolName: "Bash" });
    expect(sent()).toEqual([{ type: "control_response", response: { subtype: "success", request_id: CAN_USE_TOOL.request_id, response: { behavior: "allow", updatedInput: CAN_USE_TOOL.request.input } } }]);
    expect(events[1]).toEqual({ case: "permissionResolved", value: resolved });
    expect(phases.at(-1)).toEqual({ phase: Phase.RUNNING, detail: "" });
    expect(r.waiting).toEqual([]);
    expect(timers.armed.size).toBe(0);
  });

  it("passes an updated input on, denies with the caller's message or a standard one, and allows a tool for good", () => {
    const { r, sent } = relay();
    ask(r, "r1");
    r.answer(answer({ requestId: "r1", updatedInputJson: '{"command":"ls"}' }));
    ask(r, "r2");
    r.answer(answer({ requestId: "r2", decision: PermissionDecision.DENY, message: "not today" }));
    ask(r, "r3");
    const denied = r.answer(answer({ requestId: "r3", decision: PermissionDecision.DENY }));
    ask(r, "r4");
    r.answer(answer({ requestId: "r4", decision: PermissionDecision.ALLOW_ALWAYS }));
    const [r1, r2, r3, r4] = sent().map((l) => (l["response"] as { response: Record<string, unknown> }).response);
    expect(r1).toEqual({ behavior: "allow", updatedInput: { command: "ls" } });
    expect(r2).toEqual({ behavior: "deny", message: "not today" });
    expect(r3).toEqual({ behavior: "deny", message: "The user denied this Bash call." });
    expect(denied.message).toBe("The user denied this Bash call.");
    expect(r4).toMatchObject({ behavior: "allow", updatedPermissions: [{ type: "addRules", rules: [{ toolName: "Bash" }], behavior: "allow", destination: "session" }] });
  });

  it("denies a request nobody answers once the timeout passes, and says so", () => {
    const { r, events, sent, timers, phases } = relay(5000);
    ask(r);
    timers.advance(4999);
    expect(sent()).toEqual([]);
    timers.advance(1);
    expect(sent()[0]).toMatchObject({ response: { response: { behavior: "deny", message: expect.stringContaining("nobody answered this permission request within 5s") } } });
    expect(events[1]).toMatchObject({ case: "permissionResolved", value: { resolution: PermissionResolution.TIMED_OUT, decision: PermissionDecision.DENY } });
    expect(phases.at(-1)?.phase).toBe(Phase.RUNNING);
    expect(codeOf(() => r.answer(answer({})))).toEqual({ code: Code.FailedPrecondition, message: `permission request ${CAN_USE_TOOL.request_id} of task t1 timed out (denied); nothing is waiting on it` });
  });

  it("keeps several requests apart and stays waiting until the last is settled", () => {
    const { r, phases } = relay();
    ask(r, "a", { command: "one" });
    ask(r, "b", { command: "two" });
    expect(r.waiting.map((p) => p.summary)).toEqual(["Bash(one)", "Bash(two)"]);
    r.answer(answer({ requestId: "b", decision: PermissionDecision.DENY }));
    expect(phases.filter((p) => p.phase === Phase.RUNNING)).toEqual([]);
    r.answer(answer({ requestId: "a" }));
    expect(phases.at(-1)?.phase).toBe(Phase.RUNNING);
  });

  it("gives bad answers clear codes", () => {
    const { r } = relay();
    expect(codeOf(() => r.answer(answer({})))).toEqual({ code: Code.FailedPrecondition, message: "task t1 is not waiting for approval" });
    ask(r, "r1");
    expect(codeOf(() => r.answer(answer({ requestId: "nope" })))).toEqual({ code: Code.NotFound, message: "permission request nope of task t1 not found; the requests waiting are: r1" });
    expect(codeOf(() => r.answer(answer({ requestId: "r1", updatedInputJson: "[1,2]" }))).code).toBe(Code.InvalidArgument);
    expect(codeOf(() => r.answer(answer({ requestId: "r1", updatedInputJson: "{nope" }))).message).toMatch(/^updated_input_json: is not valid JSON/);
    expect(codeOf(() => r.answer(answer({ requestId: "r1", decision: PermissionDecision.UNSPECIFIED }))).message).toMatch(/^decision: must be/);
    expect(codeOf(() => r.answer(answer({ requestId: "r1", message: "why" })))).toEqual({ code: Code.InvalidArgument, message: "message: goes with PERMISSION_DECISION_DENY only (it is what claude is told)" });
    expect(codeOf(() => r.answer(answer({ requestId: "r1", decision: PermissionDecision.DENY, updatedInputJson: "{}" }))).code).toBe(Code.InvalidArgument);
    expect(codeOf(() => r.answer(answer({ requestId: "" }))).message).toMatch(/^request_id: is required/);
    // The bad answers left the request waiting; a good one settles it, and a second is told it came too late.
    expect(r.waiting).toHaveLength(1);
    r.answer(answer({ requestId: "r1" }));
    expect(codeOf(() => r.answer(answer({ requestId: "r1", decision: PermissionDecision.DENY })))).toEqual({
      code: Code.FailedPrecondition,
      message: "permission request r1 of task t1 was already answered (allowed); nothing is waiting on it",
    });
  });

  it("lets claude withdraw a request, withdraws what waits when the task ends, and writes nothing to a gone claude", () => {
    const { r, events, written } = relay();
    ask(r, "r1");
    r.onControl({ kind: "cancel", requestId: "r1" });
    expect(events.at(-1)).toMatchObject({ case: "permissionResolved", value: { requestId: "r1", resolution: PermissionResolution.WITHDRAWN } });
    ask(r, "r2");
    r.close();
    expect(events.at(-1)).toMatchObject({ case: "permissionResolved", value: { requestId: "r2", resolution: PermissionResolution.WITHDRAWN } });
    expect(written).toEqual([]);
    ask(r, "r3");
    expect(events).toHaveLength(4);
  });

  it("bounds the requests that wait, answers control requests it does not serve with an error, and refuses a repeated id", () => {
    const { r, sent } = relay(60_000, 2);
    ask(r, "a");
    ask(r, "b");
    ask(r, "c");
    expect(sent()[0]).toMatchObject({ response: { request_id: "c", response: { behavior: "deny", message: "Denied by ClaudeCluster: more than 2 permission requests are waiting." } } });
    ask(r, "a");
    expect(sent()[1]).toMatchObject({ response: { subtype: "error", request_id: "a" } });
    r.onControl({ kind: "unsupported", requestId: "h1", subtype: "hook_callback" });
    expect(sent()[2]).toEqual({ type: "control_response", response: { subtype: "error", request_id: "h1", error: "ClaudeCluster's worker does not answer hook_callback control requests" } });
    expect(r.waiting).toHaveLength(2);
  });
});
