// The dispatcher's queue, in memory: the endings it decides for tasks that never reached a worker, each the last
// event of the task's log. The worker is registered but never called (its slots are taken), so no network is used.
import { create } from "@bufbuild/protobuf";
import { afterEach, describe, expect, it, vi } from "vitest";
import { TaskStatus } from "../../gen/claudecluster/v1/router_pb.js";
import { ExitReason, RunRequestSchema, type RunEvent } from "../../gen/claudecluster/v1/run_pb.js";
import { WorkerInfoSchema, WorkerState } from "../../gen/claudecluster/v1/worker_pb.js";
import { silentLogger } from "../common/logger.js";
import { Dispatcher } from "./dispatcher.js";
import { Registry } from "./registry.js";
import { readRouterSettings } from "./settings.js";
import { MemoryTaskStore } from "./store/memory.js";
import { type TaskEntry, Tasks } from "./tasks.js";

function setup(env: Record<string, string> = {}) {
  const settings = readRouterSettings({ CC_STORE: "memory", CC_QUEUE_TIMEOUT: "1m", CC_LOG_LEVEL: "silent", ...env });
  const registry = new Registry({ staticWorkers: [], workerToken: undefined, heartbeatMs: 1000, offlineAfterMs: 3_600_000, removeAfterMs: 3_600_000, logger: silentLogger(), onCapacity: () => {} });
  // One worker, labelled, whose only slot is taken by a task this router did not place.
  const worker = registry.register("http://127.0.0.1:9", create(WorkerInfoSchema, { workerId: "w1", capacity: 1, state: WorkerState.SERVING, labels: { pool: "a" }, activeTaskIds: ["older"] }));
  const tasks = new Tasks(new MemoryTaskStore(), {
    retention: { tasks: 100, ageMs: 3_600_000, logBytes: 1 << 30 },
    log: { maxBytes: 1 << 20, maxLagBytes: 1 << 20, stallMs: 30_000 },
  });
  const dispatcher = new Dispatcher(settings, registry, tasks, silentLogger());
  const submit = async (req: ReturnType<typeof request>) => tasks.get(await dispatcher.submit(req));
  return { registry, worker, tasks, dispatcher, submit };
}

async function log(entry: TaskEntry): Promise<RunEvent[]> {
  const out: RunEvent[] = [];
  for await (const e of entry.log.follow(0n)) out.push(e);
  return out;
}

const request = (labels: Record<string, string> = { pool: "a" }) => create(RunRequestSchema, { prompt: "hi", labels });

describe("the dispatcher's queue", () => {
  afterEach(() => vi.useRealTimers());

  it("a task queued behind a full worker, cancelled: exited CANCELLED is its last event, and CancelTask's record has it", async () => {
    const { dispatcher, submit } = setup();
    const entry = await submit(request());
    expect(dispatcher.queued).toBe(1);
    await dispatcher.cancel(entry, "no longer needed");
    expect(dispatcher.queued).toBe(0);
    const events = await log(entry);
    expect(events.map((e) => e.event.case)).toEqual(["status", "exited"]);
    expect(events.map((e) => Number(e.seq))).toEqual([1, 2]);
    expect(events[1]!.event.value).toMatchObject({ reason: ExitReason.CANCELLED, message: "cancelled: no longer needed", exitCode: -1 });
    expect(entry.snapshot()).toMatchObject({ status: TaskStatus.CANCELLED, exit: { reason: ExitReason.CANCELLED } });
  });

  it("a task whose only matching worker went offline ends after CC_QUEUE_TIMEOUT, saying no online worker has its labels", async () => {
    // Timers and the clock only: the task log writes to its store on setImmediate.
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval", "Date"] });
    const { registry, worker, submit } = setup();
    const entry = await submit(request());
    registry.markFailed(worker, "no heartbeat for 20s");
    vi.advanceTimersByTime(59_000);
    expect(entry.ended).toBe(false);
    vi.advanceTimersByTime(2_000);
    expect(entry.ended).toBe(true);
    const exited = (await log(entry)).at(-1)!;
    expect(exited.event.value).toMatchObject({
      reason: ExitReason.FAILED,
      message: "the task waited 1m in the queue (CC_QUEUE_TIMEOUT) and no online worker has the labels pool=a; check `cc workers`",
    });
    expect(entry.snapshot().status).toBe(TaskStatus.FAILED);
  });

  it("records the caller as the task's owner; a task its owner's running quota holds back says so, and why it ended", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval", "Date"] });
    const { dispatcher, registry, worker, tasks } = setup();
    const admitted: string[] = [];
    dispatcher.quotas = {
      admit: async (_req, caller) => void admitted.push(caller.name),
      heldBack: (owner) => owner === "alice",
      heldBackDetail: (owner) => `waiting for one of ${owner}'s own tasks to end: quota "running" is 1 task at once`,
    };
    // A free slot: bob's task would be placed at once; alice's waits for her own.
    registry.observe(worker.url, create(WorkerInfoSchema, { workerId: "w1", capacity: 2, state: WorkerState.SERVING, labels: { pool: "a" }, activeTaskIds: ["older"] }), Date.now());
    const entry = tasks.get(await dispatcher.submit(request(), "", { name: "alice", role: "user", quotas: {} }));
    expect(admitted).toEqual(["alice"]);
    expect(entry.record.owner).toBe("alice");
    expect(dispatcher.queued).toBe(1);
    expect(dispatcher.countsOf("alice")).toEqual({ running: 0, queued: 1 });
    vi.advanceTimersByTime(61_000);
    expect(entry.ended).toBe(true);
    const events = await log(entry);
    expect(events[0]!.event.value).toMatchObject({ detail: 'waiting for one of alice\'s own tasks to end: quota "running" is 1 task at once' });
    expect(events.at(-1)!.event.value).toMatchObject({
      reason: ExitReason.FAILED,
      message: 'the task waited 1m in the queue (CC_QUEUE_TIMEOUT) because alice\'s own tasks filled its quota "running" all that time; run it again once one of them ends',
    });
  });

  it("a router shutting down ends its queued tasks at once, with exited SHUTDOWN", async () => {
    const { dispatcher, submit } = setup();
    const entries = [await submit(request()), await submit(request())];
    await dispatcher.drain(60_000);
    for (const entry of entries) {
      expect((await log(entry)).at(-1)!.event.value).toMatchObject({ reason: ExitReason.SHUTDOWN, message: "the router shut down before the task was placed on a worker; run it again" });
    }
  });
});
