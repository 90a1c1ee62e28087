// `cc run` and `cc attach` against a scripted router: exit codes, Ctrl-C, detach, re-attach notices, and what goes
// to stdout and stderr.
import { EventEmitter } from "node:events";
import { Readable } from "node:stream";
import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { ExitReason, RunEventSchema, RunRequestSchema } from "../../gen/claudecluster/v1/run_pb.js";
import { ExitCode } from "../exit-codes.js";
import { exitedEv, ev, FakeRouter, networkError, outputEv } from "../testing/fake-router.js";
import { Capture, eventsFor, recordedCases } from "../testing/fixtures.js";
import type { CommandIO, SignalSource } from "./io.js";
import { followTask, runTask } from "./run-task.js";

function io(): CommandIO & { stdout: Capture; stderr: Capture } {
  return { env: {}, stdin: Readable.from([]), stdout: new Capture(), stderr: new Capture() };
}

class FakeSignals extends EventEmitter implements SignalSource {
  override on(signal: NodeJS.Signals, listener: () => void) {
    return super.on(signal, listener);
  }
  override off(signal: NodeJS.Signals, listener: () => void) {
    return super.off(signal, listener);
  }
}

const hello = recordedCases().find((c) => c.name === "hello")!;
const maxTurns = recordedCases().find((c) => c.name === "max-turns")!;

