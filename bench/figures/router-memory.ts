// Figure 5: the router's memory per concurrent Run stream, at 1,000 and at 5,000 streams, against the same router
// idle. Everything is its own process: the router (its RSS is read from /proc), several workers, and under them one
// slow fake claude per task (fixtures/slow.sh: one event every second at 1,000 streams, every 5 s at 5,000, so the
// router carries about 1,000 events a second either way). The streams come from a few client connections.
import { RunMode, type RunEvent } from "../../gen/claudecluster/v1/run_pb.js";
import type { BenchContext, Figure } from "../lib/context.js";
import { fakeClaude, routerClient, startRouter, startWorker } from "../lib/cluster.js";
import type { Service } from "../lib/processes.js";
import { row, type Row } from "../lib/results.js";
import { rssBytes, steadyRss } from "../lib/rss.js";
import { followRouterRun } from "../lib/streams.js";
import { max, median, MiB } from "../lib/stats.js";

const TARGET = { op: "<=", value: 60, unit: "KiB" } as const;
const KiB = 1024;
/** CC_MAX_SESSIONS is at most 1,000 per worker. */
const MAX_PER_WORKER = 1000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const RAMP_BATCH = 50;

interface Size {
  idle: number[];
  loaded: number[];
  peaks: number[];
  startup: number[];
  afterEnd: number[];
  failures: string[];
  workers: number;
  interval: number;
}

async function measure(ctx: BenchContext, streams: number, runs: number, rampPerS: number): Promise<Size> {
  const workerCount = Math.max(Math.round(ctx.param("ROUTER_MEMORY_WORKERS", 4, 2)), Math.ceil(streams / MAX_PER_WORKER));
  const connections = Math.round(ctx.param("CLIENT_CONNECTIONS", 10, 2));
  const sampleMs = ctx.param("SAMPLE_MS", 5000, 2000);
  // About 1,000 events a second in all, whatever the number of streams: the figure is memory, not throughput.
  const interval = Math.max(1, Math.round(streams / 1000));
  // Long enough to outlast the ramp (BENCH_RAMP_PER_S) and the sampling.
  const ticks = Math.ceil((streams / rampPerS + sampleMs / 1000 + 20) / interval);
  const perWorker = Math.ceil(streams / workerCount);
  const bin = fakeClaude(ctx, "slow.sh");
  const size: Size = { idle: [], loaded: [], peaks: [], startup: [], afterEnd: [], failures: [], workers: workerCount, interval };
  for (let run = 0; run < runs; run++) {
    // Fresh processes each run: a router that already served 1,000 tasks keeps their records and logs.
    const workers: Service[] = [];
    for (let i = 1; i <= workerCount; i++) workers.push(await startWorker(ctx, `r${streams}-${run}w${i}`, { CC_CLAUDE_BIN: bin, CC_MAX_SESSIONS: String(perWorker), CC_SANDBOX: "off" }));
    const router = await startRouter(ctx, workers);
    await sleep(1000);
    const idleRss = await steadyRss(router.pid, sampleMs);

    const clients = Array.from({ length: connections }, () => routerClient(ctx, router.url));
    let started = 0;
    let exited = 0;
    const failures: string[] = [];
    const t0 = Date.now();
    const all = Promise.all(
      Array.from({ length: streams }, async (_, i) => {
        // Opened in batches (BENCH_RAMP_PER_S a second), not all in one tick: a worker spawning hundreds of
        // processes at once blocks its event loop for seconds.
        await sleep(Math.floor(i / RAMP_BATCH) * ((RAMP_BATCH / rampPerS) * 1000));
        let seen = false;
        const onEvent = (ev: RunEvent) => {
          // Running means claude printed its first line (init), not only that the worker spawned it.
          if (!seen && ev.event.case === "message") {
            seen = true;
            started += 1;
          }
          if (ev.event.case === "exited") exited += 1;
        };
        return followRouterRun(clients[i % connections]!, { prompt: `ticks=${ticks} interval=${interval}`, mode: RunMode.HEADLESS }, onEvent).catch((err: unknown) => {
          failures.push(err instanceof Error ? err.message : String(err));
        });
      }),
    );
    while (started < streams && failures.length === 0) {
      if (Date.now() - t0 > 180_000) throw new Error(`only ${started} of ${streams} streams were running after 180 s`);
      await sleep(100);
    }
    if (failures.length > 0) {
      // What the router saw of its workers says why (a worker too busy to answer its probe is taken for offline).
      const warning = router.recentLogs().find((l) => /"level":(40|50)/.test(l));
      const why = warning ? `; the router's first warning: ${warning}` : "";
      throw new Error(`a stream failed after ${((Date.now() - t0) / 1000).toFixed(1)} s with ${started} of ${streams} running: ${failures[0]}${why}`);
    }
    const rampMs = Date.now() - t0;
    ctx.log(`${streams} streams, run ${run + 1}/${runs}: all running after ${(rampMs / 1000).toFixed(1)} s`);
    await sleep(Math.min(2000, sampleMs));
    const load = await steadyRss(router.pid, sampleMs);
    if (failures.length > 0) throw new Error(`a stream failed while the router's memory was sampled: ${failures[0]}`);
    if (exited > 0) throw new Error(`${exited} stream(s) ended before the sampling did`);
    await all;
    if (failures.length > 0) {
      size.failures.push(`After the sampling at ${streams} streams, ${failures.length} of them failed instead of ending normally, e.g. "${failures[0]}".`);
      for (const line of router.recentLogs().filter((l) => /"level":(40|50)/.test(l)).slice(-3)) ctx.log(`router: ${line}`);
    }
    const after = rssBytes(router.pid);
    size.idle.push(idleRss.median);
    size.loaded.push(load.median);
    size.peaks.push(max(load.samples));
    size.startup.push(rampMs);
    size.afterEnd.push(after);
    ctx.log(`${streams} streams, run ${run + 1}/${runs}: router RSS idle ${(idleRss.median / MiB).toFixed(1)} MiB, loaded ${(load.median / MiB).toFixed(1)} MiB (peak ${(max(load.samples) / MiB).toFixed(1)}), after they ended ${(after / MiB).toFixed(1)} MiB`);
    await router.stop();
    await Promise.all(workers.map((w) => w.stop()));
  }
  return size;
}

