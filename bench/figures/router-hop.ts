// Figure 12: what the router adds to one task, with nothing else in the way. A headless one-turn task (real claude,
// scripted model) on a worker with a warm pool of one, as a Run straight to the worker and as a Run through the
// router, alternating, each started once the pool is full again; both from this process over an open connection.
// Two numbers per run: when claude's first message (its init) arrives, and when `exited` does.
import { performance } from "node:perf_hooks";
import type { RunEvent } from "../../gen/claudecluster/v1/run_pb.js";
import type { Figure } from "../lib/context.js";
import { modelEnv, routerClient, startModel, startRouter, startWorker, waitForFullPool, workerClient } from "../lib/cluster.js";
import { row } from "../lib/results.js";
import { followRouterRun, followWorkerRun } from "../lib/streams.js";
import { median, quantile } from "../lib/stats.js";
import { hasWarmPool } from "./one-turn.js";

const TARGET = { op: "<=", value: 5, unit: "ms" } as const;
const FIRST = "time the router adds per task, first event (Run via router − Run direct, warm worker)";
const END = "time the router adds per task, to `exited` (Run via router − Run direct, warm worker)";
const PROMPT = "Say hello to the benchmark";

interface Timing {
  firstMs: number;
  endMs: number;
}

export const routerHop: Figure = {
  id: "router-hop",
  number: 12,
  rows: [
    { key: "router-hop-first", title: FIRST, target: TARGET },
    { key: "router-hop-end", title: END, target: TARGET },
  ],
  async run(ctx) {
    if (!hasWarmPool()) throw new Error("this build's worker has no CC_WARM_POOL");
    const runs = ctx.runs(15, 2);
    const model = await startModel(ctx);
    const worker = await startWorker(ctx, "w1", { ...modelEnv(model.url), CC_WARM_POOL: "1" });
    const router = await startRouter(ctx, [worker]);
    const direct = workerClient(ctx, worker.url);
    const routed = routerClient(ctx, router.url);
    const measure = async (via: "direct" | "router"): Promise<Timing> => {
      await waitForFullPool(direct);
      let firstMs = Number.NaN;
      const t0 = performance.now();
      const onEvent = (ev: RunEvent) => {
        if (Number.isNaN(firstMs) && ev.event.case === "message") firstMs = performance.now() - t0;
      };
      if (via === "direct") await followWorkerRun(direct, { prompt: PROMPT }, onEvent);
      else await followRouterRun(routed, { prompt: PROMPT }, onEvent);
      return { firstMs, endMs: performance.now() - t0 };
    };
    // Untimed: the page cache, node's compile cache, both connections open.
    await measure("direct");
    await measure("router");
    const d: Timing[] = [];
    const r: Timing[] = [];
    for (let i = 0; i < runs; i++) {
      // The order turns each run, so whatever the previous task left running falls on both sides alike.
      const order = i % 2 === 0 ? (["direct", "router"] as const) : (["router", "direct"] as const);
      for (const via of order) (via === "direct" ? d : r).push(await measure(via));
      ctx.log(`run ${i + 1}/${runs}: first event direct ${d.at(-1)!.firstMs.toFixed(0)} ms, routed ${r.at(-1)!.firstMs.toFixed(0)} ms; end direct ${d.at(-1)!.endMs.toFixed(0)} ms, routed ${r.at(-1)!.endMs.toFixed(0)} ms`);
    }
    const pool = (await direct.getInfo({})).warmPool;
    const pairs = (pick: (t: Timing) => number) => d.map((t, i) => pick(r[i]!) - pick(t));
    const spread = (pick: (t: Timing) => number) => {
      const diffs = pairs(pick);
      return `per pair, routed − direct: median ${median(diffs).toFixed(1)} ms, p10 ${quantile(diffs, 0.1).toFixed(1)}, p90 ${quantile(diffs, 0.9).toFixed(1)}`;
    };
    const how = `A headless one-turn task (real claude, scripted model) on a worker with CC_WARM_POOL=1, as a Run RPC from the harness straight to the worker and through the router over open connections, ${runs} pairs in alternating order, each started once GetInfo shows the pool full; first event = claude's first message (its init), end = \`exited\`. The pool counted ${pool?.hits ?? 0} hit(s) and ${pool?.misses ?? 0} miss(es) over ${2 * runs + 2} tasks.`;
    const build = (key: string, title: string, pick: (t: Timing) => number, notes: string[]) =>
      row({
        figure: 12,
        key,
        title,
        measured: { value: median(r.map(pick)), unit: "ms", label: "via router" },
        baseline: { value: median(d.map(pick)), unit: "ms", label: "direct" },
        result: median(r.map(pick)) - median(d.map(pick)),
        target: TARGET,
        runs,
        notes: [...notes, `${key === "router-hop-first" ? "First event" : "`exited`"}: ${spread(pick)}.`],
        samples: { directMs: d.map(pick), routerMs: r.map(pick) },
      });
    return [build("router-hop-first", FIRST, (t) => t.firstMs, [how]), build("router-hop-end", END, (t) => t.endMs, [])];
  },
};
