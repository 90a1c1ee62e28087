// The task log: nothing is ever dropped, a full log refuses (but always takes `exited`), a live follower that lags
// holds the writer back, and one that stalls is cut off and can replay what it missed.
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ExitReason, type RunEvent, RunEventSchema } from "../../gen/claudecluster/v1/run_pb.js";
import { eventSize } from "../common/event-size.js";
import { TaskLog, TaskLogFull, type TaskLogOptions } from "./task-log.js";

const KIB = 1024;

class Writer {
  seq = 0n;
  constructor(readonly log: TaskLog) {}
  output(bytes = KIB): Promise<void> {
    this.seq += 1n;
    return this.log.append(create(RunEventSchema, { seq: this.seq, event: { case: "output", value: { data: new Uint8Array(bytes) } } }));
  }
  exited(): Promise<void> {
    this.seq += 1n;
    return this.log.append(create(RunEventSchema, { seq: this.seq, event: { case: "exited", value: { reason: ExitReason.COMPLETED } } }));
  }
}

function setup(options: Partial<TaskLogOptions> = {}) {
  const log = new TaskLog({ maxBytes: 1024 * KIB, maxLagBytes: 16 * KIB, stallMs: 30_000, ...options });
  return { log, w: new Writer(log) };
}

/** Whether a promise has settled, after letting pending callbacks run. */
async function settled(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  void p.then(
    () => (done = true),
    () => (done = true),
  );
  for (let i = 0; i < 10; i++) await Promise.resolve();
  return done;
}

const seqs = (events: RunEvent[]) => events.map((e) => Number(e.seq));

async function readAll(it: AsyncIterable<RunEvent>): Promise<RunEvent[]> {
  const out: RunEvent[] = [];
  for await (const e of it) out.push(e);
  return out;
}

describe("the task log", () => {
  afterEach(() => vi.useRealTimers());

  it("keeps every event: a replay from 0 after a long task is complete, from seq 1", async () => {
    const { log, w } = setup({ maxBytes: 64 * 1024 * KIB });
    for (let i = 0; i < 5000; i++) await w.output(KIB);
    await w.exited();
    log.close();
    expect(seqs(await readAll(log.follow(0n)))).toEqual(Array.from({ length: 5001 }, (_, i) => i + 1));
    expect(seqs(await readAll(log.follow(4990n)))).toEqual(Array.from({ length: 11 }, (_, i) => 4991 + i));
  });

  it("refuses an event past its byte bound, storing nothing, but always takes exited", async () => {
    const { log, w } = setup({ maxBytes: 10 * KIB });
    const size = eventSize(create(RunEventSchema, { event: { case: "output", value: { data: new Uint8Array(KIB) } } }));
    const fit = Math.floor((10 * KIB) / size);
    for (let i = 0; i < fit; i++) await w.output();
    expect(() => w.output()).toThrow(TaskLogFull);
    w.seq -= 1n;
    expect(log.lastSeq).toBe(BigInt(fit));
    await w.exited();
    log.close();
    const events = await readAll(log.follow(0n));
    expect(seqs(events)).toEqual(Array.from({ length: fit + 1 }, (_, i) => i + 1));
    expect(events.at(-1)!.event.case).toBe("exited");
  });

  it("holds the writer while a live follower lags, and lets it go as the follower reads", async () => {
    const { log, w } = setup();
    const reader = log.follow(0n)[Symbol.asyncIterator]();
    // Caught up once (waiting at the head): it is live.
    const first = reader.next();
    await w.output();
    expect(Number((await first).value.seq)).toBe(1);
    let pending: Promise<void> | undefined;
    for (let i = 0; i < 40 && !pending; i++) {
      const p = w.output();
      if (!(await settled(p))) pending = p;
    }
    expect(pending).toBeDefined();
    expect(log.lastSeq).toBeLessThan(40n);
    // Reading frees it.
    while (!(await settled(pending!))) await reader.next();
    await reader.return(undefined);
  });

  it("is not held back by a follower replaying from the start", async () => {
    const { log, w } = setup();
    for (let i = 0; i < 10; i++) await w.output();
    const replaying = log.follow(0n)[Symbol.asyncIterator]();
    await replaying.next();
    for (let i = 0; i < 100; i++) expect(await settled(w.output())).toBe(true);
    await replaying.return(undefined);
  });

  it("cuts off a live follower that reads nothing for stallMs; attached again, it gets everything it missed", async () => {
    vi.useFakeTimers();
    const { log, w } = setup({ stallMs: 30_000 });
    const reader = log.follow(0n)[Symbol.asyncIterator]();
    const first = reader.next();
    await w.output();
    await first;
    let pending: Promise<void> | undefined;
    while (!pending) {
      const p = w.output();
      if (!(await settled(p))) pending = p;
    }
    vi.advanceTimersByTime(29_000);
    expect(await settled(pending)).toBe(false);
    vi.advanceTimersByTime(2_000);
    expect(await settled(pending)).toBe(true);
    // The next read of the stalled follower is the error.
    const err = await reader.next().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as ConnectError).code).toBe(Code.ResourceExhausted);
    expect((err as ConnectError).rawMessage).toMatch(/read nothing for 30s .*CC_SUBSCRIBER_STALL.*nothing was lost: attach again/);
    // The writer goes on, unheld.
    for (let i = 0; i < 50; i++) expect(await settled(w.output())).toBe(true);
    await w.exited();
    log.close();
    expect(seqs(await readAll(log.follow(1n)))).toEqual(Array.from({ length: Number(w.seq) - 1 }, (_, i) => i + 2));
  });

  it("releases a waiting writer when the log closes or the wait is aborted", async () => {
    const { log, w } = setup();
    const reader = log.follow(0n)[Symbol.asyncIterator]();
    const first = reader.next();
    await w.output();
    await first;
    let pending: Promise<void> | undefined;
    while (!pending) {
      const p = w.output();
      if (!(await settled(p))) pending = p;
    }
    const abort = new AbortController();
    w.seq += 1n;
    const aborted = log.append(create(RunEventSchema, { seq: w.seq, event: { case: "output", value: { data: new Uint8Array(KIB) } } }), abort.signal);
    abort.abort();
    expect(await settled(aborted)).toBe(true);
    log.close();
    expect(await settled(pending)).toBe(true);
    await reader.return(undefined);
  });
});
