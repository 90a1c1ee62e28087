// The router's tasks over a store: ended tasks are forgotten past the retention limits (when a task ends, and on a
// timer), a running one never; a caller reading a forgotten task's log reads it to the end; a task's end.
import { create } from "@bufbuild/protobuf";
import { afterEach, describe, expect, it, vi } from "vitest";
import { TaskStatus } from "../../gen/claudecluster/v1/router_pb.js";
import { ExitReason, RunEventSchema, RunRequestSchema } from "../../gen/claudecluster/v1/run_pb.js";
import { MemoryTaskStore } from "./store/memory.js";
import { TaskEntry, Tasks } from "./tasks.js";

const KIB = 1024;
const LOG = { maxBytes: 1024 * KIB, maxLagBytes: 1024 * KIB, stallMs: 30_000 };

function task(id: string, outputBytes = 0): TaskEntry {
  const entry = new TaskEntry(id, create(RunRequestSchema, { prompt: id }), LOG);
  if (outputBytes > 0) entry.emit({ case: "output", value: { data: new Uint8Array(outputBytes) } });
  return entry;
}

function end(entry: TaskEntry): void {
  entry.end({ exitCode: 0, reason: ExitReason.COMPLETED });
}

function tasksOver(retention: { tasks?: number; ageMs?: number; logBytes?: number }, now?: () => number) {
  const store = new MemoryTaskStore();
  const tasks = new Tasks(store, { retention: { tasks: 100, ageMs: 3_600_000, logBytes: 1024 * KIB, ...retention }, log: LOG, ...(now ? { now } : {}) });
  const add = async (id: string, outputBytes = 0) => {
    const entry = new TaskEntry(id, create(RunRequestSchema, { prompt: id }), LOG, { store });
    await tasks.add(entry);
    if (outputBytes > 0) entry.emit({ case: "output", value: { data: new Uint8Array(outputBytes) } });
    return entry;
  };
  /** Ends the task and waits for its end to be stored and the retention applied. */
  const finish = async (entry: TaskEntry) => {
    end(entry);
    await entry.log.whenStored();
    await tasks.evict();
  };
  const kept = async (ids: string[]) => {
    const listed = (await tasks.list({ limit: 100 })).tasks.map((t) => t.id);
    return ids.filter((id) => listed.includes(id));
  };
  return { store, tasks, add, finish, kept };
}

