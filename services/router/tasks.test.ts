import { create } from "@bufbuild/protobuf";
import { afterEach, describe, expect, it, vi } from "vitest";
import { TaskStatus } from "../../gen/claudecluster/v1/router_pb.js";
import { ExitReason, RunEventSchema, RunRequestSchema } from "../../gen/claudecluster/v1/run_pb.js";
import { TaskEntry, TaskStore } from "./tasks.js";

const KIB = 1024;

function task(id: string, outputBytes = 0): TaskEntry {
  const entry = new TaskEntry(id, create(RunRequestSchema, { prompt: id }), { maxBytes: 1024 * KIB, maxLagBytes: 1024 * KIB, stallMs: 30_000 });
  if (outputBytes > 0) entry.emit({ case: "output", value: { data: new Uint8Array(outputBytes) } });
  return entry;
}

function end(entry: TaskEntry): void {
  entry.end({ exitCode: 0, reason: ExitReason.COMPLETED });
}

const kept = (store: TaskStore, ids: string[]) => ids.filter((id) => store.list([], 100).some((t) => t.id === id));

describe("the task store", () => {
  it("forgets the oldest ended tasks past the count limit, never a running one", () => {
    const store = new TaskStore({ retainTasks: 2, retainAgeMs: 3_600_000, retainLogBytes: 1024 * KIB });
    const ids = ["t1", "t2", "t3", "t4"];
    const entries = ids.map((id) => task(id));
    entries.forEach((e) => store.add(e));
    [entries[1]!, entries[2]!, entries[3]!].forEach(end);
    expect(kept(store, ids)).toEqual(["t1", "t3", "t4"]);
  });

  it("forgets the oldest ended tasks while their logs together exceed the byte limit", () => {
    const store = new TaskStore({ retainTasks: 100, retainAgeMs: 3_600_000, retainLogBytes: 250 * KIB });
    const ids = ["t1", "t2", "t3", "t4", "t5"];
    const entries = ids.map((id) => task(id, 100 * KIB));
    entries.forEach((e) => store.add(e));
    end(entries[0]!);
    end(entries[1]!);
    expect(kept(store, ids)).toEqual(ids);
    end(entries[2]!);
    // 300 KiB of ended logs: t1 goes; the running t4 and t5 do not count and stay.
    expect(kept(store, ids)).toEqual(["t2", "t3", "t4", "t5"]);
    end(entries[3]!);
    end(entries[4]!);
    expect(kept(store, ids)).toEqual(["t4", "t5"]);
  });

  it("lets a caller still reading a forgotten task's log read it to the end", async () => {
    const store = new TaskStore({ retainTasks: 100, retainAgeMs: 0, retainLogBytes: 1024 * KIB, now: () => Date.now() + 10_000 });
    const entry = task("t1", 10);
    store.add(entry);
    const reader = entry.log.follow(0n);
    end(entry);
    expect(() => store.get("t1")).toThrow(/not found/);
    const cases: (string | undefined)[] = [];
    for await (const event of reader) cases.push(event.event.case);
    expect(cases).toEqual(["output", "exited"]);
  });

  it("forgets ended tasks past the age limit", () => {
    let now = Date.now();
    const store = new TaskStore({ retainTasks: 100, retainAgeMs: 60_000, retainLogBytes: 1024 * KIB, now: () => now });
    const entry = task("t1");
    store.add(entry);
    end(entry);
    expect(kept(store, ["t1"])).toEqual(["t1"]);
    now += 61_000;
    store.evict();
    expect(kept(store, ["t1"])).toEqual([]);
  });

  describe("on a timer", () => {
    afterEach(() => vi.useRealTimers());

    it("an idle router forgets ended tasks past the age limit: no other task has to end", () => {
      vi.useFakeTimers();
      const store = new TaskStore({ retainTasks: 100, retainAgeMs: 60_000, retainLogBytes: 1024 * KIB });
      store.start();
      const entry = task("t1");
      store.add(entry);
      end(entry);
      vi.advanceTimersByTime(55_000);
      expect(kept(store, ["t1"])).toEqual(["t1"]);
      // Past the age, within a tenth of it, with no call into the store.
      vi.advanceTimersByTime(12_000);
      expect(kept(store, ["t1"])).toEqual([]);
      store.stop();
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
