// Figure 3: output throughput of a flooding terminal through the router against the same stream read from the
// worker directly. A fake interactive claude (fixtures/flood.mjs) writes N MiB to its pseudo-terminal in 16 KiB
// writes; the harness counts the bytes of `output` events from the first one to `exited`.
import { performance } from "node:perf_hooks";
import { Code, ConnectError } from "@connectrpc/connect";
import { RunMode, type RunEvent } from "../../gen/claudecluster/v1/run_pb.js";
import type { Figure } from "../lib/context.js";
import { fakeClaude, routerClient, startRouter, startWorker, workerClient } from "../lib/cluster.js";
import { row } from "../lib/results.js";
import { followRouterRun, followWorkerRun } from "../lib/streams.js";
import { median, MiB } from "../lib/stats.js";

const TARGET = { op: ">=", value: 0.8, unit: "×" } as const;
const TITLE = "flooding terminal (16 KiB writes) via router vs direct, throughput";

export const throughput: Figure = {
  id: "throughput",
  number: 3,
  rows: [{ key: "throughput", title: TITLE, target: TARGET }],
  async run(ctx) {
    const runs = ctx.runs(5, 1);
    const mib = Math.round(ctx.param("FLOOD_MIB", 64, 8));
    const worker = await startWorker(ctx, "w1", { CC_CLAUDE_BIN: fakeClaude(ctx, "flood.mjs") });
    const router = await startRouter(ctx, [worker]);
    const direct = workerClient(ctx, worker.url);
    const routed = routerClient(ctx, router.url);
    const request = { prompt: `mib=${mib}`, mode: RunMode.INTERACTIVE };

    const measure = async (via: "direct" | "router", prompt = request.prompt) => {
      let bytes = 0;
      let first = 0;
      let last = 0;
      const onEvent = (ev: RunEvent) => {
        if (ev.event.case === "output") {
          if (bytes === 0) first = performance.now();
          bytes += ev.event.value.data.length;
        } else if (ev.event.case === "exited") last = performance.now();
      };
      const followed = via === "direct" ? await followWorkerRun(direct, { ...request, prompt }, onEvent) : await followRouterRun(routed, { ...request, prompt }, onEvent);
      return { bytes, mibPerS: bytes / MiB / ((last - first) / 1000), reattaches: followed.reattaches };
    };

    await measure("direct", "mib=4");
    await measure("router", "mib=4");
    const directRates: number[] = [];
    const routerRates: number[] = [];
    let reattaches = 0;
    const lost: string[] = [];
    // A routed client cut off for lagging may find the events it missed already dropped from the router's bounded
    // log (OUT_OF_RANGE): that run lost output and has no throughput. It is counted, and another run takes its place
    // (at most `runs` more).
    for (let attempt = 0; routerRates.length < runs && attempt < 2 * runs; attempt++) {
      const d = await measure("direct");
      let r;
      try {
        r = await measure("router");
      } catch (err) {
        if (!(err instanceof ConnectError) || err.code !== Code.OutOfRange) throw err;
        lost.push(err.rawMessage);
        ctx.log(`attempt ${attempt + 1}: the routed client lost output: ${err.rawMessage}`);
        continue;
      }
      for (const m of [d, r]) if (m.bytes < mib * MiB) throw new Error(`only ${m.bytes} of ${mib * MiB} bytes arrived`);
      directRates.push(d.mibPerS);
      routerRates.push(r.mibPerS);
      reattaches += r.reattaches;
      ctx.log(`run ${routerRates.length}/${runs}: direct ${d.mibPerS.toFixed(1)} MiB/s, router ${r.mibPerS.toFixed(1)} MiB/s${r.reattaches ? `, ${r.reattaches} re-attach(es)` : ""}`);
    }
    if (routerRates.length === 0) throw new Error(`every routed run lost output: ${lost[0]}`);
    const notes = [
      `${mib} MiB per run through the worker's pseudo-terminal (interactive mode); bytes of \`output\` events ÷ time from the first of them to \`exited\`, at the client; direct and routed runs alternate.`,
    ];
    if (lost.length > 0) {
      notes.push(
        `In ${lost.length} routed run(s) the client was cut off for falling more than CC_SUBSCRIBER_LAG_BYTES behind, and when it attached again the events it had missed were already dropped from the router's log (CC_TASK_LOG_BYTES): OUT_OF_RANGE, "${lost[0]}". Those runs lost terminal output; they are left out of the medians and replaced by further runs.`,
      );
    }
    if (reattaches > 0) notes.push(`The router cut the routed client off ${reattaches} time(s) for falling more than CC_SUBSCRIBER_LAG_BYTES behind; it attached again from its last seq, as \`cc\` does, and that time is included.`);
    return [
      row({
        figure: 3,
        key: "throughput",
        title: TITLE,
        measured: { value: median(routerRates), unit: "MiB/s", label: "via router" },
        baseline: { value: median(directRates), unit: "MiB/s", label: "direct" },
        result: median(routerRates) / median(directRates),
        target: TARGET,
        runs: routerRates.length,
        notes,
        samples: { directMiBps: directRates, routerMiBps: routerRates },
      }),
    ];
  },
};
