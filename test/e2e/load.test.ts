// Load: 200 tasks over 4 worker processes, each running the real claude against the scripted model, through a
// router process. Every stream must be complete (seq 1..n, no gap, no duplicate, an `exited` at the end), and
// afterwards nothing may be left: no claude process, no file descriptor the run opened, and a heap (after a full
// collection, read through each process's inspector) near where it began.
import { mkdtempSync, readdirSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RouterService, TaskStatus } from "../../gen/claudecluster/v1/router_pb.js";
import type { RunEvent } from "../../gen/claudecluster/v1/run_pb.js";
import type { ScriptedModel } from "../../services/scripted-model/index.js";
import { modelEnv, startModel } from "../helpers/model.js";
import { waitForNoProcessesUnder } from "../helpers/processes.js";
import { heapUsedAfterGc, inspectorUrl } from "../helpers/inspector.js";
import { spawnRouterProcess, type RouterProcess } from "../helpers/router-process.js";
import { until } from "../helpers/wait.js";
import { collect, ofCase } from "../helpers/worker.js";
import { spawnWorkerProcess, type WorkerProcess } from "../helpers/worker-process.js";

const TASKS = 200;
const WORKERS = 4;
const SESSIONS_PER_WORKER = 4;

function openFds(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

const INSPECT = { NODE_OPTIONS: "--inspect=127.0.0.1:0" };
const MiB = 1024 * 1024;

describe(`load: ${TASKS} tasks over ${WORKERS} workers`, () => {
  let model: ScriptedModel;
  let root: string;
  let router: RouterProcess;
  let client: Client<typeof RouterService>;
  const workers: WorkerProcess[] = [];

  const processes = () => [router, ...workers];
  const fds = () => processes().map((p) => openFds(p.child.pid!));
  const heaps = () => Promise.all(processes().map((p) => heapUsedAfterGc(inspectorUrl(p.logs)!)));

  beforeAll(async () => {
    root = realpathSync(mkdtempSync(join(tmpdir(), "cc-test-load-")));
    model = await startModel({ conversations: [{ turns: [{ content: [{ type: "text", text: "answer to {{prompt}}" }] }] }] });
    // The queue holds every task that does not fit at once.
    router = await spawnRouterProcess({ ...INSPECT, CC_QUEUE_LIMIT: String(TASKS), CC_HEARTBEAT_INTERVAL: "1s" });
    client = createClient(RouterService, createGrpcTransport({ baseUrl: router.url }));
    for (let i = 1; i <= WORKERS; i++) {
      workers.push(
        await spawnWorkerProcess(`load-${i}`, {
          ...modelEnv(model),
          ...INSPECT,
          CC_ROUTER_URL: router.url,
          CC_MAX_SESSIONS: String(SESSIONS_PER_WORKER),
          CC_CLAUDE_HOME: join(root, "home"),
          CC_WORKSPACE_ROOT: join(root, `ws-${i}`),
        }),
      );
    }
    await until(async () => (await client.listWorkers({})).workers.length === WORKERS);
  });

  afterAll(async () => {
    for (const w of workers) w.child.kill("SIGTERM");
    router?.child.kill("SIGTERM");
    await Promise.all([...workers.map((w) => w.exited), router?.exited]);
    await model?.close();
    rmSync(root, { recursive: true, force: true });
  });

  it("completes every stream, then leaves no process, no descriptor and no memory behind", async () => {
    // Warm up (first claude start-ups, connections between router and workers), then take the baseline.
    await Promise.all(Array.from({ length: WORKERS * 2 }, (_, i) => collect(client.run({ prompt: `warm ${i}` }))));
    const fdsBefore = fds();
    const heapBefore = await heaps();

    const results = await Promise.all(Array.from({ length: TASKS }, (_, i) => collect(client.run({ prompt: `load ${i}` }))));
    const perWorker = new Map<string, number>();
    results.forEach((events: RunEvent[], i) => {
      expect(events.map((e) => Number(e.seq)), `task ${i}`).toEqual(events.map((_, j) => j + 1));
      expect(new Set(events.map((e) => e.taskId)).size).toBe(1);
      const exited = ofCase(events, "exited");
      expect(exited, `task ${i}`).toHaveLength(1);
      expect(events.at(-1)?.event.case).toBe("exited");
      expect(exited[0]!.result?.result).toBe(`answer to load ${i}`);
      const worker = ofCase(events, "started")[0]!.workerId;
      perWorker.set(worker, (perWorker.get(worker) ?? 0) + 1);
    });
    expect([...perWorker.keys()].sort()).toEqual(workers.map((w) => w.id).sort());
    const records = await client.listTasks({ limit: 1000 });
    const load = records.tasks.filter((t) => t.promptSummary.startsWith("load "));
    expect(load).toHaveLength(TASKS);
    expect(load.every((t) => t.status === TaskStatus.SUCCEEDED)).toBe(true);
    // Exactly one model conversation per task: nothing ran twice.
    const bodies = model.mainRequests().map((r) => JSON.stringify(r.body));
    for (let i = 0; i < TASKS; i++) expect(bodies.filter((b) => b.includes(`"load ${i}"`)).length, `load ${i}`).toBe(1);

    expect(await waitForNoProcessesUnder(root, 15_000)).toEqual([]);
    // Descriptors back to the baseline, give or take a pooled connection or two.
    await until(() => fds().every((n, i) => n <= fdsBefore[i]! + 4), 15_000);
    // Heap after a full collection: the router keeps the task records and their logs (CC_RETAIN_TASKS,
    // CC_TASK_LOG_BYTES), a few KiB each here; the workers keep nothing. A per-stream leak would show as far more.
    const heapAfter = await heaps();
    const table = heapAfter.map((h, i) => `${i === 0 ? "router" : `worker ${i}`}: heap ${(heapBefore[i]! / MiB).toFixed(1)} -> ${(h / MiB).toFixed(1)} MiB`);
    heapAfter.forEach((h, i) => expect(h - heapBefore[i]!, table.join("\n")).toBeLessThan((i === 0 ? 30 : 10) * MiB));
  }, 600_000);
});
