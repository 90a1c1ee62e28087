// Load: 200 tasks over 4 worker processes, each running the real claude against the scripted model, through a
// router process. Every stream must be complete (seq 1..n, no gap, no duplicate, an `exited` at the end), and
// afterwards nothing may be left: no claude process, no file descriptor the run opened, memory near where it began.
import { mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync } from "node:fs";
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

function rssMiB(pid: number): number {
  const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0);
  return kb / 1024;
}

describe(`load: ${TASKS} tasks over ${WORKERS} workers`, () => {
  let model: ScriptedModel;
  let root: string;
  let router: RouterProcess;
  let client: Client<typeof RouterService>;
  const workers: WorkerProcess[] = [];

  const pids = () => [router.child.pid!, ...workers.map((w) => w.child.pid!)];
  const snapshot = () => pids().map((pid) => ({ pid, fds: openFds(pid), rss: rssMiB(pid) }));

  beforeAll(async () => {
    root = realpathSync(mkdtempSync(join(tmpdir(), "cc-test-load-")));
    model = await startModel({ conversations: [{ turns: [{ content: [{ type: "text", text: "answer to {{prompt}}" }] }] }] });
    // The queue holds every task that does not fit at once.
    router = await spawnRouterProcess({ CC_QUEUE_LIMIT: String(TASKS), CC_HEARTBEAT_INTERVAL: "1s" });
    client = createClient(RouterService, createGrpcTransport({ baseUrl: router.url }));
    for (let i = 1; i <= WORKERS; i++) {
      workers.push(
        await spawnWorkerProcess(`load-${i}`, {
          ...modelEnv(model),
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
    const before = snapshot();

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
    // Descriptors back to the baseline, give or take a pooled connection or two. Memory: the router keeps the task
    // records and logs (bounded by CC_RETAIN_TASKS and CC_TASK_LOG_BYTES), and V8 returns pages to the system only
    // after a collection, so RSS is given time to settle; a per-stream leak would show as far more than this.
    const settled = (s: ReturnType<typeof snapshot>) => s.every((p, i) => p.fds <= before[i]!.fds + 4 && p.rss < before[i]!.rss + 60);
    let after = snapshot();
    const deadline = Date.now() + 30_000;
    while (!settled(after) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 500));
      after = snapshot();
    }
    const table = after.map((p, i) => `pid ${p.pid}: fds ${before[i]!.fds} -> ${p.fds}, RSS ${before[i]!.rss.toFixed(0)} -> ${p.rss.toFixed(0)} MiB`);
    expect(settled(after), table.join("\n")).toBe(true);
  }, 600_000);
});
