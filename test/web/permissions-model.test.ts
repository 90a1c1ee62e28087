// The web UI's permission requests (web/src/permissions/model.ts): each request once whether it comes from the
// stream, a replay or the record; settled as its event or this page's answer says; and what a failed answer tells
// a person, checked against the words the worker's PermissionRelay really uses.
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import {
  AnswerPermissionRequestSchema,
  PermissionDecision,
  PermissionRequestSchema,
  PermissionResolution,
  PermissionResolvedSchema,
  type PermissionRequest,
  type PermissionResolved,
} from "../../gen/claudecluster/v1/permissions_pb.js";
import { RunEventSchema, type RunEvent } from "../../gen/claudecluster/v1/run_pb.js";
import { PermissionRelay, type Timers } from "../../services/worker/permissions.js";
import { answerProblem, outcome, PermissionBoard, timeLeft } from "../../web/src/permissions/model.js";

const request = (id: string, command = "echo hi"): PermissionRequest =>
  create(PermissionRequestSchema, { requestId: id, toolName: "Bash", inputJson: JSON.stringify({ command }), summary: `Bash(${command})` });
const resolved = (id: string, fields: Partial<Pick<PermissionResolved, "decision" | "resolution" | "message">> = {}): PermissionResolved =>
  create(PermissionResolvedSchema, { requestId: id, toolName: "Bash", decision: PermissionDecision.ALLOW, resolution: PermissionResolution.ANSWERED, ...fields });
const asked = (seq: number, r: PermissionRequest): RunEvent => create(RunEventSchema, { seq: BigInt(seq), event: { case: "permissionRequest", value: r } });
const settled = (seq: number, r: PermissionResolved): RunEvent => create(RunEventSchema, { seq: BigInt(seq), event: { case: "permissionResolved", value: r } });

const states = (board: PermissionBoard) => board.all.map((e) => `${e.id}:${e.state.kind}${e.state.kind === "settled" && e.state.answeredHere ? " (here)" : ""}`);

describe("a task's permission requests on its page", () => {
  it("keeps each request once, from the record and from the replay, and settles it by its event", () => {
    const board = new PermissionBoard();
    board.record([request("r1")], 7n, false);
    expect(states(board)).toEqual(["r1:waiting"]);
    expect(board.takeChanged()).toEqual(["r1"]);
    // The replay from seq 1 brings the same request again, then another, then how the first was settled.
    board.apply(asked(5, request("r1")));
    board.apply(asked(9, request("r2", "ls")));
    expect(board.takeChanged()).toEqual(["r2"]);
    board.apply(settled(10, resolved("r1", { decision: PermissionDecision.DENY, message: "no" })));
    expect(states(board)).toEqual(["r1:settled", "r2:waiting"]);
    expect(board.waiting.map((e) => e.id)).toEqual(["r2"]);
  });

  it("shows a settlement whose request the page never saw (the log's start was trimmed)", () => {
    const board = new PermissionBoard();
    board.apply(settled(3, resolved("r0", { resolution: PermissionResolution.TIMED_OUT, decision: PermissionDecision.DENY })));
    expect(board.all).toMatchObject([{ id: "r0", request: undefined, toolName: "Bash", state: { kind: "settled" } }]);
  });

  it("remembers that this page answered, whichever of the answer and its event comes first", () => {
    const board = new PermissionBoard();
    board.apply(asked(1, request("a")));
    board.apply(asked(2, request("b")));
    board.apply(asked(3, request("c")));
    board.answering("a", PermissionDecision.ALLOW);
    board.answered(resolved("a"));
    board.apply(settled(4, resolved("a")));
    board.answering("b", PermissionDecision.ALLOW_ALWAYS);
    board.apply(settled(5, resolved("b", { decision: PermissionDecision.ALLOW_ALWAYS })));
    // Another viewer's answer arrived while this page was sending a different one.
    board.answering("c", PermissionDecision.ALLOW);
    board.apply(settled(6, resolved("c", { decision: PermissionDecision.DENY })));
    expect(states(board)).toEqual(["a:settled (here)", "b:settled (here)", "c:settled"]);
  });

  it("a record at or past a request's seq that no longer lists it means it was settled elsewhere; an older record does not", () => {
    const board = new PermissionBoard();
    board.apply(asked(12, request("r1")));
    // A record fetched before the request was asked (its response came late) knows nothing of it.
    board.record([], 11n, false);
    expect(states(board)).toEqual(["r1:waiting"]);
    board.record([], 14n, false);
    expect(board.all[0]!.state).toEqual({ kind: "gone", why: "Settled elsewhere." });
    // Its event, when it comes, says how.
    board.apply(settled(13, resolved("r1")));
    expect(states(board)).toEqual(["r1:settled"]);
  });

  it("nothing waits once the task has ended", () => {
    const board = new PermissionBoard();
    board.apply(asked(1, request("r1")));
    board.ended();
    expect(board.all[0]!.state).toEqual({ kind: "gone", why: "The task ended before this request was answered." });
  });

  it("a failed answer that may be tried again keeps the request waiting, with the reason", () => {
    const board = new PermissionBoard();
    board.apply(asked(1, request("r1")));
    board.answering("r1", PermissionDecision.ALLOW);
    board.answerFailed("r1", Code.Unknown, "Failed to fetch", "The router is not answering. Check that it is running and reachable.");
    expect(board.all[0]!.state).toEqual({ kind: "waiting", problem: "Not answered: The router is not answering. Check that it is running and reachable." });
  });

  it("says how a request was settled", () => {
    expect(outcome(resolved("r"), true)).toEqual({ kind: "allowed", label: "Allowed by you", detail: "" });
    expect(outcome(resolved("r"), false).label).toBe("Allowed");
    expect(outcome(resolved("r", { decision: PermissionDecision.ALLOW_ALWAYS }), false)).toEqual({
      kind: "allowed",
      label: "Always allowed",
      detail: "claude may use Bash for the rest of the task without asking.",
    });
    expect(outcome(resolved("r", { decision: PermissionDecision.DENY, message: "not here" }), true)).toEqual({ kind: "denied", label: "Denied by you", detail: "claude was told: “not here”" });
    const timeout = resolved("r", { decision: PermissionDecision.DENY, resolution: PermissionResolution.TIMED_OUT, message: "Denied: nobody answered this permission request within 3s." });
    expect(outcome(timeout, false)).toEqual({ kind: "timed-out", label: "Timed out, denied", detail: "claude was told: “Denied: nobody answered this permission request within 3s.”" });
    const withdrawn = resolved("r", { decision: PermissionDecision.DENY, resolution: PermissionResolution.WITHDRAWN, message: "the task ended before the request was answered" });
    expect(outcome(withdrawn, false)).toEqual({ kind: "withdrawn", label: "Withdrawn", detail: "The task ended before the request was answered." });
  });

  it("counts down the time left to answer", () => {
    expect(timeLeft(45_200)).toBe("46s");
    expect(timeLeft(598_000)).toBe("9m 58s");
    expect(timeLeft(3_723_000)).toBe("1h 02m");
    expect(timeLeft(-5)).toBe("0s");
  });
});

