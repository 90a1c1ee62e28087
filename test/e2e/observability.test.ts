// Metrics and logs as an operator sees them: a router and a worker as their own processes (tokens on, logs as they
// print them), the real claude against the scripted model. /metrics moves by what one task did; every RPC has one
// log line, and the router's request id for a task is the one its worker logs; no line holds a token or the prompt.
import { mkdtempSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RouterService, WorkerHealth } from "../../gen/claudecluster/v1/router_pb.js";
import { ExitReason, type RunEvent } from "../../gen/claudecluster/v1/run_pb.js";
import { silentLogger } from "../../services/common/logger.js";
import { createRouter } from "../../services/router/server.js";
import { readRouterSettings } from "../../services/router/settings.js";
import type { ScriptedModel } from "../../services/scripted-model/index.js";
import { modelEnv, startModel } from "../helpers/model.js";
import { waitForNoProcessesUnder } from "../helpers/processes.js";
import { spawnRouterProcess, type RouterProcess } from "../helpers/router-process.js";
import { until } from "../helpers/wait.js";
import { ofCase } from "../helpers/worker.js";
import { spawnWorkerProcess, type WorkerProcess } from "../helpers/worker-process.js";

const CLIENT_TOKEN = "client-token-7f3a9c1e5b";
const WORKER_TOKEN = "worker-token-2d8e4b6a0c";
const PROMPT = "observability-prompt-zq81-please-answer";
/** What the scripted model reports for the one turn; claude's result summary adds these up. */
const USAGE = { input_tokens: 1234, output_tokens: 56 };

type Line = Record<string, unknown>;

/** The value of one series in Prometheus text; 0 when absent (a counter not yet incremented). */
function value(text: string, series: string): number {
  for (const line of text.split("\n")) if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  return 0;
}

