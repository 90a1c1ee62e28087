// The task store's contract: ONE suite every implementation passes (memory.test.ts, sqlite.test.ts, redis.test.ts
// call it with a factory), so a new backend gets every test and none can drift. It speaks the interface only.
import { Spend } from "../quotas/spend.js";
import { create, toBinary } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { afterEach, describe, expect, it } from "vitest";
import { TaskSchema, TaskStatus, type Task } from "../../../gen/claudecluster/v1/router_pb.js";
import { ExitReason, RunEventSchema, RunRequestSchema, type RunEvent } from "../../../gen/claudecluster/v1/run_pb.js";
import { WorkerInfoSchema } from "../../../gen/claudecluster/v1/worker_pb.js";
import { eventSize } from "../../common/event-size.js";
import { newTaskId } from "../../common/ids.js";
import { isExited } from "./event-bytes.js";
import { SeqConflict, type StoredTask, type TaskStore } from "./interface.js";

export interface StoreFactory {
  /** A new, empty store (opened by the suite). */
  make(): TaskStore | Promise<TaskStore>;
  /** Another store on the same data (a router restarting, or a second router), when the backend keeps data. */
  reopen?(store: TaskStore): TaskStore | Promise<TaskStore>;
  /** Several routers use the store at once (`reopen` makes the second): it shares workers and cancels. */
  shared?: boolean;
}

const T0 = Date.UTC(2026, 0, 1);

/** A task created `minutesAgo` before T0's successors: ids sort by creation time. */
export function storedTask(options: { createdMs?: number; requestId?: string; labels?: Record<string, string>; workerId?: string; prompt?: string } = {}): StoredTask {
  const createdMs = options.createdMs ?? Date.now();
  const id = newTaskId(createdMs);
  const request = create(RunRequestSchema, { prompt: options.prompt ?? `prompt of ${id}`, requestId: options.requestId ?? "", labels: options.labels ?? {} });
  const record = create(TaskSchema, {
    id,
    requestId: request.requestId,
    status: TaskStatus.QUEUED,
    promptSummary: request.prompt,
    labels: request.labels,
    workerId: options.workerId ?? "",
    createdAt: timestampFromMs(createdMs),
  });
  return { record, request, placement: undefined };
}

export function outputEvent(task: StoredTask, bytes = 100): RunEvent {
  const seq = task.record.lastSeq + 1n;
  task.record.lastSeq = seq;
  return create(RunEventSchema, { taskId: task.record.id, seq, time: timestampFromMs(T0 + Number(seq)), event: { case: "output", value: { data: new Uint8Array(bytes).fill(Number(seq) % 256) } } });
}

export function exitedEvent(task: StoredTask, endedMs = Date.now()): RunEvent {
  const seq = task.record.lastSeq + 1n;
  task.record.lastSeq = seq;
  task.record.status = TaskStatus.SUCCEEDED;
  task.record.endedAt = timestampFromMs(endedMs);
  task.record.exit = { $typeName: "claudecluster.v1.Exited", exitCode: 0, signal: "", reason: ExitReason.COMPLETED, message: "", result: undefined };
  return create(RunEventSchema, { taskId: task.record.id, seq, event: { case: "exited", value: { reason: ExitReason.COMPLETED } } });
}

const wire = (e: RunEvent) => Buffer.from(toBinary(RunEventSchema, e)).toString("hex");
const ids = (tasks: Task[]) => tasks.map((t) => t.id);

async function collect(events: AsyncIterable<RunEvent>, max = Infinity): Promise<RunEvent[]> {
  const out: RunEvent[] = [];
  for await (const e of events) {
    out.push(e);
    if (out.length >= max) break;
  }
  return out;
}

