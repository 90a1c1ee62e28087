// `cc wait` against a scripted router: the outcome decides the exit code, and a log that moved on past where it
// attached (OUT_OF_RANGE) is picked up from the task's record instead of failing.
import { EventEmitter } from "node:events";
import { Readable } from "node:stream";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { TaskSchema, TaskStatus } from "../../gen/claudecluster/v1/router_pb.js";
import { ExitedSchema, ExitReason } from "../../gen/claudecluster/v1/run_pb.js";
import { ExitCode } from "../exit-codes.js";
import { exitedEv, FakeRouter } from "../testing/fake-router.js";
import { Capture } from "../testing/fixtures.js";
import type { SignalSource } from "./io.js";
import { waitTasks } from "./wait.js";

class NoSignals extends EventEmitter implements SignalSource {
  override on(s: NodeJS.Signals, l: () => void) {
    return super.on(s, l);
  }
  override off(s: NodeJS.Signals, l: () => void) {
    return super.off(s, l);
  }
}

function context(router: FakeRouter) {
  const stdout = new Capture();
  const stderr = new Capture();
  return { c: { io: { env: {}, stdin: Readable.from([]), stdout, stderr }, client: router.client, router: "http://r", signals: new NoSignals() }, stdout, stderr };
}

describe("cc wait", () => {
  it("follows a running task from its last event and exits with its outcome", async () => {
    const router = new FakeRouter({ events: [exitedEv(8, { exitCode: 1 })] });
    router.task = create(TaskSchema, { id: "t1", status: TaskStatus.RUNNING, lastSeq: 7n });
    const { c, stdout } = context(router);
    expect(await waitTasks(c, ["t1"])).toBe(ExitCode.AgentError);
    expect(stdout.text).toBe("t1 failed (claude exited with code 1)\n");
    expect(router.calls.find((x) => x.method === "attach")?.request).toMatchObject({ taskId: "t1", afterSeq: 7n });
  });

  it("a task that already ended is not attached to", async () => {
    const router = new FakeRouter();
    router.task = create(TaskSchema, { id: "t1", status: TaskStatus.CANCELLED, exit: create(ExitedSchema, { exitCode: -1, reason: ExitReason.CANCELLED }) });
    const { c, stdout } = context(router);
    expect(await waitTasks(c, ["t1"])).toBe(ExitCode.AgentError);
    expect(stdout.text).toBe("t1 cancelled\n");
    expect(router.methods()).toEqual(["getTask"]);
  });

  it("when the log moved on past where it attached, reads the record again", async () => {
    const router = new FakeRouter({ events: [], error: new ConnectError("events 1 to 50 were dropped", Code.OutOfRange) });
    let reads = 0;
    (router.client as unknown as { getTask: unknown }).getTask = async () =>
      reads++ === 0
        ? create(TaskSchema, { id: "t1", status: TaskStatus.RUNNING, lastSeq: 3n })
        : create(TaskSchema, { id: "t1", status: TaskStatus.SUCCEEDED, lastSeq: 60n, exit: create(ExitedSchema, { exitCode: 0, reason: ExitReason.COMPLETED }) });
    const { c, stdout } = context(router);
    expect(await waitTasks(c, ["t1"])).toBe(ExitCode.Ok);
    expect(stdout.text).toBe("t1 succeeded\n");
  });

  it("--timeout: says which tasks still run and exits 124", async () => {
    const router = new FakeRouter({ events: [], hang: true });
    router.task = create(TaskSchema, { id: "t1", status: TaskStatus.RUNNING, lastSeq: 2n });
    const { c, stderr } = context(router);
    expect(await waitTasks(c, ["t1"], { timeoutMs: 10 })).toBe(ExitCode.WaitTimeout);
    expect(stderr.text).toBe("cc: 1 of 1 task still running after 10ms: t1\n");
  });
});
