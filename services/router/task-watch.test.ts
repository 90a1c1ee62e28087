import { create } from "@bufbuild/protobuf";
import { ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { TaskStatus, WatchTasksRequestSchema, type TaskChange } from "../../gen/claudecluster/v1/router_pb.js";
import { ExitedSchema, ExitReason, Phase, RunRequestSchema } from "../../gen/claudecluster/v1/run_pb.js";
import { taskActivity } from "./task-activity.js";
import { TaskWatchers } from "./task-watch.js";
import { MemoryTaskStore } from "./store/memory.js";
import { TaskEntry, Tasks } from "./tasks.js";

const LOG = { maxBytes: 1 << 20, maxLagBytes: 1 << 20, stallMs: 30_000 };

function cluster(options: { maxWatchers?: number; retainTasks?: number } = {}) {
  const store = new MemoryTaskStore();
  const tasks = new Tasks(store, { retention: { tasks: options.retainTasks ?? 100, ageMs: 3_600_000, logBytes: 1 << 20 }, log: LOG });
  tasks.watch(taskActivity());
  const watchers = new TaskWatchers(tasks, { intervalMs: 0, maxWatchers: options.maxWatchers ?? 10 });
  const add = async (id: string, labels: Record<string, string> = {}) => {
    const entry = new TaskEntry(id, create(RunRequestSchema, { prompt: id, labels }), LOG, { store });
    await tasks.add(entry);
    return entry;
  };
  return { tasks, watchers, add };
}

const end = (entry: TaskEntry) => entry.end({ exitCode: 0, reason: ExitReason.COMPLETED });

/** A readable summary of a change: `t2 QUEUED`, `synced 2`, `- t1`. */
function describeChange(c: TaskChange): string {
  if (c.change.case === "task") return `${c.change.value.id} ${TaskStatus[c.change.value.status]}${c.change.value.phase ? ` ${Phase[c.change.value.phase]}` : ""}`;
  if (c.change.case === "synced") return `synced ${c.change.value.count}`;
  return `- ${c.change.value}`;
}

/** Reads `n` changes from a watch. */
async function take(it: AsyncIterator<TaskChange>, n: number): Promise<string[]> {
  const out: string[] = [];
  while (out.length < n) {
    const r = await it.next();
    if (r.done) break;
    out.push(describeChange(r.value));
  }
  return out;
}

describe("WatchTasks", () => {
  it("sends the snapshot newest first, `synced`, then each change", async () => {
    const { watchers, add } = cluster();
    await add("t1");
    await add("t2");
    const abort = new AbortController();
    const watch = watchers.watch(create(WatchTasksRequestSchema), abort.signal)[Symbol.asyncIterator]();
    expect(await take(watch, 3)).toEqual(["t2 QUEUED", "t1 QUEUED", "synced 2"]);
    const t3 = await add("t3");
    expect(await take(watch, 1)).toEqual(["t3 QUEUED"]);
    t3.emit({ case: "status", value: { phase: Phase.QUEUED, queuePosition: 1 } });
    expect(await take(watch, 1)).toEqual(["t3 QUEUED QUEUED"]);
    end(t3);
    expect(await take(watch, 1)).toEqual(["t3 SUCCEEDED"]);
    abort.abort();
    expect((await watch.next()).done).toBe(true);
    expect(watchers.count).toBe(0);
  });

  it("coalesces: a task that changed many times while the reader was away is sent once, as it is now", async () => {
    const { watchers, add } = cluster();
    const t1 = await add("t1");
    const abort = new AbortController();
    const watch = watchers.watch(create(WatchTasksRequestSchema), abort.signal)[Symbol.asyncIterator]();
    expect(await take(watch, 2)).toEqual(["t1 QUEUED", "synced 1"]);
    for (let i = 1; i <= 100; i++) t1.emit({ case: "status", value: { phase: Phase.QUEUED, queuePosition: i } });
    const next = await watch.next();
    expect(next.value?.change.case === "task" && next.value.change.value.queuePosition).toBe(100);
    end(t1);
    expect(await take(watch, 1)).toEqual(["t1 SUCCEEDED"]);
    abort.abort();
    await watch.next();
  });

  it("filters by status, label and worker; a task leaving the filter is sent as removed", async () => {
    const { watchers, add } = cluster();
    await add("t1", { region: "eu" });
    await add("t2", { region: "us" });
    const abort = new AbortController();
    const req = create(WatchTasksRequestSchema, { statuses: [TaskStatus.QUEUED, TaskStatus.RUNNING], labels: { region: "eu" } });
    const watch = watchers.watch(req, abort.signal)[Symbol.asyncIterator]();
    expect(await take(watch, 2)).toEqual(["t1 QUEUED", "synced 1"]);
    const t3 = await add("t3", { region: "eu" });
    await add("t4", { region: "us" });
    expect(await take(watch, 1)).toEqual(["t3 QUEUED"]);
    end(t3);
    expect(await take(watch, 1)).toEqual(["- t3"]);
    abort.abort();
    await watch.next();

    const byWorker = watchers.watch(create(WatchTasksRequestSchema, { workerId: "w9" }), new AbortController().signal)[Symbol.asyncIterator]();
    expect(await take(byWorker, 1)).toEqual(["synced 0"]);
    await byWorker.return?.(undefined);
  });

  it("says removed when the store forgets a task it sent", async () => {
    const { watchers, add } = cluster({ retainTasks: 1 });
    const t1 = await add("t1");
    const t2 = await add("t2");
    const abort = new AbortController();
    const watch = watchers.watch(create(WatchTasksRequestSchema), abort.signal)[Symbol.asyncIterator]();
    expect(await take(watch, 3)).toEqual(["t2 QUEUED", "t1 QUEUED", "synced 2"]);
    end(t1);
    end(t2);
    // Both changed, then t1 was forgotten (one ended task is kept): t1 ends up removed, t2 as it ended.
    const seen: string[] = [];
    while (!seen.includes("- t1") || !seen.includes("t2 SUCCEEDED")) seen.push(...(await take(watch, 1)));
    expect(seen.filter((c) => c.startsWith("t1") || c === "- t1").at(-1)).toBe("- t1");
    abort.abort();
    await watch.next();
  });

  it("refuses watchers past CC_MAX_WATCHERS and a limit over 1000, in words", async () => {
    const { watchers } = cluster({ maxWatchers: 1 });
    const abort = new AbortController();
    const first = watchers.watch(create(WatchTasksRequestSchema), abort.signal)[Symbol.asyncIterator]();
    await first.next();
    const err = await watchers.watch(create(WatchTasksRequestSchema), abort.signal).next().catch((e: unknown) => ConnectError.from(e));
    expect(err).toMatchObject({ rawMessage: expect.stringContaining("CC_MAX_WATCHERS") });
    const limit = await watchers.watch(create(WatchTasksRequestSchema, { limit: 1001 }), abort.signal).next().catch((e: unknown) => ConnectError.from(e));
    expect(limit).toMatchObject({ rawMessage: "limit: must be at most 1000" });
    abort.abort();
    await first.next();
    expect(watchers.count).toBe(0);
  });
});