/** Waits for a condition on the store (bounded), never for a length of time. */
async function eventually(condition: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (await condition()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error("the store never reached the expected state");
}

export function runTaskStoreContract(name: string, factory: StoreFactory): void {
  describe(`the ${name} task store (contract)`, () => {
    const open: TaskStore[] = [];
    async function store(): Promise<TaskStore> {
      const s = await factory.make();
      await s.open();
      open.push(s);
      return s;
    }
    async function reopen(s: TaskStore): Promise<TaskStore> {
      const again = await factory.reopen!(s);
      await again.open();
      open.push(again);
      return again;
    }
    afterEach(async () => {
      for (const s of open.splice(0).reverse()) await s.close();
    });

    it("creates a task and gives back its record, request and placement as saved, copies not the caller's objects", async () => {
      const s = await store();
      const t = storedTask({ labels: { gpu: "true" } });
      expect(await s.create(t)).toEqual({ created: true });
      t.placement = { workerId: "w1", accepted: true, workerSeq: 7n };
      t.cancelReason = "not now";
      t.record.workerId = "w1";
      await s.save(t);
      t.record.workerId = "changed after saving";
      const got = (await s.get(t.record.id))!;
      expect(got.record.workerId).toBe("w1");
      expect(got.record.labels).toEqual({ gpu: "true" });
      expect(got.request.prompt).toBe(t.request.prompt);
      expect(got.placement).toEqual({ workerId: "w1", accepted: true, workerSeq: 7n });
      expect(got.cancelReason).toBe("not now");
      expect(await s.get("no-such-task")).toBeUndefined();
    });

    it("keeps one task per request id: a second create returns the first task's record and adds nothing", async () => {
      const s = await store();
      const first = storedTask({ requestId: "req-1" });
      const again = storedTask({ requestId: "req-1" });
      expect(await s.create(first)).toEqual({ created: true });
      const second = await s.create(again);
      expect(second.created).toBe(false);
      expect(second.created === false && second.existing.id).toBe(first.record.id);
      expect(await s.get(again.record.id)).toBeUndefined();
      expect((await s.byRequestId("req-1"))?.id).toBe(first.record.id);
      expect(await s.byRequestId("req-2")).toBeUndefined();
      expect(await s.create(storedTask({ requestId: "req-2" }))).toEqual({ created: true });
    });

    it("appends events in batches and reads them back byte for byte from any seq, in order", async () => {
      const s = await store();
      const t = storedTask();
      await s.create(t);
      const written: RunEvent[] = [];
      for (let batch = 0; batch < 5; batch++) {
        const events = Array.from({ length: 20 }, () => outputEvent(t, 50 + batch));
        await s.append(t, events);
        written.push(...events);
      }
      const all = await s.read(t.record.id, 0n, 1000);
      expect(all.map((e) => e.seq)).toEqual(written.map((e) => e.seq));
      expect(all.map(wire)).toEqual(written.map(wire));
      expect(all.every((e) => e.taskId === t.record.id)).toBe(true);
      expect((await s.read(t.record.id, 95n, 1000)).map((e) => Number(e.seq))).toEqual([96, 97, 98, 99, 100]);
      expect((await s.read(t.record.id, 10n, 3)).map((e) => Number(e.seq))).toEqual([11, 12, 13]);
      expect(await s.read(t.record.id, 100n, 10)).toEqual([]);
      expect((await s.get(t.record.id))!.record.lastSeq).toBe(100n);
      expect(await s.logBytes(t.record.id)).toBe(written.reduce((n, e) => n + eventSize(e), 0));
    });

    it("refuses a duplicate, a gap or an out-of-order append with SeqConflict, storing nothing of it", async () => {
      const s = await store();
      const t = storedTask();
      await s.create(t);
      const e1 = outputEvent(t);
      const e2 = outputEvent(t);
      await s.append(t, [e1, e2]);
      // A second writer that believes the log ends at seq 1.
      const stale = { ...t, record: { ...t.record, lastSeq: 2n } };
      await expect(s.append(stale, [e2])).rejects.toBeInstanceOf(SeqConflict);
      const gap = create(RunEventSchema, { taskId: t.record.id, seq: 4n, event: { case: "output", value: { data: new Uint8Array(1) } } });
      await expect(s.append({ ...t, record: { ...t.record, lastSeq: 4n } }, [gap])).rejects.toBeInstanceOf(SeqConflict);
      const e3 = create(RunEventSchema, { taskId: t.record.id, seq: 3n, event: { case: "output", value: { data: new Uint8Array(1) } } });
      const e5 = create(RunEventSchema, { taskId: t.record.id, seq: 5n, event: { case: "output", value: { data: new Uint8Array(1) } } });
      await expect(s.append({ ...t, record: { ...t.record, lastSeq: 4n } }, [e3, e5])).rejects.toBeInstanceOf(SeqConflict);
      expect((await s.read(t.record.id, 0n, 10)).map((e) => Number(e.seq))).toEqual([1, 2]);
      expect((await s.get(t.record.id))!.record.lastSeq).toBe(2n);
      // A save from a writer that lost count is refused too.
      await expect(s.save({ ...t, record: { ...t.record, lastSeq: 1n } })).rejects.toBeInstanceOf(SeqConflict);
    });

    it("keeps appends to several tasks made at once apart: one refused undoes none of the others", async () => {
      const s = await store();
      const a = storedTask();
      const b = storedTask();
      await s.create(a);
      await s.create(b);
      const gap = create(RunEventSchema, { taskId: b.record.id, seq: 5n, event: { case: "output", value: { data: new Uint8Array(1) } } });
      const results = await Promise.allSettled([
        s.append(a, [outputEvent(a)]),
        s.append({ ...b, record: { ...b.record, lastSeq: 5n } }, [gap]),
        s.append(a, [outputEvent(a)]),
        s.append(b, [outputEvent(b)]),
      ]);
      expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled", "fulfilled"]);
      expect((results[1] as PromiseRejectedResult).reason).toBeInstanceOf(SeqConflict);
      expect((await s.read(a.record.id, 0n, 10)).map((e) => Number(e.seq))).toEqual([1, 2]);
      expect((await s.read(b.record.id, 0n, 10)).map((e) => Number(e.seq))).toEqual([1]);
      expect((await s.get(a.record.id))!.record.lastSeq).toBe(2n);
      expect((await s.get(b.record.id))!.record.lastSeq).toBe(1n);
    });

    it("follows a task: the replay, then each event as it is appended, to its exited", async () => {
      const s = await store();
      const t = storedTask();
      await s.create(t);
      await s.append(t, [outputEvent(t), outputEvent(t)]);
      const seen: bigint[] = [];
      let sawTwo!: () => void;
      const two = new Promise<void>((r) => (sawTwo = r));
      const following = (async () => {
        for await (const e of s.follow(t.record.id, 0n)) {
          seen.push(e.seq);
          if (e.seq === 2n) sawTwo();
        }
      })();
      await two;
      await s.append(t, [outputEvent(t)]);
      await eventually(async () => seen.length === 3);
      await s.append(t, [outputEvent(t), exitedEvent(t)]);
      await following;
      expect(seen).toEqual([1n, 2n, 3n, 4n, 5n]);
      // From the middle, an ended task replays to its exited and stops.
      const rest = await collect(s.follow(t.record.id, 3n));
      expect(rest.map((e) => e.seq)).toEqual([4n, 5n]);
      expect(isExited(rest.at(-1)!)).toBe(true);
    });

    it("ends a follow at once for an unknown task, and when its signal aborts", async () => {
      const s = await store();
      expect(await collect(s.follow("no-such-task", 0n))).toEqual([]);
      const t = storedTask();
      await s.create(t);
      await s.append(t, [outputEvent(t)]);
      const abort = new AbortController();
      const seen: RunEvent[] = [];
      const following = (async () => {
        for await (const e of s.follow(t.record.id, 0n, abort.signal)) {
          seen.push(e);
          abort.abort();
        }
      })();
      await following;
      expect(seen.map((e) => e.seq)).toEqual([1n]);
    });

    it("lists newest first, with every filter, in pages that together hold each match once", async () => {
      const s = await store();
      const made: StoredTask[] = [];
      for (let i = 0; i < 12; i++) {
        const t = storedTask({ createdMs: T0 + i * 60_000, labels: i % 2 === 0 ? { region: "eu" } : { region: "us" }, workerId: i % 3 === 0 ? "w1" : "w2" });
        await s.create(t);
        if (i % 4 === 0) {
          await s.append(t, [exitedEvent(t)]);
        }
        made.push(t);
      }
      const newestFirst = made.map((t) => t.record.id).reverse();
      expect(ids((await s.list({ limit: 100 })).tasks)).toEqual(newestFirst);
      expect(ids((await s.list({ limit: 100, statuses: [TaskStatus.SUCCEEDED] })).tasks)).toEqual(newestFirst.filter((_, i) => (11 - i) % 4 === 0));
      expect(ids((await s.list({ limit: 100, labels: { region: "eu" } })).tasks)).toEqual(newestFirst.filter((_, i) => (11 - i) % 2 === 0));
      expect(ids((await s.list({ limit: 100, workerId: "w1" })).tasks)).toEqual(newestFirst.filter((_, i) => (11 - i) % 3 === 0));
      expect(ids((await s.list({ limit: 100, createdAfterMs: T0 + 9 * 60_000 })).tasks)).toEqual(newestFirst.slice(0, 3));
      expect(ids((await s.list({ limit: 100, where: (t) => t.id === newestFirst[4] })).tasks)).toEqual([newestFirst[4]]);
      const paged: string[] = [];
      let olderThan: string | undefined;
      let pages = 0;
      for (;;) {
        const page = await s.list({ limit: 5, labels: { region: "eu" }, ...(olderThan !== undefined ? { olderThan } : {}) });
        paged.push(...ids(page.tasks));
        pages += 1;
        if (!page.more) break;
        olderThan = page.tasks.at(-1)!.id;
      }
      expect(paged).toEqual(newestFirst.filter((_, i) => (11 - i) % 2 === 0));
      // Six match: a page of five says there are more, the next holds the sixth and says there are none.
      expect(pages).toBe(2);
    });

    it("lists the unfinished tasks, for a router that starts", async () => {
      const s = await store();
      const running = storedTask();
      const ended = storedTask();
      await s.create(running);
      await s.create(ended);
      running.placement = { workerId: "w1", accepted: true, workerSeq: 3n };
      await s.append(running, [outputEvent(running)]);
      await s.append(ended, [exitedEvent(ended)]);
      const unfinished = await s.unfinished();
      expect(unfinished.map((t) => t.record.id)).toEqual([running.record.id]);
      expect(unfinished[0]!.placement).toEqual({ workerId: "w1", accepted: true, workerSeq: 3n });
    });

    it("forgets the oldest ended tasks past the count, byte and age limits, never a running one, with their events", async () => {
      const s = await store();
      const now = Date.now();
      const tasks: StoredTask[] = [];
      for (let i = 0; i < 6; i++) {
        const t = storedTask({ createdMs: now - 10_000 + i });
        await s.create(t);
        await s.append(t, [outputEvent(t, 1000)]);
        tasks.push(t);
      }
      // t0..t3 end (t0 long ago); t4 and t5 run on.
      await s.append(tasks[0]!, [exitedEvent(tasks[0]!, now - 3_600_000)]);
      for (const t of tasks.slice(1, 4)) await s.append(t, [exitedEvent(t, now)]);
      const removedEvents: string[] = [];
      const stop = s.watch({ changed() {}, removed: (id) => removedEvents.push(id) });
      const limits = { tasks: 100, ageMs: 60_000, logBytes: 1 << 30 };
      expect(await s.applyRetention(limits, now)).toEqual([tasks[0]!.record.id]);
      expect(await s.applyRetention({ ...limits, tasks: 2 }, now)).toEqual([tasks[1]!.record.id]);
      const oneLog = await s.logBytes(tasks[2]!.record.id);
      expect(await s.applyRetention({ ...limits, logBytes: oneLog }, now)).toEqual([tasks[2]!.record.id]);
      expect(await s.applyRetention({ tasks: 0, ageMs: 0, logBytes: 0 }, now + 1)).toEqual([tasks[3]!.record.id]);
      await eventually(async () => removedEvents.length >= 4);
      stop();
      expect(removedEvents).toEqual(tasks.slice(0, 4).map((t) => t.record.id));
      expect(ids((await s.list({ limit: 100 })).tasks).sort()).toEqual([tasks[4]!.record.id, tasks[5]!.record.id].sort());
      expect(await s.read(tasks[0]!.record.id, 0n, 10)).toEqual([]);
      expect(await s.get(tasks[0]!.record.id)).toBeUndefined();
      // Its request id is free again.
      expect(await s.applyRetention({ tasks: 0, ageMs: 0, logBytes: 0 }, now + 2)).toEqual([]);
    });

    it("tells its listeners of every created, saved and appended task", async () => {
      const s = await store();
      const changed: string[] = [];
      const stop = s.watch({ changed: (id) => changed.push(id), removed() {} });
      const t = storedTask();
      await s.create(t);
      await s.save(t);
      await s.append(t, [outputEvent(t)]);
      await eventually(async () => changed.length >= 3);
      stop();
      expect(changed.slice(0, 3)).toEqual([t.record.id, t.record.id, t.record.id]);
    });

    it("leases a task to one owner at a time, until it is released or expires", async () => {
      const s = await store();
      const t = storedTask();
      await s.create(t);
      const id = t.record.id;
      expect(await s.claim(id, "router-a", 60_000)).toBe(true);
      expect(await s.claim(id, "router-b", 60_000)).toBe(false);
      expect(await s.leaseHolder(id)).toBe("router-a");
      expect(await s.renew("router-a", [id], 60_000)).toEqual([]);
      expect(await s.renew("router-b", [id], 60_000)).toEqual([id]);
      await s.release(id, "router-b");
      expect(await s.leaseHolder(id)).toBe("router-a");
      await s.release(id, "router-a");
      expect(await s.leaseHolder(id)).toBeUndefined();
      expect(await s.claim(id, "router-b", 50)).toBe(true);
      // Expired, it may be taken; the old owner's renewal then says it is lost.
      await eventually(async () => s.claim(id, "router-c", 60_000));
      expect(await s.leaseHolder(id)).toBe("router-c");
      expect(await s.renew("router-b", [id], 60_000)).toEqual([id]);
    });

    if (factory.shared) {
      it("shares workers' registrations between the routers that use it", async () => {
        const a = await store();
        const b = await reopen(a);
        const info = create(WorkerInfoSchema, { workerId: "w-shared", capacity: 3, activeTaskIds: ["t1"] });
        await a.shareWorker({ url: "http://10.0.0.9:8443", info, seenMs: 1234 + Date.now() });
        const seen = await b.sharedWorkers();
        expect(seen.find((w) => w.url === "http://10.0.0.9:8443")).toMatchObject({ info: { workerId: "w-shared", capacity: 3, activeTaskIds: ["t1"] } });
      });

      it("carries a cancel to the router that holds the task's lease, and says when no one heard it", async () => {
        const a = await store();
        const b = await reopen(a);
        const t = storedTask();
        await a.create(t);
        const heard: string[] = [];
        a.onCancel((taskId, reason) => heard.push(`${taskId}: ${reason}`));
        expect(await b.signalCancel(t.record.id, "nobody owns it")).toBe(false);
        // The owner is whoever holds the lease; `a` is the router whose id the lease names.
        const owner = (a as unknown as { routerId: string }).routerId;
        expect(await a.claim(t.record.id, owner, 60_000)).toBe(true);
        expect(await b.signalCancel(t.record.id, "from b")).toBe(true);
        await eventually(async () => heard.length === 1);
        expect(heard).toEqual([`${t.record.id}: from b`]);
      });
    }

    it("lists by owner, and an owner's spend (quotas/Spend) adds up the cost of its tasks created since a time", async () => {
      const s = await store();
      const now = Date.now();
      const made: StoredTask[] = [];
      for (const [owner, cost, ageMs] of [["alice", 0.5, 0], ["bob", 2, 0], ["alice", 0.25, 1000], ["alice", 4, 3 * 86_400_000]] as const) {
        const t = storedTask({ createdMs: now - ageMs });
        t.record.owner = owner;
        t.record.costUsd = cost;
        await s.create(t);
        made.push(t);
      }
      expect(ids((await s.list({ limit: 100, owner: "alice" })).tasks)).toEqual([made[0]!, made[2]!, made[3]!].map((t) => t.record.id));
      const spend = new Spend((q) => s.list(q));
      expect(await spend.since("alice", now - 86_400_000)).toBe(0.75);
      expect(await spend.since("bob", now - 86_400_000)).toBe(2);
      expect(await spend.since("carol", 0)).toBe(0);
      if (factory.reopen) {
        // What an identity spent survives a router restart: it is read from the records the store keeps.
        const again = await reopen(s);
        expect(await new Spend((q) => again.list(q)).since("alice", 0)).toBe(4.75);
      }
    });

    if (factory.reopen) {
      it("keeps everything across a reopen: records, placements, events, request ids", async () => {
        const s = await store();
        const t = storedTask({ requestId: "kept-across" });
        await s.create(t);
        t.placement = { workerId: "w9", accepted: true, workerSeq: 12345678901234n };
        const events = [outputEvent(t, 3000), outputEvent(t, 1)];
        await s.append(t, events);
        const again = await reopen(s);
        const got = (await again.get(t.record.id))!;
        expect(got.record.lastSeq).toBe(2n);
        expect(got.placement).toEqual(t.placement);
        expect((await again.read(t.record.id, 0n, 10)).map(wire)).toEqual(events.map(wire));
        const dup = await again.create(storedTask({ requestId: "kept-across" }));
        expect(dup.created).toBe(false);
        expect((await again.unfinished()).map((u) => u.record.id)).toEqual([t.record.id]);
      });
    }
  });
}
