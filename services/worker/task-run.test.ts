// A task run's own bookkeeping, without a process: the output limit counts bytes as printed (UTF-8), and a task
// stopped before claude runs ends with that reason.
import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { ClaudeMessageSchema, ExitReason, OutputSchema, RunEventSchema, RunRequestSchema, type RunEvent } from "../../gen/claudecluster/v1/run_pb.js";
import { silentLogger } from "../common/logger.js";
import { outputBytes, TaskRun } from "./task-run.js";

function taskRun(maxOutputBytes: number, bufferBytes = 1024 * 1024): TaskRun {
  return new TaskRun(`t-${Math.random().toString(36).slice(2)}`, create(RunRequestSchema, { prompt: "x" }), "/nonexistent", {
    workerId: "w",
    claudeVersion: "test",
    killGraceMs: 100,
    idleTimeoutMs: 0,
    bufferBytes,
    maxOutputBytes,
    disconnectGraceMs: 10_000,
    routerGraceMs: 300_000,
    replayBytes: 4 * 1024 * 1024,
    logger: silentLogger(),
  });
}

async function events(task: TaskRun): Promise<RunEvent[]> {
  const out: RunEvent[] = [];
  for await (const e of task.events()) out.push(e);
  return out;
}

const message = (json: string) => ({ case: "message" as const, value: { type: "assistant", json } });

describe("TaskRun", () => {
  it("counts CC_MAX_OUTPUT_BYTES in UTF-8 bytes: exactly at the limit goes on, one byte more stops the task", async () => {
    const task = taskRun(1000);
    // 999 ASCII bytes in a line, then 1 raw byte: 1000 bytes.
    task.emit(message("a".repeat(999)));
    task.emit({ case: "output", value: { data: new Uint8Array(1) } });
    expect(task.stopSignal.aborted).toBe(false);
    task.emit({ case: "output", value: { data: new Uint8Array(1) } });
    expect(task.stopSignal.aborted).toBe(true);
    task.endBeforeLaunch("never started");
    const exited = (await events(task)).at(-1)!;
    expect(exited.event.case).toBe("exited");
    expect(exited.event.value).toMatchObject({ reason: ExitReason.OUTPUT_LIMIT, message: expect.stringContaining("more than 1000 bytes") });
  });

  it("counts a character of three UTF-8 bytes as three, not as one UTF-16 unit", () => {
    const task = taskRun(2500);
    // 1000 characters, 3000 bytes.
    task.emit(message("€".repeat(1000)));
    expect(task.stopSignal.aborted).toBe(true);
  });

  it("outputBytes is what claude printed: a message's JSON line in UTF-8, raw bytes as they are", () => {
    const ev = (event: RunEvent["event"]) => create(RunEventSchema, { event });
    expect(outputBytes(ev({ case: "message", value: create(ClaudeMessageSchema, { json: "ünïcödé" }) }))).toBe(11);
    expect(outputBytes(ev({ case: "output", value: create(OutputSchema, { data: new Uint8Array(7) }) }))).toBe(7);
    expect(outputBytes(ev({ case: "status", value: { $typeName: "claudecluster.v1.Status", phase: 0, queuePosition: 0, detail: "" } }))).toBe(0);
  });

  it("output printed while a stopping task drains, past its buffer, is not kept, and its exited says how much", async () => {
    const task = taskRun(0, 16 * 1024);
    task.stop(ExitReason.CANCELLED, "cancelled");
    for (let i = 0; i < 40; i++) task.emit({ case: "output", value: { data: new Uint8Array(1024) } });
    task.endBeforeLaunch("never started");
    const all = await events(task);
    const kept = all.filter((e) => e.event.case === "output").length;
    expect(kept).toBeLessThan(40);
    expect(all.at(-1)!.event.value).toMatchObject({
      reason: ExitReason.CANCELLED,
      message: `cancelled (${(40 - kept) * 1024} bytes of output printed while the task was being stopped were not kept)`,
    });
  });
});
