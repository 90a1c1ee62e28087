// Figure 10: what the task store costs. The same router and workers with each store — SQLite and Redis against the
// in-memory store, in one run — under 1,000 concurrent Run streams of a fake claude that offers more events than
// the machine carries (fixtures/slow.sh, a burst of events each second): the events per second the router stores
// and serves to the streams' callers, and its RSS meanwhile. Everything is its own process: the router, the
// workers, the fake claudes, and for the Redis store a redis-server on loopback.
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { RunMode, type RunEvent } from "../../gen/claudecluster/v1/run_pb.js";
import { REDIS_SERVER, startRedis } from "../../test/helpers/redis.js";
import type { BenchContext, Figure } from "../lib/context.js";
import { fakeClaude, routerClient, startRouter, startWorker } from "../lib/cluster.js";
import type { Service } from "../lib/processes.js";
import { row, type Row } from "../lib/results.js";
import { steadyRss } from "../lib/rss.js";
import { followRouterRun } from "../lib/streams.js";
import { median, MiB } from "../lib/stats.js";

const EVENTS_TARGET = { op: ">=", value: 0.8, unit: "×" } as const;
const RSS_TARGET = { op: "<=", value: 50, unit: "MiB" } as const;
const STORES = ["memory", "sqlite", "redis"] as const;
type StoreKind = (typeof STORES)[number];
const ONLY = process.env["BENCH_STORE_ONLY"];
const RAMP_BATCH = 50;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Measured {
  eventsPerS: number;
  rss: number;
  rampMs: number;
}

/** One store: workers, a router on it, N streams; events/s and RSS over the sampling window once all run. */
async function measure(ctx: BenchContext, kind: StoreKind, run: number, o: { streams: number; workers: number; connections: number; ticks: number; interval: number; burst: number; sampleMs: number; warmupMs: number; rampPerS: number }): Promise<Measured> {
  const bin = fakeClaude(ctx, "slow.sh");
  const perWorker = Math.ceil(o.streams / o.workers);
  const workers: Service[] = [];
  // Unsandboxed: the figure is about the router and its store; 1,000 sandboxes would only starve the workers.
  for (let i = 1; i <= o.workers; i++) workers.push(await startWorker(ctx, `s${run}${kind}w${i}`, { CC_CLAUDE_BIN: bin, CC_MAX_SESSIONS: String(perWorker), CC_SANDBOX: "off" }));
  let store = kind as string;
  if (kind === "redis") {
    const redis = await startRedis();
    // Also when the measure fails: the figure's end stops it (stopping twice is harmless).
    ctx.defer(() => redis.stop());
    store = redis.url;
  }
  const router = await startRouter(ctx, workers, { CC_STORE: store, CC_DATA_DIR: join(ctx.tmp, `data-${run}-${kind}`) });
  const clients = Array.from({ length: o.connections }, () => routerClient(ctx, router.url));
  // Every fake claude waits at this gate after its init: the streams start on a quiet machine (starting them while
  // the first ones already print took minutes on 2 cores, and overloaded the router before it was measured).
  const gate = join(ctx.tmp, `gate-${run}-${kind}`);
  let running = 0;
  let events = 0;
  const failures: string[] = [];
  const abort = new AbortController();
  const t0 = Date.now();
  const all = Promise.all(
    Array.from({ length: o.streams }, async (_, i) => {
      await sleep(Math.floor(i / RAMP_BATCH) * ((RAMP_BATCH / o.rampPerS) * 1000));
      let seen = false;
      const onEvent = (ev: RunEvent) => {
        events += 1;
        if (!seen && ev.event.case === "message") {
          seen = true;
          running += 1;
        }
      };
      return followRouterRun(clients[i % o.connections]!, { prompt: `ticks=${o.ticks} interval=${o.interval} burst=${o.burst} gate=${gate} nice=19`, mode: RunMode.HEADLESS }, onEvent).catch((err: unknown) => {
        if (!abort.signal.aborted) failures.push(err instanceof Error ? err.message : String(err));
      });
    }),
  );
  while (running < o.streams && failures.length === 0) {
    if (Date.now() - t0 > 180_000) throw new Error(`${kind}: only ${running} of ${o.streams} streams were running after 180 s`);
    await sleep(100);
  }
  if (failures.length > 0) throw new Error(`${kind}: a stream failed before all were running: ${failures[0]}`);
  const rampMs = Date.now() - t0;
  writeFileSync(gate, "");
  // Every stream under way before the window opens.
  await sleep(o.warmupMs);
  const before = events;
  const started = Date.now();
  const rss = await steadyRss(router.pid, o.sampleMs);
  const eventsPerS = ((events - before) * 1000) / (Date.now() - started);
  if (failures.length > 0) throw new Error(`${kind}: a stream failed while it was measured: ${failures[0]}`);
  ctx.log(`run ${run + 1} ${kind}: ${o.streams} streams running after ${(rampMs / 1000).toFixed(1)} s; ${eventsPerS.toFixed(0)} events/s served, router RSS ${(rss.median / MiB).toFixed(1)} MiB`);
  abort.abort();
  await router.stop(5000);
  await Promise.all(workers.map((w) => w.stop(5000)));
  await all;
  return { eventsPerS, rss: rss.median, rampMs };
}

