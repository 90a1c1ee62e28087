// Figure 9: what the task sandbox costs a one-turn task. The same headless task as a Run straight to a worker, over an
// open connection, on a worker that sandboxes its tasks (CC_SANDBOX=bwrap: bubblewrap, a network namespace bridged
// to the credential and egress proxies, a private HOME seeded per task) against one that does not (CC_SANDBOX=off,
// which still seeds a private HOME and goes through the credential proxy). Both workers run, as child processes,
// before the measurement; the runs alternate between them.
import { performance } from "node:perf_hooks";
import type { RunEvent } from "../../gen/claudecluster/v1/run_pb.js";
import type { Figure } from "../lib/context.js";
import { modelEnv, startModel, startWorker, workerClient } from "../lib/cluster.js";
import { row } from "../lib/results.js";
import { followWorkerRun } from "../lib/streams.js";
import { median } from "../lib/stats.js";

const PROMPT = "Say hello to the benchmark";
const EXPECTED = "Hello from the scripted model. You said: Say hello to the benchmark";
const TARGET = { op: "<=", value: 1.15, unit: "×" } as const;
const TITLE = "one-turn task in the task sandbox (bwrap) vs unsandboxed, Run to the worker";

export const sandbox: Figure = {
  id: "sandbox",
  number: 9,
  rows: [{ key: "sandbox-one-turn", title: TITLE, target: TARGET }],
  async run(ctx) {
    const runs = ctx.runs(7, 1);
    const model = await startModel(ctx);
    const sandboxed = workerClient(ctx, (await startWorker(ctx, "sandboxed", { ...modelEnv(model.url), CC_SANDBOX: "bwrap" })).url);
    const open = workerClient(ctx, (await startWorker(ctx, "unsandboxed", { ...modelEnv(model.url), CC_SANDBOX: "off" })).url);
    const info = await sandboxed.getInfo({});
    if ((info as { sandbox?: string }).sandbox !== "bwrap") throw new Error("the sandboxed worker does not report sandbox bwrap");
    const once = async (client: typeof sandboxed) => {
      let answered = false;
      const t0 = performance.now();
      await followWorkerRun(client, { prompt: PROMPT }, (ev: RunEvent) => {
        if (ev.event.case === "message" && ev.event.value.json.includes(EXPECTED)) answered = true;
      });
      const ms = performance.now() - t0;
      if (!answered) throw new Error("the Run did not carry the model's answer");
      return ms;
    };
    // One untimed run of each first (page cache, bubblewrap's and socat's binaries).
    await once(sandboxed);
    await once(open);
    const sandboxedMs: number[] = [];
    const openMs: number[] = [];
    for (let i = 0; i < runs; i++) {
      sandboxedMs.push(await once(sandboxed));
      openMs.push(await once(open));
      ctx.log(`run ${i + 1}/${runs}: sandboxed ${sandboxedMs.at(-1)!.toFixed(0)} ms, unsandboxed ${openMs.at(-1)!.toFixed(0)} ms`);
    }
    return [
      row({
        figure: 9,
        key: "sandbox-one-turn",
        title: TITLE,
        measured: { value: median(sandboxedMs), unit: "ms", label: "sandboxed" },
        baseline: { value: median(openMs), unit: "ms", label: "unsandboxed" },
        result: median(sandboxedMs) / median(openMs),
        target: TARGET,
        runs,
        notes: [
          "Wall time of a headless Run RPC from the harness over an open connection, from the request to the end of the stream. The sandboxed worker's egress policy is its default allowlist, so each task gets its own network namespace with three socat bridges.",
        ],
        samples: { sandboxedMs, unsandboxedMs: openMs },
      }),
    ];
  },
};
