import { create, fromBinary, toBinary, toJson } from "@bufbuild/protobuf";
import { EmptySchema, timestampFromMs } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { ExitReason, OutputStream, RunEventSchema, RunMode, type RunEvent } from "../../gen/claudecluster/v1/run_pb.js";
import { eventSize } from "../common/event-size.js";
import { adoptWorkerEvent, decoded, isJsonCall } from "./undecoded-events.js";

const time = timestampFromMs(1_700_000_000_123);

const workerEvents: RunEvent[] = [
  create(RunEventSchema, {
    taskId: "worker-side-id",
    seq: 7n,
    time,
    event: {
      case: "message",
      value: {
        type: "assistant",
        sessionId: "s-1",
        json: '{"type":"assistant","message":{"content":[{"type":"text","text":"hé 🙂"}]}}',
        body: { case: "assistant", value: { id: "msg_1", model: "m", content: [{ block: { case: "text", value: { text: "hé 🙂" } } }] } },
      },
    },
  }),
  create(RunEventSchema, { taskId: "worker-side-id", seq: 8n, time, event: { case: "output", value: { data: new Uint8Array([27, 91, 72, 0, 255]), stream: OutputStream.TERMINAL } } }),
  create(RunEventSchema, { taskId: "worker-side-id", seq: 9n, time, event: { case: "status", value: { detail: "waiting" } } }),
];

/** What the router's transport hands over: the worker's bytes read as Empty, inside a larger buffer it reuses. */
function asReceived(event: RunEvent): { raw: ReturnType<typeof fromBinary<typeof EmptySchema>>; buffer: Uint8Array } {
  const bytes = toBinary(RunEventSchema, event);
  const buffer = new Uint8Array(bytes.length + 10);
  buffer.set(bytes, 5);
  return { raw: fromBinary(EmptySchema, buffer.subarray(5, 5 + bytes.length)), buffer };
}

describe("events forwarded undecoded", () => {
  it.each(workerEvents.map((e) => [e.event.case, e] as const))("a %s event reaches a binary caller as the worker sent it, with the router's task id and seq", (_, event) => {
    const { raw } = asReceived(event);
    const adopted = adoptWorkerEvent(raw);
    expect(adopted.event.case).toBeUndefined();
    adopted.taskId = "t-router";
    adopted.seq = 42n;
    const received = fromBinary(RunEventSchema, toBinary(RunEventSchema, adopted));
    expect(received).toEqual({ ...event, taskId: "t-router", seq: 42n });
    expect(decoded(adopted)).toEqual(received);
  });

  it("copies the bytes out of the transport's buffer, which may be reused", () => {
    const { raw, buffer } = asReceived(workerEvents[1]!);
    const adopted = adoptWorkerEvent(raw);
    buffer.fill(0);
    const received = fromBinary(RunEventSchema, toBinary(RunEventSchema, adopted));
    expect(received.event).toEqual(workerEvents[1]!.event);
  });

  it("decodes started and exited, which the router reads and changes", () => {
    const started = create(RunEventSchema, { taskId: "x", seq: 1n, time, event: { case: "started", value: { workerId: "w1", pid: 12, mode: RunMode.HEADLESS, attempt: 0 } } });
    const exited = create(RunEventSchema, { taskId: "x", seq: 2n, time, event: { case: "exited", value: { exitCode: 0, reason: ExitReason.COMPLETED, result: { sessionId: "s", totalCostUsd: 0.25 } } } });
    expect(adoptWorkerEvent(asReceived(started).raw)).toEqual(started);
    expect(adoptWorkerEvent(asReceived(exited).raw)).toEqual(exited);
  });

  it("counts an undecoded event by its bytes for the log's bound", () => {
    const output = create(RunEventSchema, { event: { case: "output", value: { data: new Uint8Array(10_000) } } });
    const adopted = adoptWorkerEvent(asReceived(output).raw);
    expect(eventSize(adopted)).toBeGreaterThan(10_000);
    expect(eventSize(adopted)).toBeLessThan(10_200);
  });

  it("gives JSON callers every field", () => {
    const adopted = adoptWorkerEvent(asReceived(workerEvents[0]!).raw);
    adopted.taskId = "t-router";
    adopted.seq = 1n;
    expect(toJson(RunEventSchema, decoded(adopted))).toMatchObject({ taskId: "t-router", seq: "1", message: { type: "assistant", sessionId: "s-1" } });
  });

  it("tells JSON calls from binary ones by content type", () => {
    for (const json of ["application/json", "application/connect+json", "application/grpc+json", "application/grpc-web+json; charset=utf-8"]) {
      expect(isJsonCall(json), json).toBe(true);
    }
    for (const binary of ["application/proto", "application/connect+proto", "application/grpc", "application/grpc+proto", "application/grpc-web", "application/grpc-web-text", null]) {
      expect(isJsonCall(binary), String(binary)).toBe(false);
    }
  });
});
