// Figure 1: a one-turn task through `cc run` → router → worker, against `claude -p` run directly. Both talk to the
// scripted model with the same prompt and the environment the worker gives claude (services/worker/claude-env.ts).
// The router and worker are already running, as child processes; each `cc run` and each `claude -p` is a new process,
// timed from spawn to exit. "Cold": the worker starts a new claude for the task (no warm pool).
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import type { RunEvent } from "../../gen/claudecluster/v1/run_pb.js";
import { claudeEnv } from "../../services/worker/claude-env.js";
import { prepareClaudeHome } from "../../services/worker/claude-home.js";
import { WORKER_SETTINGS } from "../../services/worker/settings.js";
import type { BenchContext, Figure } from "../lib/context.js";
import { cleanEnv, modelEnv, routerClient, startModel, startRouter, startWorker, waitForFullPool, workerClient } from "../lib/cluster.js";
import { CLI_MAIN, claudeBin } from "../lib/paths.js";
import { expectSuccess, timedRun } from "../lib/processes.js";
import { row, type Row, type Target } from "../lib/results.js";
import { followRouterRun, followWorkerRun } from "../lib/streams.js";
import { median } from "../lib/stats.js";

const PROMPT = "Say hello to the benchmark";
const EXPECTED = "Hello from the scripted model. You said: Say hello to the benchmark";

/** Whether this build's worker has the warm pool setting (services/worker/settings.ts). */
export function hasWarmPool(): boolean {
  return Object.values(WORKER_SETTINGS).some((s: { env: string }) => s.env === "CC_WARM_POOL");
}

export interface OneTurnOptions {
  figure: number;
  key: string;
  title: string;
  target: Target;
  /** Worker settings for this variant (e.g. CC_WARM_POOL). */
  workerEnv: Record<string, string>;
  /** Before each timed task, wait until the worker's warm pool is full, and report its hits. */
  warm: boolean;
  notes: string[];
}

/** The warm pool as GetInfo reports it; read loosely so the harness builds with or without the field. */
interface WarmPoolView {
  size: number;
  ready: number;
  hits: bigint;
  misses: bigint;
}
const warmPoolOf = (info: object): WarmPoolView | undefined => (info as { warmPool?: WarmPoolView }).warmPool;

