// Following a task's stream: re-attaching after drops with the last seq, giving up after a few tries, and telling
// a dropped connection from a task that failed.
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { ExitReason, RunRequestSchema, type RunEvent } from "../../gen/claudecluster/v1/run_pb.js";
import { exitedEv, FakeRouter, networkError, outputEv } from "../testing/fake-router.js";
import { describeError, FollowLostError } from "./errors.js";
import { follow, type FollowOptions } from "./follow.js";

const request = create(RunRequestSchema, { prompt: "hi" });

async function collect(router: FakeRouter, extra: Partial<FollowOptions> = {}) {
  const seen: RunEvent[] = [];
  const reconnects: [number, number][] = [];
  const delays: number[] = [];
  const result = await follow({
    client: router.client,
    start: { run: request },
    signal: new AbortController().signal,
    onEvent: (e) => void seen.push(e),
    onReconnect: (attempt, delay) => void reconnects.push([attempt, delay]),
    sleep: async (ms) => void delays.push(ms),
    ...extra,
  });
  return { result, seen: seen.map((e) => Number(e.seq)), reconnects, delays };
}

describe("follow", () => {
  it("reads a task to its exited event", async () => {
    const router = new FakeRouter({ events: [outputEv(1, "a"), outputEv(2, "b"), exitedEv(3)] });
    const r = await collect(router);
    expect(r.seen).toEqual([1, 2, 3]);
    expect(r.result).toMatchObject({ taskId: "t1", lastSeq: 3n, stopped: false });
    expect(r.result.exited?.exitCode).toBe(0);
    expect(router.methods()).toEqual(["run"]);
  });

  it("re-attaches after a drop from the last seq, skipping anything seen twice", async () => {
    const router = new FakeRouter(
      { events: [outputEv(1, "a"), outputEv(2, "b")], error: networkError() },
      { events: [], error: networkError("ECONNREFUSED") },
      // A router that replays a little too much: seq 2 again must not be shown twice.
      { events: [outputEv(2, "b"), outputEv(3, "c"), exitedEv(4)] },
    );
    const r = await collect(router);
    expect(r.seen).toEqual([1, 2, 3, 4]);
    expect(router.calls.map((c) => [c.method, (c.request as { afterSeq?: bigint }).afterSeq])).toEqual([
      ["run", undefined],
      ["attach", 2n],
      ["attach", 2n],
    ]);
    expect(r.reconnects).toEqual([
      [1, 250],
      [2, 500],
    ]);
  });

  it("also re-attaches when the stream just ends, or the router cuts off a slow reader", async () => {
    const router = new FakeRouter(
      { events: [outputEv(1, "a")] },
      { events: [outputEv(2, "b")], error: new ConnectError("this subscriber fell behind the router's log and was cut off; attach again", Code.ResourceExhausted) },
      { events: [exitedEv(3)] },
    );
    const r = await collect(router);
    expect(r.seen).toEqual([1, 2, 3]);
    expect(r.reconnects.map(([a]) => a)).toEqual([1, 1]);
  });

  it("gives up after the retries, with the last error", async () => {
    const router = new FakeRouter({ events: [outputEv(1, "a")], error: networkError() }, ...Array.from({ length: 3 }, () => ({ events: [], error: networkError("ECONNREFUSED") })));
    const err = await collect(router, { retries: 2, maxDelayMs: 300 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FollowLostError);
    expect((err as FollowLostError).attempts).toBe(2);
    expect(String((err as FollowLostError).cause)).toContain("ECONNREFUSED");
    expect(describeError(err, { router: "http://r:1" }).message).toMatch(/^lost the router at http:\/\/r:1 while following task .* \(ECONNREFUSED; 2 attempts to re-attach\)/);
    expect(router.methods()).toEqual(["run", "attach", "attach"]);
  });

  it("does not retry a failure before the first event: the router refused the task", async () => {
    const router = new FakeRouter({ events: [], error: new ConnectError("no workers are online", Code.Unavailable) });
    await expect(collect(router)).rejects.toThrow("no workers are online");
    expect(router.methods()).toEqual(["run"]);
  });

  it("a task the router ended itself: its exited ends the stream, and no other call is made", async () => {
    const router = new FakeRouter({ events: [outputEv(1, "a"), exitedEv(2, { exitCode: -1, reason: ExitReason.FAILED, message: "worker w1 was lost while running task t1" })] });
    const r = await collect(router);
    expect(r.result.exited?.message).toBe("worker w1 was lost while running task t1");
    expect(router.methods()).toEqual(["run"]);
  });

  it("an error after the task started that is not a dropped stream is reported, not papered over", async () => {
    const router = new FakeRouter({ events: [outputEv(1, "a")], error: new ConnectError("token revoked", Code.Unauthenticated) });
    await expect(collect(router)).rejects.toThrow("token revoked");
    expect(router.methods()).toEqual(["run"]);
  });

  it("attaches from a given seq and stops at untilSeq", async () => {
    const router = new FakeRouter({ events: [outputEv(3, "c"), outputEv(4, "d"), outputEv(5, "e")], hang: true });
    const r = await collect(router, { start: { attach: "t1", afterSeq: 2n }, untilSeq: 4n });
    expect(r.seen).toEqual([3, 4]);
    expect(r.result).toMatchObject({ stopped: true, lastSeq: 4n });
  });

  it("stops when its signal aborts", async () => {
    const abort = new AbortController();
    const router = new FakeRouter({ events: [outputEv(1, "a")], hang: true });
    const r = await collect(router, {
      signal: abort.signal,
      onEvent: () => abort.abort(),
    });
    expect(r.result).toMatchObject({ stopped: true, taskId: "t1" });
  });
});