async function scrape(url: string): Promise<string> {
  const res = await fetch(`${url}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toContain("text/plain");
  return res.text();
}

const parsed = (logs: string[]): Line[] => logs.flatMap((l) => (l.startsWith("{") ? [JSON.parse(l) as Line] : []));
const rpcLines = (logs: string[], method: string): Line[] => parsed(logs).filter((l) => l["msg"] === "rpc" && l["method"] === method);

describe("observability", () => {
  let model: ScriptedModel;
  let root: string;
  let router: RouterProcess;
  let worker: WorkerProcess;
  let client: Client<typeof RouterService>;
  const auth = { authorization: `Bearer ${CLIENT_TOKEN}` };

  beforeAll(async () => {
    root = realpathSync(mkdtempSync(join(tmpdir(), "cc-test-observability-")));
    model = await startModel({ conversations: [{ turns: [{ content: [{ type: "text", text: "observed." }], usage: USAGE }] }] });
    router = await spawnRouterProcess({ CC_TOKEN: CLIENT_TOKEN, CC_WORKER_TOKEN: WORKER_TOKEN, CC_HEARTBEAT_INTERVAL: "500ms" });
    worker = await spawnWorkerProcess("obs-worker", {
      ...modelEnv(model),
      CC_ROUTER_URL: router.url,
      CC_WORKER_TOKEN: WORKER_TOKEN,
      CC_CLAUDE_HOME: join(root, "home"),
      CC_WORKSPACE_ROOT: join(root, "workspaces"),
      CC_KILL_GRACE: "2s",
    });
    client = createClient(RouterService, createGrpcTransport({ baseUrl: router.url }));
    await until(async () => (await client.listWorkers({}, { headers: auth })).workers.some((w) => w.id === "obs-worker" && w.health === WorkerHealth.ONLINE));
  });
  afterAll(async () => {
    worker?.child.kill("SIGTERM");
    router?.child.kill("SIGTERM");
    await Promise.all([worker?.exited, router?.exited]);
    await model?.close();
    const left = await waitForNoProcessesUnder(root);
    rmSync(root, { recursive: true, force: true });
    expect(left).toEqual([]);
  });

  it("metrics move by one task; its log lines share a request id; no secret or prompt in any line", async () => {
    // /metrics needs no token, like health: it sits outside the RPC interceptors.
    const [routerBefore, workerBefore] = await Promise.all([scrape(router.url), scrape(worker.url)]);

    const events: RunEvent[] = [];
    for await (const ev of client.run({ prompt: PROMPT }, { headers: auth })) events.push(ev);
    const exited = ofCase(events, "exited")[0]!;
    expect(exited.reason).toBe(ExitReason.COMPLETED);
    const taskId = events[0]!.taskId;
    const result = exited.result!;
    expect(result.usage).toMatchObject({ inputTokens: BigInt(USAGE.input_tokens), outputTokens: BigInt(USAGE.output_tokens) });
    expect(result.totalCostUsd).toBeGreaterThan(0);
    await client.getTask({ taskId }, { headers: { ...auth, "x-request-id": "obs-get-1" } });

    const [routerAfter, workerAfter] = await Promise.all([scrape(router.url), scrape(worker.url)]);
    const delta = (before: string, after: string, series: string) => value(after, series) - value(before, series);
    const r = (series: string) => delta(routerBefore, routerAfter, series);
    const w = (series: string) => delta(workerBefore, workerAfter, series);

    // Router: the task, its stream, claude's cost and tokens, the latency it added, its worker.
    expect(r('claudecluster_router_tasks{status="succeeded"}')).toBe(1);
    expect(r('claudecluster_router_tasks_ended_total{status="succeeded"}')).toBe(1);
    expect(value(routerAfter, "claudecluster_router_queue_depth")).toBe(0);
    expect(value(routerAfter, "claudecluster_router_tasks_running")).toBe(0);
    expect(value(routerAfter, 'claudecluster_router_workers{worker_id="obs-worker",status="online"}')).toBe(1);
    expect(value(routerAfter, "claudecluster_serving")).toBe(1);
    const routerRun = '{service="claudecluster.v1.RouterService",method="Run"}';
    expect(r(`claudecluster_stream_events_total${routerRun}`)).toBe(events.length);
    expect(r(`claudecluster_stream_bytes_total${routerRun}`)).toBeGreaterThan(events.length * 5);
    expect(r("claudecluster_claude_cost_usd_total")).toBeCloseTo(result.totalCostUsd, 9);
    expect(r('claudecluster_claude_tokens_total{type="input"}')).toBe(USAGE.input_tokens);
    expect(r('claudecluster_claude_tokens_total{type="output"}')).toBe(USAGE.output_tokens);
    // Every worker event reached the caller live (it was attached throughout), so each was measured once.
    expect(r("claudecluster_router_event_latency_seconds_count")).toBeGreaterThan(0);
    expect(r("claudecluster_router_event_latency_seconds_count")).toBeLessThanOrEqual(events.length);

    // Worker: the session, its stream, the same cost and tokens.
    expect(w('claudecluster_worker_sessions_ended_total{reason="completed"}')).toBe(1);
    expect(value(workerAfter, "claudecluster_worker_sessions_active")).toBe(0);
    expect(value(workerAfter, "claudecluster_worker_sessions_capacity")).toBe(4);
    expect(value(workerAfter, "claudecluster_serving")).toBe(1);
    const workerRun = '{service="claudecluster.v1.WorkerService",method="Run"}';
    expect(w(`claudecluster_stream_events_total${workerRun}`)).toBeGreaterThan(0);
    expect(w(`claudecluster_stream_events_total${workerRun}`)).toBeLessThanOrEqual(events.length);
    expect(w(`claudecluster_stream_bytes_total${workerRun}`)).toBeGreaterThan(0);
    expect(w("claudecluster_claude_cost_usd_total")).toBeCloseTo(result.totalCostUsd, 9);
    expect(w('claudecluster_claude_tokens_total{type="input"}')).toBe(USAGE.input_tokens);
    expect(w('claudecluster_claude_tokens_total{type="output"}')).toBe(USAGE.output_tokens);
    expect(value(workerAfter, "process_resident_memory_bytes")).toBeGreaterThan(0);

    // One line per RPC, written when the stream ended, with the task, the worker and one request id on both sides.
    await until(() => rpcLines(router.logs, "claudecluster.v1.RouterService/GetTask").length > 0 && rpcLines(worker.logs, "claudecluster.v1.WorkerService/Run").length > 0);
    const [routerRunLine, ...moreRuns] = rpcLines(router.logs, "claudecluster.v1.RouterService/Run");
    expect(moreRuns).toEqual([]);
    expect(routerRunLine).toMatchObject({ level: 30, component: "router", code: "ok", taskId, workerId: "obs-worker", messages: events.length });
    const requestId = routerRunLine!["requestId"];
    expect(requestId).toMatch(/^[0-9a-f-]{36}$/);
    const [workerRunLine] = rpcLines(worker.logs, "claudecluster.v1.WorkerService/Run");
    expect(workerRunLine).toMatchObject({ level: 30, component: "worker", code: "ok", taskId, workerId: "obs-worker", requestId });
    expect(rpcLines(router.logs, "claudecluster.v1.RouterService/GetTask")).toEqual([
      expect.objectContaining({ component: "router", code: "ok", taskId, workerId: "obs-worker", requestId: "obs-get-1" }),
    ]);
    // Every line says which program wrote it.
    expect(parsed(router.logs).every((l) => l["component"] === "router")).toBe(true);
    expect(parsed(worker.logs).every((l) => l["component"] === "worker")).toBe(true);

    // Secrets and prompts: not in any line (everything here is info level and above), nor in the metrics.
    for (const text of [...router.logs, ...worker.logs, routerAfter, workerAfter]) {
      for (const secret of [CLIENT_TOKEN, WORKER_TOKEN, PROMPT]) expect(text).not.toContain(secret);
    }
  });

  it("CC_METRICS=off: no /metrics, the port answers RPCs only", async () => {
    const off = createRouter(readRouterSettings({ CC_STORE: "memory", PORT: "0", CC_HOST: "127.0.0.1", CC_METRICS: "off" }), { logger: silentLogger() });
    const url = `http://127.0.0.1:${await off.listen()}`;
    try {
      expect((await fetch(`${url}/metrics`)).status).toBe(404);
    } finally {
      await off.shutdown(0);
    }
  });
});