describe("runTask (headless)", () => {
  it("renders the answer on stdout, the summary on stderr, and exits 0", async () => {
    const router = new FakeRouter({ events: eventsFor(hello) });
    const o = io();
    const code = await runTask({ io: o, client: router.client, router: "http://r", request: create(RunRequestSchema, { prompt: "hi there" }), format: "pretty", includePartials: false, signals: new FakeSignals() });
    expect(code).toBe(ExitCode.Ok);
    expect(o.stdout.text).toBe("Hello from the scripted model. You said: hi there\n");
    expect(o.stderr.text).toMatch(/^✓ done · \d+ms · 1 turn · \$0\.\d+ · session [0-9a-f-]{36} · worker worker-1 · task task-1\n$/);
  });

  it("shows a connection the egress policy blocked on stderr, and keeps stdout for claude's output", async () => {
    const events = eventsFor(hello);
    const blocked = create(RunEventSchema, {
      taskId: "task-1",
      seq: 0n,
      event: { case: "blocked", value: { host: "evil.example", port: 443, command: "curl https://evil.example", reason: "evil.example:443 is not in the task's egress allowlist" } },
    });
    // Just before exited, renumbered.
    const all = [...events.slice(0, -1), blocked, events.at(-1)!].map((e, i) => create(RunEventSchema, { ...e, seq: BigInt(i + 1) }));
    const router = new FakeRouter({ events: all });
    const o = io();
    const code = await runTask({ io: o, client: router.client, router: "http://r", request: create(RunRequestSchema, { prompt: "hi there" }), format: "pretty", includePartials: false, signals: new FakeSignals() });
    expect(code).toBe(ExitCode.Ok);
    expect(o.stdout.text).toBe("Hello from the scripted model. You said: hi there\n");
    expect(o.stderr.text).toContain("⊘ blocked evil.example:443 (curl https://evil.example): evil.example:443 is not in the task's egress allowlist\n");
  });

  it("exits 1 when the agent reports an error, printing what claude -p would", async () => {
    const router = new FakeRouter({ events: eventsFor(maxTurns) });
    const o = io();
    const request = create(RunRequestSchema, { prompt: "make the file", agent: { maxTurns: 1 } });
    const code = await runTask({ io: o, client: router.client, router: "http://r", request, format: "text", includePartials: false, signals: new FakeSignals() });
    expect(code).toBe(ExitCode.AgentError);
    expect(o.stdout.text).toBe("Error: Reached max turns (1)");
    expect(o.stderr.text).toBe("");
  });

  it("exits 1 for a task that failed or was cancelled by someone else, saying why", async () => {
    const router = new FakeRouter({ events: [ev(1, { case: "status", value: { $typeName: "claudecluster.v1.Status", phase: 1, queuePosition: 2, detail: "" } }), exitedEv(2, { exitCode: -1, reason: ExitReason.CANCELLED, message: "cancelled: by alice" })] });
    const o = io();
    const code = await runTask({ io: o, client: router.client, router: "http://r", request: create(RunRequestSchema, { prompt: "x" }), format: "json", includePartials: false, signals: new FakeSignals() });
    expect(code).toBe(ExitCode.AgentError);
    expect(o.stdout.text).toBe("");
    expect(o.stderr.text).toBe("cc: task t1 cancelled: cancelled: by alice\n");
  });

  it("cancels the task on Ctrl-C and exits 130", async () => {
    const router = new FakeRouter({ events: [outputEv(1, "warming up\n")], hang: true });
    const signals = new FakeSignals();
    const o = io();
    const request = create(RunRequestSchema, { prompt: "x" });
    const done = runTask({ io: o, client: router.client, router: "http://r", request, format: "pretty", includePartials: false, signals });
    while (router.calls.length === 0) await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    signals.emit("SIGINT");
    expect(await done).toBe(ExitCode.Interrupted);
    expect(router.calls.find((c) => c.method === "cancelTask")?.request).toEqual({ taskId: "t1", reason: "interrupted with Ctrl-C in cc" });
    expect(o.stderr.text).toContain("cc: cancelling task t1… (Ctrl-C again to quit at once)\ncc: cancelled task t1\n");
    expect(signals.listenerCount("SIGINT")).toBe(0);
  });

  it("re-attaches after a dropped stream and says so on stderr", async () => {
    const events = eventsFor(hello, "t1");
    const router = new FakeRouter({ events: events.slice(0, 3), error: networkError() }, { events: events.slice(3) });
    const o = io();
    const code = await runTask({ io: o, client: router.client, router: "http://r", request: create(RunRequestSchema, { prompt: "hi" }), format: "text", includePartials: false, signals: new FakeSignals(), retryDelayMs: 1 });
    expect(code).toBe(ExitCode.Ok);
    expect(o.stdout.text).toBe(hello.text);
    expect(o.stderr.text).toBe("cc: lost the stream of task t1 (connection lost: ECONNRESET); re-attaching in 0.0s (attempt 1 of 8)\ncc: re-attached to task t1\n");
    expect(router.calls[1]).toEqual({ method: "attach", request: { taskId: "t1", afterSeq: 3n } });
  });

  it("-d prints the task id as soon as the task exists and leaves it running", async () => {
    const router = new FakeRouter({ events: [ev(1, { case: "status", value: { $typeName: "claudecluster.v1.Status", phase: 1, queuePosition: 1, detail: "" } }, "t9")], hang: true });
    const o = io();
    const request = create(RunRequestSchema, { prompt: "x", detach: true });
    expect(await runTask({ io: o, client: router.client, router: "http://r", request, format: "pretty", includePartials: false })).toBe(ExitCode.Ok);
    expect(o.stdout.text).toBe("t9\n");
    expect(router.methods()).toEqual(["run"]);
  });
});

describe("followTask for cc attach", () => {
  it("Ctrl-C only stops following: the task is not cancelled", async () => {
    const router = new FakeRouter({ events: [outputEv(1, "x")], hang: true });
    const signals = new FakeSignals();
    const o = io();
    const done = followTask({ io: o, client: router.client, router: "http://r", start: { attach: "t1" }, format: "pretty", includePartials: false, onInterrupt: "leave", signals });
    while (router.calls.length === 0) await new Promise((r) => setImmediate(r));
    signals.emit("SIGINT");
    expect(await done).toBe(ExitCode.Interrupted);
    expect(router.methods()).toEqual(["attach"]);
    expect(o.stderr.text).toContain("stopped following task t1; it keeps running");
  });

  it("prints stream-json lines exactly as claude printed them", async () => {
    const router = new FakeRouter({ events: eventsFor(hello, "t1") });
    const o = io();
    const code = await followTask({ io: o, client: router.client, router: "http://r", start: { attach: "t1" }, format: "stream-json", includePartials: true, onInterrupt: "leave" });
    expect(code).toBe(0);
    expect(o.stdout.text).toBe(hello.stream.join("\n") + "\n");
  });
});
