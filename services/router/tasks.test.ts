// The router's tasks over a store: ended tasks are forgotten past the retention limits (when a task ends, and on a
// timer), a running one never; a caller reading a forgotten task's log reads it to the end; a task's end; listing
// with ListTasks' filters and page tokens; what of a request the record and the store keep.
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { durationFromMs, timestampFromMs } from "@bufbuild/protobuf/wkt";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ListTasksRequestSchema, TaskStatus } from "../../gen/claudecluster/v1/router_pb.js";
import { ExitReason, type RunEvent, RunEventSchema, RunRequestSchema } from "../../gen/claudecluster/v1/run_pb.js";
import { newTaskId } from "../common/ids.js";
import { pageToken, taskQuery } from "./list-query.js";
import { MemoryTaskStore } from "./store/memory.js";
import { TaskEntry, type TaskQuery, Tasks } from "./tasks.js";

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
  it("applies retention shortly after tasks end, once for all that ended meanwhile", async () => {
    const { store, tasks, add, kept } = tasksOver({ tasks: 1 });
    const passes = vi.spyOn(store, "applyRetention");
    const ids = ["t1", "t2", "t3", "t4"];
    const entries = [];
    for (const id of ids) entries.push(await add(id));
    for (const e of entries) end(e);
    await Promise.all(entries.map((e) => e.log.whenStored()));
    await vi.waitFor(() => expect(passes).toHaveBeenCalled(), { timeout: 5000 });
    await vi.waitFor(async () => expect(await kept(ids)).toEqual(["t4"]));
    expect(passes).toHaveBeenCalledTimes(1);
    tasks.stop();
  });

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

  it("lets a caller still reading a forgotten task's log read it to the end; one that comes later reads what is left and stops", async () => {
    const { tasks, add, finish } = tasksOver({ ageMs: 0 }, () => Date.now() + 10_000);
    const entry = await add("t1", 10);
    const reader = entry.log.follow(0n);
    const cases: (string | undefined)[] = [(await reader.next()).value?.event.case];
    // Caught up and waiting for the next event: a live follower, which the log holds events for.
    const next = reader.next();
    await finish(entry);
    await expect(tasks.find("t1")).rejects.toThrow(/not found/);
    cases.push((await next).value?.event.case);
    for await (const event of reader) cases.push(event.event.case);
    expect(cases).toEqual(["output", "exited"]);
    // Its events are gone from memory and from the store: the follow ends (it does not spin waiting for them).
    const late: RunEvent[] = [];
    for await (const event of entry.log.follow(0n)) late.push(event);
    expect(late).toEqual([]);
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

  it("counts each owner's tasks that have not ended, as they start, end or are let go of", async () => {
    const { tasks } = tasksOver({});
    const started = async (owner: string) => {
      const entry = tasks.newEntry(create(RunRequestSchema, { prompt: "x" }), owner);
      await tasks.add(entry);
      return entry;
    };
    const [a1, a2, b1] = [await started("ann"), await started("ann"), await started("bob")];
    expect([tasks.activeOf("ann"), tasks.activeOf("bob"), tasks.activeOf("cy")]).toEqual([2, 1, 0]);
    end(a1);
    expect(tasks.activeOf("ann")).toBe(1);
    // Another router took it over: no longer run here, and its end later does not count twice.
    tasks.release(a2);
    end(a2);
    end(a1);
    expect(tasks.activeOf("ann")).toBe(0);
    end(b1);
    expect(tasks.activeOf("bob")).toBe(0);
    expect(tasks.active()).toEqual([]);
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

describe("listing tasks", () => {
  const t0 = 1_700_000_000_000;
  const retention = { tasks: 100_000, ageMs: 3_600_000, logBytes: 1 << 30 };
  /** A task created at t0 + i seconds, on worker w(i % 3), labelled team=a or b, every fourth one succeeded. */
  async function fill(n: number, endSome = true): Promise<{ tasks: Tasks; entries: TaskEntry[] }> {
    const store = new MemoryTaskStore();
    const tasks = new Tasks(store, { retention, log: LOG });
    const entries: TaskEntry[] = [];
    for (let i = 0; i < n; i++) {
      const entry = new TaskEntry(newTaskId(t0 + i * 1000), create(RunRequestSchema, { prompt: `p${i}`, labels: { team: i % 2 ? "b" : "a" } }), LOG, { store });
      entry.record.createdAt = timestampFromMs(t0 + i * 1000);
      entry.record.workerId = `w${i % 3}`;
      await tasks.add(entry);
      if (endSome && i % 4 === 0) {
        end(entry);
        await entry.log.whenStored();
      }
      entries.push(entry);
    }
    return { tasks, entries };
  }
  const ids = (page: { tasks: { id: string }[] }) => page.tasks.map((t) => t.id);

  it("filters by status, labels, worker and creation time, newest first", async () => {
    const { tasks, entries } = await fill(40);
    const expected = (pick: (i: number) => boolean) => entries.map((e, i) => [e, i] as const).filter(([, i]) => pick(i)).map(([e]) => e.id).reverse();
    const query = async (q: Partial<TaskQuery>) => ids(await tasks.list({ limit: 1000, ...q }));
    expect(await query({})).toEqual(expected(() => true));
    expect(await query({ statuses: [TaskStatus.SUCCEEDED] })).toEqual(expected((i) => i % 4 === 0));
    expect(await query({ labels: { team: "b" } })).toEqual(expected((i) => i % 2 === 1));
    expect(await query({ labels: { team: "b", other: "x" } })).toEqual([]);
    expect(await query({ workerId: "w1" })).toEqual(expected((i) => i % 3 === 1));
    expect(await query({ createdAfterMs: t0 + 30_000 })).toEqual(expected((i) => i >= 30));
    expect(await query({ createdAfterMs: t0 + 30_000, workerId: "w0", statuses: [TaskStatus.QUEUED] })).toEqual(expected((i) => i >= 30 && i % 3 === 0 && i % 4 !== 0));
  });

  it("pages through 2,000 tasks with a token, each task exactly once", async () => {
    const { tasks, entries } = await fill(2000, false);
    const seen: string[] = [];
    let token = "";
    let pages = 0;
    do {
      const res = await tasks.list(taskQuery(create(ListTasksRequestSchema, { limit: 200, pageToken: token, labels: { team: "a" } })));
      seen.push(...ids(res));
      token = res.more ? pageToken(res.tasks.at(-1)!.id) : "";
      pages += 1;
    } while (token);
    expect(pages).toBe(5);
    expect(seen).toEqual(entries.filter((_, i) => i % 2 === 0).map((e) => e.id).reverse());
    // A page that ends exactly at the last match says there is no more.
    expect((await tasks.list({ limit: 1000, labels: { team: "a" } })).more).toBe(false);
    expect((await tasks.list({ limit: 999, labels: { team: "a" } })).more).toBe(true);
  });

  it("refuses a limit over 1000, a bad worker id and a token it did not issue", () => {
    const bad = (init: MessageInitShape<typeof ListTasksRequestSchema>) => () => taskQuery(create(ListTasksRequestSchema, init));
    expect(bad({ limit: 1001 })).toThrow("limit: must be at most 1000; read more with page_token");
    expect(bad({ workerId: "a b" })).toThrow("worker_id: must be 1-64 letters");
    expect(bad({ pageToken: "garbage" })).toThrow("page_token: is not a token ListTasks returned");
    expect(bad({ pageToken: Buffer.from("v1:../x").toString("base64url") })).toThrow("page_token");
    expect(bad({ labels: { "bad key": "x" } })).toThrow("labels: keys must be");
  });

  it("keeps the request's options in the record, but never env values or a repository token, in memory or in the store", async () => {
    const store = new MemoryTaskStore();
    const tasks = new Tasks(store, { retention, log: LOG });
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
      LOG,
      { store },
    );
    await tasks.add(entry);
    const record = entry.snapshot();
    expect(record.envNames).toEqual(["A_VAR", "SECRET_TOKEN"]);
    expect([record.requestedWorkerId, record.spreadGroup, Number(record.timeout?.seconds)]).toEqual(["w2", "g1", 60]);
    expect(record.workspace?.source).toEqual({ case: "repository", value: expect.objectContaining({ url: "https://git.example/r.git", ref: "main", token: "" }) });
    const json = (v: unknown) => JSON.stringify(v, (_k, x: unknown) => (typeof x === "bigint" ? String(x) : x));
    expect(json(record)).not.toContain("hunter2");
    expect(json(record)).not.toContain("ghp_secret");
    // The router still has the values for the worker; the store has the names only.
    expect(entry.request.env).toEqual({ SECRET_TOKEN: "hunter2", A_VAR: "1" });
    const stored = (await store.get("t1"))!;
    expect(stored.request.env).toEqual({});
    expect(json(stored)).not.toContain("hunter2");
    expect(entry.lostEnv).toBe(false);
    // A router carrying on with the stored task cannot launch it again: it knows that it lacks the values.
    const adopted = new TaskEntry("t1", stored.request, LOG, { store, stored });
    expect(adopted.lostEnv).toBe(true);
    end(entry);
    expect(entry.request.env).toEqual({});
  });
});
