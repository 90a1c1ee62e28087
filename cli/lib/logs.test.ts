// `cc logs`: --tail keeps the last lines of what was logged, --since skips what came before, and a log whose start the
// router dropped is said so, with what is left printed, instead of the router's OUT_OF_RANGE.
import { Readable } from "node:stream";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { TaskSchema, TaskStatus } from "../../gen/claudecluster/v1/router_pb.js";
import { exitedEv, FakeRouter, outputEv } from "../testing/fake-router.js";
import { Capture } from "../testing/fixtures.js";
import { TailBuffer, taskLogs } from "./logs.js";

function context(router: FakeRouter) {
  const stdout = new Capture();
  return { c: { io: { env: {}, stdin: Readable.from([]), stdout, stderr: new Capture() }, client: router.client, router: "http://r" }, stdout };
}

describe("TailBuffer", () => {
  it("keeps the last n lines until released, then passes everything through", () => {
    const out = new Capture();
    const tail = new TailBuffer(2, out);
    tail.write("one\ntwo\nthr");
    tail.write("ee\nfour");
    expect(out.text).toBe("");
    tail.release();
    expect(out.text).toBe("three\nfour");
    tail.write(" more\n");
    expect(out.text).toBe("three\nfour more\n");
    const none = new Capture();
    const zero = new TailBuffer(0, none);
    zero.write("a\nb\n");
    zero.release();
    expect(none.text).toBe("");
  });
});

describe("cc logs", () => {
  const task = (init: Partial<{ lastSeq: bigint; firstSeq: bigint }>) => create(TaskSchema, { id: "t1", status: TaskStatus.SUCCEEDED, lastSeq: 5n, firstSeq: 1n, ...init });
  const events = () => [outputEv(1, "line 1\n"), outputEv(2, "line 2\n"), outputEv(3, "line 3\n"), outputEv(4, "line 4\n"), exitedEv(5)];

  it("--tail 2 prints the last two lines of the log", async () => {
    const router = new FakeRouter({ events: events() });
    router.task = task({});
    const { c, stdout } = context(router);
    await taskLogs(c, "t1", { follow: false, tail: 2 });
    // The end line is the last line of the log.
    expect(stdout.text.split("\n").filter(Boolean)).toHaveLength(2);
    expect(stdout.text).toMatch(/^line 4\n── ✓ done/);
  });

  it("--since skips the events before it (but not the end)", async () => {
    const router = new FakeRouter({ events: events() });
    router.task = task({});
    const { c, stdout } = context(router);
    // fake-router stamps event n at 1_700_000_000_000 + n ms.
    await taskLogs(c, "t1", { follow: false, sinceMs: 1_700_000_000_003 });
    expect(stdout.text).toMatch(/^line 3\nline 4\n── ✓ done/);
  });

  it("a trimmed log: says which events are gone and attaches after them", async () => {
    const router = new FakeRouter({ events: [outputEv(4, "line 4\n"), exitedEv(5)] });
    router.task = task({ firstSeq: 4n });
    const { c, stdout } = context(router);
    await taskLogs(c, "t1", { follow: false });
    expect(stdout.text).toMatch(/^── events 1–3 of this task were dropped from the router's log \(it keeps CC_TASK_LOG_BYTES per task\); what is left starts at event 4\nline 4\n── ✓ done/);
    expect(router.calls.find((x) => x.method === "attach")?.request).toMatchObject({ taskId: "t1", afterSeq: 3n });
  });

  it("trimmed again between reading the record and attaching: tries once more from what is left", async () => {
    const outOfRange = new ConnectError("events 1 to 4 of this task were dropped", Code.OutOfRange);
    const router = new FakeRouter({ events: [], error: outOfRange }, { events: [outputEv(5, "line 5\n"), exitedEv(6)] });
    let reads = 0;
    const client = router.client as unknown as { getTask: unknown };
    client.getTask = async () => (reads++ === 0 ? task({ firstSeq: 2n, lastSeq: 6n }) : task({ firstSeq: 5n, lastSeq: 6n }));
    const { c, stdout } = context(router);
    await taskLogs(c, "t1", { follow: false });
    expect(stdout.text).toContain("events 1–4 of this task were dropped");
    expect(stdout.text).toContain("line 5\n");
  });
});
