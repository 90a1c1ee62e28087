// Figure 4: what the router adds to each event's latency at 100 events/s. A fake claude (fixtures/ticker.mjs) prints
// stream-json lines stamped with their write time; the harness notes each one's arrival, reading the worker directly
// and then through the router, and compares the two distributions. Both clocks are CLOCK_MONOTONIC.
import { RunMode, type RunEvent } from "../../gen/claudecluster/v1/run_pb.js";
import type { Figure } from "../lib/context.js";
import { fakeClaude, routerClient, startRouter, startWorker, workerClient } from "../lib/cluster.js";
import { row } from "../lib/results.js";
import { followRouterRun, followWorkerRun } from "../lib/streams.js";
import { median, quantile } from "../lib/stats.js";

const P50_TARGET = { op: "<=", value: 0.2, unit: "ms" } as const;
const P99_TARGET = { op: "<=", value: 1, unit: "ms" } as const;
const TITLE = "router-added latency per event at 100 events/s";

const STAMP = /"bench_t":"(\d+)"/;

/** Milliseconds from each stamped line's write to its arrival here. */
function collector(): { onEvent: (ev: RunEvent) => void; latencies: number[] } {
  const latencies: number[] = [];
  return {
    latencies,
    onEvent(ev) {
      const arrived = process.hrtime.bigint();
      if (ev.event.case !== "message") return;
      const m = STAMP.exec(ev.event.value.json);
      if (m) latencies.push(Number(arrived - BigInt(m[1]!)) / 1e6);
    },
  };
}

export const latency: Figure = {
  id: "latency",
  number: 4,
  rows: [
    { key: "latency-p50", title: `${TITLE}, p50`, target: P50_TARGET },
    { key: "latency-p99", title: `${TITLE}, p99`, target: P99_TARGET },
  ],
  async run(ctx) {
    const runs = ctx.runs(5, 1);
    const rate = ctx.param("LATENCY_RATE", 100);
    const count = Math.round(ctx.param("LATENCY_EVENTS", 500, 100));
    const worker = await startWorker(ctx, "w1", { CC_CLAUDE_BIN: fakeClaude(ctx, "ticker.mjs") });
    const router = await startRouter(ctx, [worker]);
    const direct = workerClient(ctx, worker.url);
    const routed = routerClient(ctx, router.url);
    const request = { prompt: `rate=${rate} count=${count}`, mode: RunMode.HEADLESS };

    const measure = async (via: "direct" | "router") => {
      const c = collector();
      if (via === "direct") await followWorkerRun(direct, request, c.onEvent);
      else await followRouterRun(routed, request, c.onEvent);
      if (c.latencies.length !== count) throw new Error(`${via}: ${c.latencies.length} of ${count} stamped events arrived`);
      return { p50: quantile(c.latencies, 0.5), p99: quantile(c.latencies, 0.99) };
    };

    // One short untimed run each way warms the JIT and the connections.
    await followWorkerRun(direct, { ...request, prompt: `rate=${rate} count=20` }, () => {});
    await followRouterRun(routed, { ...request, prompt: `rate=${rate} count=20` }, () => {});
    const d50: number[] = [];
    const d99: number[] = [];
    const r50: number[] = [];
    const r99: number[] = [];
    for (let i = 0; i < runs; i++) {
      const d = await measure("direct");
      const r = await measure("router");
      d50.push(d.p50);
      d99.push(d.p99);
      r50.push(r.p50);
      r99.push(r.p99);
      ctx.log(`run ${i + 1}/${runs}: p50 direct ${d.p50.toFixed(3)} ms, router ${r.p50.toFixed(3)} ms; p99 direct ${d.p99.toFixed(3)} ms, router ${r.p99.toFixed(3)} ms`);
    }
    const added50 = median(r50) - median(d50);
    const added99 = median(r99) - median(d99);
    const how = `${count} events at ${rate}/s per stream; each run takes p50 and p99 of (arrival at the client − write by the fake claude) reading the worker directly, then through the router; result = median over runs via the router − median direct. Client, router and worker are separate processes on loopback.`;
    return [
      row({
        figure: 4,
        key: "latency-p50",
        title: `${TITLE}, p50`,
        measured: { value: median(r50), unit: "ms", label: "via router" },
        baseline: { value: median(d50), unit: "ms", label: "direct" },
        result: added50,
        target: P50_TARGET,
        runs,
        notes: [how],
        samples: { directP50Ms: d50, routerP50Ms: r50 },
      }),
      row({
        figure: 4,
        key: "latency-p99",
        title: `${TITLE}, p99`,
        measured: { value: median(r99), unit: "ms", label: "via router" },
        baseline: { value: median(d99), unit: "ms", label: "direct" },
        result: added99,
        target: P99_TARGET,
        runs,
        notes: [],
        samples: { directP99Ms: d99, routerP99Ms: r99 },
      }),
    ];
  },
};