describe("the router's tasks", () => {
  it("forgets the oldest ended tasks past the count limit, never a running one", async () => {
    const { add, finish, kept } = tasksOver({ tasks: 2 });
    const ids = ["t1", "t2", "t3", "t4"];
    const entries = [];
    for (const id of ids) entries.push(await add(id));
    for (const e of [entries[1]!, entries[2]!, entries[3]!]) await finish(e);
    expect(await kept(ids)).toEqual(["t1", "t3", "t4"]);
  });

  it("forgets the oldest ended tasks while their logs together exceed the byte limit", async () => {
    const { add, finish, kept } = tasksOver({ logBytes: 250 * KIB });
    const ids = ["t1", "t2", "t3", "t4", "t5"];
    const entries = [];
    for (const id of ids) entries.push(await add(id, 100 * KIB));
    await finish(entries[0]!);
    await finish(entries[1]!);
    expect(await kept(ids)).toEqual(ids);
    await finish(entries[2]!);
    // 300 KiB of ended logs: t1 goes; the running t4 and t5 do not count and stay.
    expect(await kept(ids)).toEqual(["t2", "t3", "t4", "t5"]);
    await finish(entries[3]!);
    await finish(entries[4]!);
    expect(await kept(ids)).toEqual(["t4", "t5"]);
  });

  it("lets a caller still reading a forgotten task's log read it to the end", async () => {
    const { tasks, add, finish } = tasksOver({ ageMs: 0 }, () => Date.now() + 10_000);
    const entry = await add("t1", 10);
    const reader = entry.log.follow(0n);
    await finish(entry);
    await expect(tasks.find("t1")).rejects.toThrow(/not found/);
    const cases: (string | undefined)[] = [];
    for await (const event of reader) cases.push(event.event.case);
    expect(cases).toEqual(["output", "exited"]);
  });

  it("forgets ended tasks past the age limit", async () => {
    let now = Date.now();
    const { tasks, add, finish, kept } = tasksOver({ ageMs: 60_000 }, () => now);
    const entry = await add("t1");
    await finish(entry);
    expect(await kept(["t1"])).toEqual(["t1"]);
    now += 61_000;
    await tasks.evict();
    expect(await kept(["t1"])).toEqual([]);
  });

  it("finds a task it runs, and an ended one in the store once it has let go of it", async () => {
    const { tasks, add, finish } = tasksOver({});
    const entry = await add("t1", 10);
    expect((await tasks.find("t1")).entry).toBe(entry);
    await finish(entry);
    const found = await tasks.find("t1");
    expect(found.entry).toBeUndefined();
    expect(found.stored?.record).toMatchObject({ status: TaskStatus.SUCCEEDED, lastSeq: 2n });
    expect(() => tasks.get("t1")).toThrow(/not found/);
  });

  describe("on a timer", () => {
    afterEach(() => vi.useRealTimers());

    it("an idle router forgets ended tasks past the age limit: no other task has to end", async () => {
      const { tasks, add, finish, kept } = tasksOver({ ageMs: 60_000 });
      const entry = await add("t1");
      await finish(entry);
      // Timers and the clock only: the store is written on setImmediate.
      vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval", "Date"] });
      tasks.start();
      await vi.advanceTimersByTimeAsync(55_000);
      expect(await kept(["t1"])).toEqual(["t1"]);
      // Past the age, within a tenth of it, with no call into the store.
      await vi.advanceTimersByTimeAsync(12_000);
      expect(await kept(["t1"])).toEqual([]);
      tasks.stop();
    });
  });

  describe("a task's end", () => {
    const workerExited = (reason: ExitReason, message: string) => create(RunEventSchema, { event: { case: "exited", value: { reason, message, exitCode: 143 } } });

    it("when the router asked the worker to stop it, says the router's reason, keeping what the worker added", () => {
      const entry = task("t1");
      entry.requestEnd({ reason: ExitReason.OUTPUT_LIMIT, message: "the log is full", workerMessage: "cancelled: log full" });
      entry.endWith(workerExited(ExitReason.CANCELLED, "cancelled: log full (10 bytes of output printed while the task was being stopped were not kept)"));
      expect(entry.record.exit).toMatchObject({ reason: ExitReason.OUTPUT_LIMIT, exitCode: 143, message: "the log is full (10 bytes of output printed while the task was being stopped were not kept)" });
      expect(entry.record.status).toBe(TaskStatus.FAILED);
    });

    it("keeps the worker's own reason when claude ended otherwise meanwhile", () => {
      const entry = task("t1");
      entry.requestEnd({ reason: ExitReason.CANCELLED, message: "cancelled: x", workerMessage: "cancelled: x" });
      entry.endWith(workerExited(ExitReason.COMPLETED, ""));
      expect(entry.record.exit?.reason).toBe(ExitReason.COMPLETED);
    });

    it("appends exited as the last event of the log, numbered after the others, and closes it", async () => {
      const entry = task("t1", 10);
      entry.end({ reason: ExitReason.FAILED, message: "worker w1 was lost" });
      const events = [];
      for await (const e of entry.log.follow(0n)) events.push(e);
      expect(events.map((e) => [Number(e.seq), e.event.case])).toEqual([
        [1, "output"],
        [2, "exited"],
      ]);
      expect(entry.ended).toBe(true);
      expect(entry.record).toMatchObject({ status: TaskStatus.FAILED, lastSeq: 2n, exit: { exitCode: -1, message: "worker w1 was lost" } });
    });
  });
});
