// Figure 13: how many tasks one router places and completes per second. Short tasks of a fake claude that answers at
// once (fixtures/quick.sh) over 4 worker processes, submitted as Run streams with a fixed number in flight; tasks
// that reached `exited` ÷ the wall time from the first submission to the last `exited`. What a task costs the
// cluster here is its placement, the worker's workspace and process start, and the end: not claude's own work.
import { performance } from "node:perf_hooks";
import { RunMode } from "../../gen/claudecluster/v1/run_pb.js";
import type { Figure } from "../lib/context.js";
import { fakeClaude, routerClient, startRouter, startWorker } from "../lib/cluster.js";
import type { Service } from "../lib/processes.js";
import { row } from "../lib/results.js";
import { followRouterRun } from "../lib/streams.js";
import { median } from "../lib/stats.js";

const TARGET = { op: ">=", value: 200, unit: "tasks/s" } as const;
const TITLE = "tasks per second one router places and completes (short fake-claude tasks, 4 workers)";

export const taskRate: Figure = {
  id: "task-rate",
  number: 13,
  rows: [{ key: "task-rate", title: TITLE, target: TARGET }],
  async run(ctx) {
    const runs = ctx.runs(3, 1);
    const tasks = Math.round(ctx.param("RATE_TASKS", 1000, 50));
    const workerCount = Math.round(ctx.param("RATE_WORKERS", 4, 2));
    const inFlight = Math.round(ctx.param("RATE_IN_FLIGHT", 64, 8));
    const connections = Math.round(ctx.param("CLIENT_CONNECTIONS", 10, 2));
    const bin = fakeClaude(ctx, "quick.sh");
    const workers: Service[] = [];
    // Slots for every task in flight, so the figure is the cluster's rate and not a queue's.
    const slots = String(Math.ceil(inFlight / workerCount) + 4);
    for (let i = 1; i <= workerCount; i++) workers.push(await startWorker(ctx, `t${i}`, { CC_CLAUDE_BIN: bin, CC_MAX_SESSIONS: slots, CC_SANDBOX: "off" }));
    const router = await startRouter(ctx, workers);
    const clients = Array.from({ length: connections }, () => routerClient(ctx, router.url));

    const batch = async (count: number) => {
      let next = 0;
      let done = 0;
      const t0 = performance.now();
      const lane = async (lane: number) => {
        while (next < count) {
          next += 1;
          await followRouterRun(clients[lane % connections]!, { prompt: "go", mode: RunMode.HEADLESS }, () => {});
          done += 1;
        }
      };
      await Promise.all(Array.from({ length: inFlight }, (_, i) => lane(i)));
      const seconds = (performance.now() - t0) / 1000;
      if (done !== count) throw new Error(`${done} of ${count} tasks ended`);
      return count / seconds;
    };
    // Untimed: node's code warmed up, every connection open.
    await batch(Math.min(100, tasks));
    const rates: number[] = [];
    for (let run = 1; run <= runs; run++) {
      rates.push(await batch(tasks));
      ctx.log(`run ${run}/${runs}: ${tasks} tasks at ${rates.at(-1)!.toFixed(0)} tasks/s`);
    }
    return [
      row({
        figure: 13,
        key: "task-rate",
        title: TITLE,
        measured: { value: median(rates), unit: "tasks/s", label: `${tasks} tasks, ${inFlight} in flight` },
        result: median(rates),
        target: TARGET,
        runs,
        notes: [
          `${tasks} headless tasks per run over ${workerCount} worker processes (unsandboxed, CC_MAX_SESSIONS=${slots}), each a fake claude that prints its init, one message and a result and exits; ${inFlight} Run streams in flight over ${connections} HTTP/2 connections, each followed to \`exited\`; tasks ÷ wall time from the first submission to the last \`exited\`, after one untimed batch.`,
        ],
        samples: { tasksPerS: rates },
      }),
    ];
  },
};