export const storeFigure: Figure = {
  id: "store",
  number: 10,
  rows: [
    { key: "store-events-sqlite", title: "events/s the router stores and serves, SQLite vs memory store (1,000 streams)", target: EVENTS_TARGET },
    { key: "store-events-redis", title: "events/s the router stores and serves, Redis vs memory store (1,000 streams)", target: EVENTS_TARGET },
    { key: "store-rss-sqlite", title: "router RSS at 1,000 streams, SQLite vs memory store", target: RSS_TARGET },
    { key: "store-rss-redis", title: "router RSS at 1,000 streams, Redis vs memory store", target: RSS_TARGET },
  ],
  async run(ctx) {
    if (!existsSync(REDIS_SERVER)) throw new Error(`${REDIS_SERVER} is missing (apt-get install redis-server)`);
    const runs = ctx.runs(1, 1);
    const o = {
      streams: Math.round(ctx.param("STORE_STREAMS", 1000, 40)),
      workers: Math.round(ctx.param("STORE_WORKERS", 4, 2)),
      connections: Math.round(ctx.param("CLIENT_CONNECTIONS", 10, 2)),
      ticks: Math.round(ctx.param("STORE_TICKS", 40, 10)),
      interval: ctx.param("STORE_INTERVAL", 1),
      // Events come in bursts, one write each: a thousand generators waking 20 times a second each (one event per
      // wake) took most of the two cores themselves, and the figure then measured the scheduler, not the router.
      burst: Math.round(ctx.param("STORE_BURST", 20)),
      sampleMs: ctx.param("STORE_SAMPLE_MS", 10_000, 2000),
      warmupMs: ctx.param("STORE_WARMUP_MS", 3000, 1000),
      rampPerS: ctx.param("RAMP_PER_S", 200),
    };
    const got = new Map<StoreKind, Measured[]>(STORES.map((s) => [s, []]));
    for (let run = 0; run < runs; run++) {
      // The order turns each run, so drift in the machine's load does not always fall on the same store.
      const order = STORES.map((_, i) => STORES[(i + run) % STORES.length]!);
      // BENCH_STORE_ONLY=memory|sqlite|redis measures one store alone, to look at it (the figure then has no ratio).
      for (const kind of order) if (!ONLY || kind === ONLY) got.get(kind)!.push(await measure(ctx, kind, run, o));
    }
    const eps = (k: StoreKind) => median(got.get(k)!.map((m) => m.eventsPerS));
    const rss = (k: StoreKind) => median(got.get(k)!.map((m) => m.rss));
    const offered = ((o.streams * o.burst) / o.interval).toFixed(0);
    const how = `${o.streams} headless tasks over ${o.workers} worker processes, each a fake claude that starts, waits at a gate until all ${o.streams} streams run, then offers ${o.burst} events at once every ${o.interval} s (${offered} events/s in all, more than 2 cores carry: the figure is what the router keeps up with), streamed over ${o.connections} HTTP/2 connections; events counted at the callers over ${o.sampleMs / 1000} s, from ${o.warmupMs / 1000} s after the gate opened, router RSS (/proc VmRSS) median over the same window; the stores measured one after another in one run, each with fresh processes (SQLite in a scratch CC_DATA_DIR, Redis a redis-server on loopback).`;
    const rows: Row[] = [];
    for (const kind of ["sqlite", "redis"] as const) {
      const name = kind === "sqlite" ? "SQLite" : "Redis";
      rows.push(
        row({
          figure: 10,
          key: `store-events-${kind}`,
          title: `events/s the router stores and serves, ${name} vs memory store (${o.streams.toLocaleString("en")} streams)`,
          measured: { value: eps(kind), unit: "events/s", label: name },
          baseline: { value: eps("memory"), unit: "events/s", label: "memory" },
          result: eps(kind) / eps("memory"),
          target: EVENTS_TARGET,
          runs,
          notes: kind === "sqlite" ? [how] : [],
          samples: { eventsPerS: got.get(kind)!.map((m) => m.eventsPerS), memoryEventsPerS: got.get("memory")!.map((m) => m.eventsPerS) },
        }),
      );
    }
    for (const kind of ["sqlite", "redis"] as const) {
      const name = kind === "sqlite" ? "SQLite" : "Redis";
      rows.push(
        row({
          figure: 10,
          key: `store-rss-${kind}`,
          title: `router RSS at ${o.streams.toLocaleString("en")} streams, ${name} vs memory store`,
          measured: { value: rss(kind) / MiB, unit: "MiB", label: name },
          baseline: { value: rss("memory") / MiB, unit: "MiB", label: "memory" },
          result: (rss(kind) - rss("memory")) / MiB,
          target: RSS_TARGET,
          runs,
          notes: [],
          samples: { rssMiB: got.get(kind)!.map((m) => m.rss / MiB), memoryRssMiB: got.get("memory")!.map((m) => m.rss / MiB) },
        }),
      );
    }
    return rows;
  },
};
