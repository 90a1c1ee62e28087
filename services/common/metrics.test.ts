import * as http from "node:http";
import * as http2 from "node:http2";
import { create } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterEach, describe, expect, it } from "vitest";
import { ResultSummarySchema, RunEventSchema, UsageSchema } from "../../gen/claudecluster/v1/run_pb.js";
import { Health } from "../../gen/grpc/health/v1/health_pb.js";
import { HealthState, healthRoutes, ServingStatus } from "./health.js";
import { silentLogger } from "./logger.js";
import { markReceived, ServerMetrics, takeReceived } from "./metrics.js";
import { createConnectHandler } from "./node-adapter.js";
import { createDualServer, type DualServer } from "./serve.js";

/** The value of one series in Prometheus text, e.g. `claudecluster_x{a="b"}`; undefined when absent. */
function value(text: string, series: string): number | undefined {
  for (const line of text.split("\n")) {
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  }
  return undefined;
}

function h1(port: number, path: string, method = "GET"): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, path, method }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, type: String(res.headers["content-type"]), body }));
    });
    req.on("error", reject);
    req.end();
  });
}

function h2(port: number, path: string): Promise<{ status: number; type: string; body: string }> {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  return new Promise<{ status: number; type: string; body: string }>((resolve, reject) => {
    const stream = session.request({ ":path": path });
    let status = 0;
    let type = "";
    let body = "";
    stream.setEncoding("utf8");
    stream.on("response", (headers) => {
      status = Number(headers[":status"]);
      type = String(headers["content-type"]);
    });
    stream.on("data", (c: string) => (body += c));
    stream.on("end", () => resolve({ status, type, body }));
    stream.on("error", reject);
  }).finally(() => session.close());
}