const title = (streams: number) => `router RSS per concurrent stream (${streams.toLocaleString("en")} streams) over idle`;

export const routerMemory: Figure = {
  id: "router-memory",
  number: 5,
  rows: [
    { key: "router-memory", title: title(1000), target: TARGET },
    { key: "router-memory-large", title: title(5000), target: TARGET },
  ],
  async run(ctx) {
    const runs = ctx.runs(1, 1);
    const sizes = [Math.round(ctx.param("STREAMS", 1000, 40)), Math.round(ctx.param("STREAMS_LARGE", 5000, 80))];
    const connections = Math.round(ctx.param("CLIENT_CONNECTIONS", 10, 2));
    const sampleMs = ctx.param("SAMPLE_MS", 5000, 2000);
    // 5,000 processes started 200 a second kept the workers too busy to answer the router's probes: they were
    // taken for offline and the streams refused. The large size starts them half as fast (which did not change
    // that here: docs/benchmarks.md, round 2).
    const ramps = [ctx.param("RAMP_PER_S", 200), ctx.param("RAMP_LARGE_PER_S", 100)];
    const rows: Row[] = [];
    for (const [index, streams] of sizes.entries()) {
      const key = index === 0 ? "router-memory" : "router-memory-large";
      const rampPerS = ramps[index]!;
      let size: Size;
      try {
        size = await measure(ctx, streams, runs, rampPerS);
      } catch (err) {
        // One size failing leaves the other's number standing.
        const message = err instanceof Error ? err.message : String(err);
        ctx.log(`${streams} streams: ${message}`);
        rows.push({ figure: 5, key, title: title(streams), target: TARGET, status: "error", runs, notes: [`${streams} streams, opened ${rampPerS} a second: ${message}`] });
        continue;
      }
      const perStream = (median(size.loaded) - median(size.idle)) / streams / KiB;
      const notes = [
        `${streams} headless tasks over ${size.workers} worker processes, each a fake claude printing one event every ${size.interval} s, opened ${rampPerS} a second and streamed to the harness over ${connections} HTTP/2 connections to the router; RSS (/proc VmRSS) median of ${sampleMs / 1000} s of samples once every stream was running (after ${(median(size.startup) / 1000).toFixed(1)} s), minus the same for the router idle with its workers registered, ÷ ${streams}. Router RSS ${(median(size.loaded) / MiB).toFixed(0)} MiB loaded, ${(median(size.idle) / MiB).toFixed(0)} MiB idle; peak while loaded ${(median(size.peaks) / MiB).toFixed(0)} MiB; once every stream had ended ${(median(size.afterEnd) / MiB).toFixed(0)} MiB (the router keeps ended tasks' records and logs, CC_RETAIN_TASKS).`,
        ...size.failures,
      ];
      rows.push(
        row({
          figure: 5,
          key,
          title: title(streams),
          measured: { value: median(size.loaded) / MiB, unit: "MiB", label: `${streams} streams` },
          baseline: { value: median(size.idle) / MiB, unit: "MiB", label: "idle" },
          result: perStream,
          target: TARGET,
          runs,
          notes,
          samples: { idleMiB: size.idle.map((b) => b / MiB), loadedMiB: size.loaded.map((b) => b / MiB), peakMiB: size.peaks.map((b) => b / MiB), afterEndMiB: size.afterEnd.map((b) => b / MiB), rampMs: size.startup },
        }),
      );
    }
    return rows;
  },
};