export async function measureOneTurn(ctx: BenchContext, options: OneTurnOptions): Promise<Row> {
  const runs = ctx.runs(7, 1);
  const model = await startModel(ctx);
  const worker = await startWorker(ctx, "w1", { ...modelEnv(model.url), ...options.workerEnv });
  const router = await startRouter(ctx, [worker]);

  // `claude -p` directly: its own HOME prepared as the worker prepares its own, a fresh directory per run as the
  // worker makes a workspace per task.
  const home = join(ctx.tmp, "home-direct");
  const workspaces = join(ctx.tmp, "workspaces-direct");
  mkdirSync(workspaces, { recursive: true });
  const model_ = modelEnv(model.url);
  prepareClaudeHome(join(home, ".claude.json"), workspaces, model_.ANTHROPIC_API_KEY);
  const directEnv = claudeEnv({ ...cleanEnv(), ...model_ }, { home });
  const bin = claudeBin();
  let n = 0;
  const direct = async () => {
    const cwd = join(workspaces, `run-${++n}`);
    mkdirSync(cwd);
    const r = expectSuccess("claude -p", await timedRun(bin, ["-p", PROMPT], { env: directEnv, cwd }));
    if (!r.stdout.includes(EXPECTED)) throw new Error(`claude -p printed ${JSON.stringify(r.stdout.slice(0, 200))}`);
    return r.ms;
  };

  const ccEnv = { ...cleanEnv(), XDG_CONFIG_HOME: join(ctx.tmp, "xdg"), NO_COLOR: "1" };
  const viaCc = async () => {
    const args = [CLI_MAIN, "run", "--no-upload", "--router", router.url, "--output-format", "text", PROMPT];
    const r = expectSuccess("cc run", await timedRun(process.execPath, args, { env: ccEnv, cwd: ctx.tmp }));
    if (!r.stdout.includes(EXPECTED)) throw new Error(`cc run printed ${JSON.stringify(r.stdout.slice(0, 200))}`);
    return r.ms;
  };
  // Where the time goes: the same task as a Run from this process over an open connection, to the worker and to the
  // router, without cc's start-up. Reported in the notes, not in the figure.
  const toWorker = workerClient(ctx, worker.url);
  // Warm: each task finds the pool full (not still starting a replacement for the last task); the wait is untimed.
  const settle = () => (options.warm ? waitForFullPool(toWorker) : Promise.resolve());
  const toRouter = routerClient(ctx, router.url);
  const rpc = async (via: "worker" | "router") => {
    let answered = false;
    const onEvent = (ev: RunEvent) => {
      if (ev.event.case === "message" && ev.event.value.json.includes(EXPECTED)) answered = true;
    };
    const t0 = performance.now();
    if (via === "worker") await followWorkerRun(toWorker, { prompt: PROMPT }, onEvent);
    else await followRouterRun(toRouter, { prompt: PROMPT }, onEvent);
    const ms = performance.now() - t0;
    if (!answered) throw new Error(`the ${via} Run did not carry the model's answer`);
    return ms;
  };

  // One untimed run of each: the page cache holds claude's binary and node's compile cache is filled.
  await settle();
  await viaCc();
  await direct();
  await settle();
  await rpc("worker");
  await settle();
  await rpc("router");
  const ccMs: number[] = [];
  const directMs: number[] = [];
  const workerRpcMs: number[] = [];
  const routerRpcMs: number[] = [];
  for (let i = 0; i < runs; i++) {
    await settle();
    ccMs.push(await viaCc());
    directMs.push(await direct());
    await settle();
    workerRpcMs.push(await rpc("worker"));
    await settle();
    routerRpcMs.push(await rpc("router"));
    ctx.log(
      `run ${i + 1}/${runs}: cc run ${ccMs.at(-1)!.toFixed(0)} ms, claude -p ${directMs.at(-1)!.toFixed(0)} ms; Run RPC to the worker ${workerRpcMs.at(-1)!.toFixed(0)} ms, to the router ${routerRpcMs.at(-1)!.toFixed(0)} ms`,
    );
  }
  const notes = [...options.notes];
  const pool = options.warm ? warmPoolOf(await toWorker.getInfo({})) : undefined;
  if (pool) {
    const tasks = 3 * (runs + 1);
    notes.push(`The worker's pool (size ${pool.size}) counted ${pool.hits} hit(s) and ${pool.misses} miss(es) over the ${tasks} tasks run on it.`);
  }
  const breakdown = `Breakdown (medians): a Run RPC from the harness over an open connection took ${median(workerRpcMs).toFixed(0)} ms straight to the worker and ${median(routerRpcMs).toFixed(0)} ms through the router, against ${median(directMs).toFixed(0)} ms for \`claude -p\` and ${median(ccMs).toFixed(0)} ms for \`cc run\`.`;
  return row({
    figure: options.figure,
    key: options.key,
    title: options.title,
    measured: { value: median(ccMs), unit: "ms", label: "cc run" },
    baseline: { value: median(directMs), unit: "ms", label: "claude -p" },
    result: median(ccMs) / median(directMs),
    target: options.target,
    runs,
    notes: [...notes, breakdown],
    samples: { ccRunMs: ccMs, claudeMs: directMs, workerRpcMs, routerRpcMs },
  });
}

const TARGET = { op: "<=", value: 1.05, unit: "×" } as const;
const TITLE = "one-turn task, `cc run` → router → worker (cold) vs `claude -p`";

export const oneTurn: Figure = {
  id: "one-turn",
  number: 1,
  rows: [{ key: "one-turn-cold", title: TITLE, target: TARGET }],
  async run(ctx) {
    return [
      await measureOneTurn(ctx, {
        figure: 1,
        key: "one-turn-cold",
        title: TITLE,
        target: TARGET,
        // Cold means no warm claude waiting, whatever the default of a warm pool becomes.
        workerEnv: hasWarmPool() ? { CC_WARM_POOL: "0" } : {},
        warm: false,
        notes: [
          "Wall time from spawn to exit of `node dist/cc/main.js run --no-upload --router URL --output-format text PROMPT` (router and worker already running, as child processes) and of `claude -p PROMPT`, alternating, against the scripted model; one untimed run of each first.",
        ],
      }),
    ];
  },
};
