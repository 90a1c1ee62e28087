// The task log: nothing is ever dropped, a full log refuses (but always takes `exited`), a live follower that lags
// holds the writer back, and one that stalls is cut off and can replay what it missed.
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ExitReason, type RunEvent, RunEventSchema } from "../../gen/claudecluster/v1/run_pb.js";
import { eventSize } from "../common/event-size.js";
import { StoreUnavailable } from "./store/interface.js";
import { ArrayBacking, FLUSH_BYTES, TaskLog, TaskLogFull, type TaskLogOptions } from "./task-log.js";

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

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((r) => setImmediate(r));
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
    // Timers and the clock only: the log writes to its store on setImmediate.
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"] });
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

  it("does not count the time a follower waited at the head as a stall: a burst after a long quiet is read, not cut", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"] });
    const { log, w } = setup({ stallMs: 30_000 });
    const reader = log.follow(0n)[Symbol.asyncIterator]();
    const first = reader.next();
    await w.output();
    await first;
    // Caught up and waiting, for longer than the stall allowed: a task that went quiet.
    const next = reader.next();
    vi.advanceTimersByTime(60_000);
    // A burst, well past maxLagBytes, appended before the store has written any of it.
    const burst = Array.from({ length: 40 }, () => w.output());
    expect(Number((await next).value.seq)).toBe(2);
    const read = [2];
    while (read.length < 40) read.push(Number((await reader.next()).value.seq));
    expect(read).toEqual(Array.from({ length: 40 }, (_, i) => i + 2));
    for (const p of burst) expect(await settled(p)).toBe(true);
    await reader.return(undefined);
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

  it("shows a follower an event only once its store holds it, and holds the writer while the store refuses writes", async () => {
    const backing = new ArrayBacking();
    let down = true;
    let tries = 0;
    const store = {
      commit: async (events: RunEvent[]) => {
        tries += 1;
        if (down) throw new StoreUnavailable("the disk is full");
        return backing.commit(events);
      },
      read: (after: bigint, limit: number) => backing.read(after, limit),
    };
    const log = new TaskLog({ maxBytes: 64 * 1024 * KIB, maxLagBytes: 64 * 1024 * KIB, stallMs: 30_000 }, store);
    const w = new Writer(log);
    const reader = log.follow(0n)[Symbol.asyncIterator]();
    const first = reader.next();
    // Past FLUSH_BYTES unstored, appends wait for the store.
    let pending: Promise<void> | undefined;
    for (let i = 0; i < (2 * FLUSH_BYTES) / KIB && !pending; i++) {
      const p = w.output();
      if (!(await settled(p))) pending = p;
    }
    expect(pending).toBeDefined();
    await until(() => tries >= 2);
    expect(await settled(first)).toBe(false);
    expect(log.storedSeq).toBe(0n);
    down = false;
    await pending;
    expect(Number((await first).value!.seq)).toBe(1);
    await w.exited();
    log.close();
    await log.whenStored();
    expect(seqs(backing.events)).toEqual(Array.from({ length: Number(w.seq) }, (_, i) => i + 1));
    const rest = [];
    for (let r = await reader.next(); !r.done; r = await reader.next()) rest.push(r.value);
    expect(seqs(rest)).toEqual(Array.from({ length: Number(w.seq) - 1 }, (_, i) => i + 2));
  });

  it("keeps in memory only what live followers have yet to read; a follower further back reads the store", async () => {
    const backing = new ArrayBacking();
    let reads = 0;
    const store = { commit: (e: RunEvent[]) => backing.commit(e), read: (a: bigint, l: number) => ((reads += 1), backing.read(a, l)) };
    const log = new TaskLog({ maxBytes: 64 * 1024 * KIB, maxLagBytes: 16 * KIB, stallMs: 30_000 }, store);
    const w = new Writer(log);
    for (let i = 0; i < 1000; i++) await w.output(KIB);
    await log.whenStored();
    expect((log as unknown as { held: unknown[] }).held.length).toBe(0);
    const late = await readAll((async function* () {
      for await (const e of log.follow(500n)) {
        yield e;
        if (e.seq === 1000n) return;
      }
    })());
    expect(seqs(late)).toEqual(Array.from({ length: 500 }, (_, i) => i + 501));
    expect(reads).toBeGreaterThan(0);
  });
});
