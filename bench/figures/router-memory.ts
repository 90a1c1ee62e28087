// Figure 5: the router's memory with 1,000 concurrent Run streams against the same router idle. Everything is its
// own process: the router (its RSS is read from /proc), several workers, and under them one slow fake claude per
// task (fixtures/slow.sh: one event a second for 45 s). The streams come from a few client connections.
import { RunMode, type RunEvent } from "../../gen/claudecluster/v1/run_pb.js";
import type { Figure } from "../lib/context.js";
import { fakeClaude, routerClient, startRouter, startWorker } from "../lib/cluster.js";
import type { Service } from "../lib/processes.js";
import { row } from "../lib/results.js";
import { rssBytes, steadyRss } from "../lib/rss.js";
import { followRouterRun } from "../lib/streams.js";
import { max, median, MiB } from "../lib/stats.js";

const TARGET = { op: "<=", value: 150, unit: "MiB" } as const;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const RAMP_BATCH = 50;

export const routerMemory: Figure = {
  id: "router-memory",
  number: 5,
  rows: [{ key: "router-memory", title: "router RSS at 1,000 concurrent streams vs idle", target: TARGET }],
  async run(ctx) {
    const runs = ctx.runs(1, 1);
    const streams = Math.round(ctx.param("STREAMS", 1000, 40));
    const workerCount = Math.round(ctx.param("ROUTER_MEMORY_WORKERS", 4, 2));
    const connections = Math.round(ctx.param("CLIENT_CONNECTIONS", 10, 2));
    const seconds = Math.round(ctx.param("SLOW_SECONDS", 45, 10));
    const sampleMs = ctx.param("SAMPLE_MS", 5000, 2000);
    const rampPerS = ctx.param("RAMP_PER_S", 200);
    const perWorker = Math.ceil(streams / workerCount);
    if (perWorker > 1000) throw new Error(`${streams} streams need more than ${workerCount} workers (CC_MAX_SESSIONS is at most 1000)`);
    const title = `router RSS at ${streams.toLocaleString("en")} concurrent streams vs idle`;
    const bin = fakeClaude(ctx, "slow.sh");

    const idle: number[] = [];
    const loaded: number[] = [];
    const peaks: number[] = [];
    const startup: number[] = [];
    const afterEnd: number[] = [];
    const notes: string[] = [];
    for (let run = 0; run < runs; run++) {
      // Fresh processes each run: a router that already served 1,000 tasks keeps their records and logs.
      const workers: Service[] = [];
      for (let i = 1; i <= workerCount; i++) workers.push(await startWorker(ctx, `r${run}w${i}`, { CC_CLAUDE_BIN: bin, CC_MAX_SESSIONS: String(perWorker) }));
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
          // processes at once blocks its event loop for seconds, and the router's pings (5 s) then declare it lost.
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
          return followRouterRun(clients[i % connections]!, { prompt: `ticks=${seconds} interval=1`, mode: RunMode.HEADLESS }, onEvent).catch((err: unknown) => {
            failures.push(err instanceof Error ? err.message : String(err));
          });
        }),
      );
      while (started < streams && failures.length === 0) {
        if (Date.now() - t0 > 120_000) throw new Error(`only ${started} of ${streams} streams were running after 120 s`);
        await sleep(100);
      }
      if (failures.length > 0) throw new Error(`a stream failed before all were running: ${failures[0]}`);
      const rampMs = Date.now() - t0;
      ctx.log(`run ${run + 1}/${runs}: ${streams} streams running after ${(rampMs / 1000).toFixed(1)} s`);
      await sleep(Math.min(2000, sampleMs));
      const load = await steadyRss(router.pid, sampleMs);
      if (failures.length > 0) throw new Error(`a stream failed while the router's memory was sampled: ${failures[0]}`);
      if (exited > 0) throw new Error(`${exited} stream(s) ended before the sampling did; raise BENCH_SLOW_SECONDS (now ${seconds})`);
      await all;
      if (failures.length > 0) {
        notes.push(`After the sampling, ${failures.length} of the ${streams} streams failed instead of ending normally, e.g. "${failures[0]}".`);
        ctx.log(`run ${run + 1}/${runs}: ${failures.length} stream(s) failed after the sampling: ${failures[0]}`);
        for (const line of router.recentLogs().filter((l) => /"level":(40|50)/.test(l)).slice(-3)) ctx.log(`router: ${line}`);
      }
      const after = rssBytes(router.pid);
      idle.push(idleRss.median);
      loaded.push(load.median);
      peaks.push(max(load.samples));
      startup.push(rampMs);
      afterEnd.push(after);
      ctx.log(`run ${run + 1}/${runs}: router RSS idle ${(idleRss.median / MiB).toFixed(1)} MiB, with ${streams} streams ${(load.median / MiB).toFixed(1)} MiB (peak ${(max(load.samples) / MiB).toFixed(1)}), after they ended ${(after / MiB).toFixed(1)} MiB`);
      await router.stop();
      await Promise.all(workers.map((w) => w.stop()));
    }
    notes.unshift(
      `${streams} headless tasks over ${workerCount} worker processes (CC_MAX_SESSIONS=${perWorker}), each a fake claude printing one event a second for ${seconds} s, opened ${rampPerS} a second and streamed to the harness over ${connections} HTTP/2 connections to the router; RSS (/proc VmRSS) median of ${sampleMs / 1000} s of samples once every stream was running (after ${(median(startup) / 1000).toFixed(1)} s), minus the same for the router idle with its workers registered. Peak while loaded: ${(median(peaks) / MiB).toFixed(0)} MiB; once every stream had ended: ${(median(afterEnd) / MiB).toFixed(0)} MiB (the router keeps ended tasks' records and logs, CC_RETAIN_TASKS).`,
    );
    return [
      row({
        figure: 5,
        key: "router-memory",
        title,
        measured: { value: median(loaded) / MiB, unit: "MiB", label: `${streams} streams` },
        baseline: { value: median(idle) / MiB, unit: "MiB", label: "idle" },
        result: (median(loaded) - median(idle)) / MiB,
        target: TARGET,
        runs,
        notes,
        samples: { idleMiB: idle.map((b) => b / MiB), loadedMiB: loaded.map((b) => b / MiB), peakMiB: peaks.map((b) => b / MiB), afterEndMiB: afterEnd.map((b) => b / MiB), rampMs: startup },
      }),
    ];
  },
};