describe("what a too-late answer says, in the worker's own words", () => {
  /** A relay with one request asked, and a clock the test moves. */
  function relay() {
    let now = 0;
    const timers: { fn: () => void; at: number }[] = [];
    const clock: Timers = { now: () => now, setTimeout: (fn, ms) => timers.push({ fn, at: now + ms }), clearTimeout: () => undefined };
    const r = new PermissionRelay({ taskId: "task1", sink: { emit: () => undefined, setPhase: () => undefined }, write: () => undefined, timeoutMs: 3000, timers: clock });
    const ask = (id: string) => r.onControl({ kind: "can_use_tool", requestId: id, toolName: "Bash", input: { command: "ls" }, toolUseId: "t", reason: "" });
    const expire = () => {
      now += 3000;
      for (const t of timers.splice(0)) t.fn();
    };
    return { r, ask, expire };
  }
  const answer = (requestId: string, decision = PermissionDecision.ALLOW) => create(AnswerPermissionRequestSchema, { taskId: "task1", requestId, decision });
  const refusal = (fn: () => unknown): ConnectError => {
    try {
      fn();
    } catch (err) {
      return ConnectError.from(err);
    }
    throw new Error("the answer was taken");
  };
  const said = (err: ConnectError) => answerProblem(err.code, err.rawMessage, "(the page's words)");

  it("another viewer answered first", () => {
    const { r, ask } = relay();
    ask("r1");
    r.answer(answer("r1", PermissionDecision.ALLOW_ALWAYS));
    expect(said(refusal(() => r.answer(answer("r1"))))).toEqual({ text: "Someone else answered first: allowed for the rest of the task.", tooLate: true });
  });

  it("it timed out, it was withdrawn, or nothing waits", () => {
    const { r, ask, expire } = relay();
    ask("r1");
    expire();
    expect(said(refusal(() => r.answer(answer("r1"))))).toEqual({ text: "Too late: nobody answered in time, so claude was told no.", tooLate: true });
    ask("r2");
    r.onControl({ kind: "cancel", requestId: "r2" });
    expect(said(refusal(() => r.answer(answer("r2"))))).toEqual({ text: "Too late: claude withdrew this request.", tooLate: true });
    expect(said(refusal(() => r.answer(answer("r9"))))).toEqual({ text: "Too late: the task no longer waits for this answer.", tooLate: true });
  });

  it("the router's words for an ended task, and anything else it says, are passed on", () => {
    expect(answerProblem(Code.FailedPrecondition, "task t1 has ended; it waits for no approval", "")).toEqual({ text: "Too late: the task has ended.", tooLate: true });
    expect(answerProblem(Code.NotFound, "permission request x of task t1 not found; the requests waiting are: y", "")).toEqual({
      text: "This request can no longer be answered: permission request x of task t1 not found; the requests waiting are: y",
      tooLate: true,
    });
    expect(answerProblem(Code.InvalidArgument, "message: is longer than 4096 characters", "message: is longer than 4096 characters")).toEqual({
      text: "Not answered: message: is longer than 4096 characters",
      tooLate: false,
    });
  });
});
