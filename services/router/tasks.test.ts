import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { durationFromMs, timestampFromMs } from "@bufbuild/protobuf/wkt";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ListTasksRequestSchema, TaskStatus } from "../../gen/claudecluster/v1/router_pb.js";
import { ExitedSchema, ExitReason, RunEventSchema, RunRequestSchema } from "../../gen/claudecluster/v1/run_pb.js";
import { newTaskId } from "../common/ids.js";
import { pageToken, taskQuery } from "./list-query.js";
import { TaskEntry, TaskStore, type TaskQuery } from "./tasks.js";

const KIB = 1024;

function task(id: string, outputBytes = 0): TaskEntry {
  const entry = new TaskEntry(id, create(RunRequestSchema, { prompt: id }), { maxBytes: 1024 * KIB, maxLagBytes: 1024 * KIB, stallMs: 30_000 });
  if (outputBytes > 0) entry.emit({ case: "output", value: { data: new Uint8Array(outputBytes) } });
  return entry;
}

function end(entry: TaskEntry): void {
  entry.end({ exitCode: 0, reason: ExitReason.COMPLETED });
}

const kept = (store: TaskStore, ids: string[]) => ids.filter((id) => store.list({ limit: 100 }).tasks.some((t) => t.id === id));

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

describe("listing tasks", () => {
  const store = () => new TaskStore({ retainTasks: 100_000, retainAgeMs: 3_600_000, retainLogBytes: 1 << 30 });
  const t0 = 1_700_000_000_000;
  /** A task created at t0 + i seconds, on worker w(i % 3), labelled team=a or b, every fourth one succeeded. */
  function fill(s: TaskStore, n: number, endSome = true): TaskEntry[] {
    const entries: TaskEntry[] = [];
    for (let i = 0; i < n; i++) {
      const entry = new TaskEntry(newTaskId(t0 + i * 1000), create(RunRequestSchema, { prompt: `p${i}`, labels: { team: i % 2 ? "b" : "a" } }), { maxBytes: KIB, maxLagBytes: KIB, stallMs: 30_000 });
      entry.record.createdAt = timestampFromMs(t0 + i * 1000);
      entry.record.workerId = `w${i % 3}`;
      s.add(entry);
      if (endSome && i % 4 === 0) end(entry);
      entries.push(entry);
    }
    return entries;
  }
  const ids = (page: { tasks: { id: string }[] }) => page.tasks.map((t) => t.id);

  it("filters by status, labels, worker and creation time, newest first", () => {
    const s = store();
    const entries = fill(s, 40);
    const expected = (pick: (i: number) => boolean) => entries.map((e, i) => [e, i] as const).filter(([, i]) => pick(i)).map(([e]) => e.id).reverse();
    const query = (q: Partial<TaskQuery>) => ids(s.list({ limit: 1000, ...q }));
    expect(query({})).toEqual(expected(() => true));
    expect(query({ statuses: [TaskStatus.SUCCEEDED] })).toEqual(expected((i) => i % 4 === 0));
    expect(query({ labels: { team: "b" } })).toEqual(expected((i) => i % 2 === 1));
    expect(query({ labels: { team: "b", other: "x" } })).toEqual([]);
    expect(query({ workerId: "w1" })).toEqual(expected((i) => i % 3 === 1));
    expect(query({ createdAfterMs: t0 + 30_000 })).toEqual(expected((i) => i >= 30));
    expect(query({ createdAfterMs: t0 + 30_000, workerId: "w0", statuses: [TaskStatus.QUEUED] })).toEqual(expected((i) => i >= 30 && i % 3 === 0 && i % 4 !== 0));
  });

  it("pages through 10,000 tasks with a token, each task exactly once", () => {
    const s = store();
    const entries = fill(s, 10_000, false);
    const seen: string[] = [];
    let token = "";
    let pages = 0;
    do {
      const res = s.list(taskQuery(create(ListTasksRequestSchema, { limit: 1000, pageToken: token, labels: { team: "a" } })));
      seen.push(...ids(res));
      token = res.more ? pageToken(res.tasks.at(-1)!.id) : "";
      pages += 1;
    } while (token);
    expect(pages).toBe(5);
    expect(seen).toEqual(entries.filter((_, i) => i % 2 === 0).map((e) => e.id).reverse());
    // A page that ends exactly at the last match says there is no more.
    expect(s.list({ limit: 5000, labels: { team: "a" } }).more).toBe(false);
    expect(s.list({ limit: 4999, labels: { team: "a" } }).more).toBe(true);
  });

  it("refuses a limit over 1000, a bad worker id and a token it did not issue", () => {
    const bad = (init: MessageInitShape<typeof ListTasksRequestSchema>) => () => taskQuery(create(ListTasksRequestSchema, init));
    expect(bad({ limit: 1001 })).toThrow("limit: must be at most 1000; read more with page_token");
    expect(bad({ workerId: "a b" })).toThrow("worker_id: must be 1-64 letters");
    expect(bad({ pageToken: "garbage" })).toThrow("page_token: is not a token ListTasks returned");
    expect(bad({ pageToken: Buffer.from("v1:../x").toString("base64url") })).toThrow("page_token");
    expect(bad({ labels: { "bad key": "x" } })).toThrow("labels: keys must be");
  });

  it("keeps the request's options in the record, but never env values or a repository token", () => {
    const entry = new TaskEntry(
      "t1",
      create(RunRequestSchema, {
        prompt: "x",
        env: { SECRET_TOKEN: "hunter2", A_VAR: "1" },
        workspace: { source: { case: "repository", value: { url: "https://git.example/r.git", ref: "main", token: "ghp_secret" } } },
        timeout: durationFromMs(60_000),
        workerId: "w2",
        spreadGroup: "g1",
      }),
      { maxBytes: KIB, maxLagBytes: KIB, stallMs: 30_000 },
    );
    const record = entry.snapshot();
    expect(record.envNames).toEqual(["A_VAR", "SECRET_TOKEN"]);
    expect([record.requestedWorkerId, record.spreadGroup, Number(record.timeout?.seconds)]).toEqual(["w2", "g1", 60]);
    expect(record.workspace?.source).toEqual({ case: "repository", value: expect.objectContaining({ url: "https://git.example/r.git", ref: "main", token: "" }) });
    const json = JSON.stringify(record, (_k, v: unknown) => (typeof v === "bigint" ? String(v) : v));
    expect(json).not.toContain("hunter2");
    expect(json).not.toContain("ghp_secret");
    end(entry);
    expect(entry.request.env).toEqual({});
  });
});