describe("ServerMetrics", () => {
  let server: DualServer | undefined;
  afterEach(async () => {
    await server?.close(0);
    server = undefined;
  });

  /** A server with health routes (Watch is a server stream), metrics on its port. */
  async function start(metrics: ServerMetrics, state: HealthState): Promise<number> {
    const handler = createConnectHandler({
      logger: silentLogger(),
      routes: healthRoutes(state),
      interceptors: [metrics.interceptor()],
      streamBytes: metrics.countStreamBytes,
    });
    server = createDualServer(metrics.handler(handler));
    return server.listen(0, "127.0.0.1");
  }

  it("answers GET /metrics over HTTP/1.1 and h2, and passes everything else on", async () => {
    const metrics = new ServerMetrics();
    let reads = 0;
    metrics.gauge("test_reads", "How often the gauge was read.", () => ++reads);
    const port = await start(metrics, new HealthState([]));

    const one = await h1(port, "/metrics");
    expect(one.status).toBe(200);
    expect(one.type).toBe("text/plain; version=0.0.4; charset=utf-8");
    expect(one.body).toContain("# HELP claudecluster_test_reads How often the gauge was read.\n# TYPE claudecluster_test_reads gauge\n");
    expect(value(one.body, "claudecluster_test_reads")).toBe(1);
    // Process metrics under their usual names.
    expect(value(one.body, "process_cpu_user_seconds_total")).toBeGreaterThan(0);
    expect(value(one.body, 'claudecluster_claude_tokens_total{type="input"}')).toBe(0);

    const two = await h2(port, "/metrics?x=1");
    expect(two.status).toBe(200);
    expect(value(two.body, "claudecluster_test_reads")).toBe(2);

    expect((await h1(port, "/metrics", "POST")).status).toBe(405);
    expect((await h1(port, "/metricsx")).status).toBe(404);
    expect((await h2(port, "/nothing")).status).toBe(404);
  });

  it("gives each server its own registry", () => {
    const a = new ServerMetrics();
    const b = new ServerMetrics();
    a.gauge("same_name", "One.", () => 1);
    b.gauge("same_name", "Two.", () => 2);
    expect(a.registry).not.toBe(b.registry);
  });

  it("labelled gauges show only the series read at this scrape", async () => {
    const metrics = new ServerMetrics();
    let workers: [string, string][] = [
      ["w1", "online"],
      ["w2", "offline"],
    ];
    metrics.labelledGauge("test_workers", "Workers.", ["worker_id", "status"], () => workers.map(([id, status]) => [{ worker_id: id, status }, 1]));
    let text = await metrics.scrape();
    expect(value(text, 'claudecluster_test_workers{worker_id="w1",status="online"}')).toBe(1);
    expect(value(text, 'claudecluster_test_workers{worker_id="w2",status="offline"}')).toBe(1);
    workers = [["w1", "full"]];
    text = await metrics.scrape();
    expect(value(text, 'claudecluster_test_workers{worker_id="w1",status="full"}')).toBe(1);
    expect(value(text, 'claudecluster_test_workers{worker_id="w1",status="online"}')).toBeUndefined();
    expect(value(text, 'claudecluster_test_workers{worker_id="w2",status="offline"}')).toBeUndefined();
  });

  it("runs onScrape hooks before reading, and adds claude's cost and tokens from result summaries", async () => {
    const metrics = new ServerMetrics();
    const results = [
      create(ResultSummarySchema, { totalCostUsd: 0.25, usage: create(UsageSchema, { inputTokens: 100n, outputTokens: 20n, cacheCreationInputTokens: 3n, cacheReadInputTokens: 4n }) }),
      create(ResultSummarySchema, { totalCostUsd: 0.5, usage: create(UsageSchema, { inputTokens: 1n, outputTokens: 2n }) }),
    ];
    metrics.onScrape(() => metrics.recordResult(results.shift()));
    let text = await metrics.scrape();
    expect(value(text, "claudecluster_claude_cost_usd_total")).toBe(0.25);
    expect(value(text, 'claudecluster_claude_tokens_total{type="input"}')).toBe(100);
    expect(value(text, 'claudecluster_claude_tokens_total{type="cache_read"}')).toBe(4);
    text = await metrics.scrape();
    expect(value(text, "claudecluster_claude_cost_usd_total")).toBe(0.75);
    expect(value(text, 'claudecluster_claude_tokens_total{type="input"}')).toBe(101);
    expect(value(text, 'claudecluster_claude_tokens_total{type="output"}')).toBe(22);
    expect(value(text, 'claudecluster_claude_tokens_total{type="cache_creation"}')).toBe(3);
    metrics.recordResult(undefined);
    expect(value(await metrics.scrape(), "claudecluster_claude_cost_usd_total")).toBe(0.75);
  });

  it("counts the messages and bytes of server streams by method", async () => {
    const metrics = new ServerMetrics();
    const state = new HealthState([]);
    const port = await start(metrics, state);
    const client = createClient(Health, createGrpcTransport({ baseUrl: `http://127.0.0.1:${port}` }));
    const seen: ServingStatus[] = [];
    for await (const res of client.watch({ service: "" })) {
      seen.push(res.status);
      if (seen.length === 1) state.setAll(ServingStatus.SERVING);
      else break;
    }
    expect(seen).toEqual([ServingStatus.NOT_SERVING, ServingStatus.SERVING]);
    await client.check({ service: "" });
    const text = (await h1(port, "/metrics")).body;
    const labels = '{service="grpc.health.v1.Health",method="Watch"}';
    expect(value(text, `claudecluster_stream_events_total${labels}`)).toBe(2);
    // Two gRPC messages of 5 bytes' framing and 2 bytes' body each (field 1, one varint byte).
    expect(value(text, `claudecluster_stream_bytes_total${labels}`)).toBe(14);
    // Unary calls are not streams.
    expect(text).not.toContain('method="Check"');
  });

  it("shows RunEvents to onEvent hooks; takeReceived measures once per event", async () => {
    const metrics = new ServerMetrics();
    const seen: string[] = [];
    metrics.onEvent((e) => seen.push(e.taskId));
    const event = create(RunEventSchema, { taskId: "t1" });
    const intercepted = metrics.interceptor()(async () => ({ stream: true, message: (async function* () { yield event; })() }) as never);
    const res = (await intercepted({ stream: true, service: Health, method: Health.method.watch } as never)) as unknown as { message: AsyncIterable<unknown> };
    for await (const _ of res.message);
    expect(seen).toEqual(["t1"]);

    expect(takeReceived(event)).toBeUndefined();
    // The clock is the caller's (performance.now() by default): here an injected one.
    markReceived(event, 1_000);
    expect(takeReceived(event, 1_250)).toBe(0.25);
    expect(takeReceived(event, 2_000)).toBeUndefined();
  });
});
