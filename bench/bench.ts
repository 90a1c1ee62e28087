// The harness: runs the chosen figures one after another (never two at once: they would measure each other), then
// writes the run to bench/results/ and, for a full run, regenerates the table in docs/benchmarks.md.
import { loadavg } from "node:os";
import { join } from "node:path";
import { figureScope, type Figure, type FigureScope } from "./lib/context.js";
import { describeMachine } from "./lib/machine.js";
import { checkBuilt, DOCS_FILE, RESULTS_DIR } from "./lib/paths.js";
import { updateDocs, writeRun, type BenchRun, type Row } from "./lib/results.js";
import { coldStart } from "./figures/cold-start.js";
import { latency } from "./figures/latency.js";
import { oneTurn } from "./figures/one-turn.js";
import { routerMemory } from "./figures/router-memory.js";
import { sandbox } from "./figures/sandbox.js";
import { storeFigure } from "./figures/store.js";
import { throughput } from "./figures/throughput.js";
import { transfer } from "./figures/transfer.js";
import { warmPool } from "./figures/warm-pool.js";
import { workerMemory } from "./figures/worker-memory.js";
import { environments } from "./figures/environments.js";
import { routerHop } from "./figures/router-hop.js";
import { taskRate } from "./figures/task-rate.js";

/** In the order of the table. */
export const FIGURES: readonly Figure[] = [oneTurn, warmPool, throughput, latency, routerMemory, workerMemory, coldStart, transfer, sandbox, storeFigure, environments, routerHop, taskRate];

export interface BenchOptions {
  /** Figure ids; none means all. */
  figures?: string[];
  quick?: boolean;
  /** Where BENCH_* knobs are read from (default process.env). */
  env?: Record<string, string | undefined>;
  resultsDir?: string;
  docsFile?: string;
  /** Regenerate the docs table; default only for a full, non-quick run. */
  updateDocs?: boolean;
  /** The command line recorded with the results. */
  command?: string;
  log?: (message: string) => void;
}

export interface BenchOutcome {
  run: BenchRun;
  /** The JSON file written. */
  file: string;
  docsUpdated: boolean;
}

/** Scopes of figures running now, so a signal can stop what they started. */
export const activeScopes = new Set<FigureScope>();

export function selectFigures(ids: string[]): Figure[] {
  if (ids.length === 0) return [...FIGURES];
  const unknown = ids.filter((id) => !FIGURES.some((f) => f.id === id));
  if (unknown.length > 0) throw new Error(`unknown figure(s) ${unknown.join(", ")}; choose from ${FIGURES.map((f) => f.id).join(", ")}`);
  return FIGURES.filter((f) => ids.includes(f.id));
}

function localDate(d: Date): string {
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

export async function runBench(options: BenchOptions = {}): Promise<BenchOutcome> {
  checkBuilt();
  const env = options.env ?? process.env;
  const quick = options.quick ?? false;
  const log = options.log ?? ((m: string) => process.stderr.write(m + "\n"));
  const figures = selectFigures(options.figures ?? []);
  const full = figures.length === FIGURES.length;
  const started = new Date();
  const machine = describeMachine();
  log(`bench: ${figures.map((f) => f.id).join(", ")}${quick ? " (quick)" : ""}`);

  const rows: Row[] = [];
  const load = () => Math.round((loadavg()[0] ?? 0) * 100) / 100;
  for (const figure of figures) {
    const before = load();
    const first = rows.length;
    const scope = figureScope(figure, { quick, env, log });
    activeScopes.add(scope);
    const t0 = Date.now();
    try {
      rows.push(...(await figure.run(scope.ctx)));
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      scope.ctx.log(`failed: ${message}`);
      for (const r of figure.rows) rows.push({ figure: figure.number, ...r, status: "error", runs: 0, notes: [`The figure failed: ${message.split("\n")[0]}`] });
    } finally {
      await scope.close();
      activeScopes.delete(scope);
    }
    const after = load();
    for (const r of rows.slice(first)) r.load = { before, after };
    scope.ctx.log(`done in ${((Date.now() - t0) / 1000).toFixed(1)} s (load average ${before} → ${after})`);
  }

  const date = localDate(started);
  const run: BenchRun = {
    date,
    startedAt: started.toISOString(),
    finishedAt: new Date().toISOString(),
    command: options.command ?? "node dist/bench/main.js",
    quick,
    figuresRequested: figures.map((f) => f.id),
    machine,
    loadAverageAfter: load(),
    rows,
  };
  // A full run is the day's record; a partial or quick one is kept beside it under its own name.
  const suffix = [full ? "" : figures.map((f) => f.id).join("+"), quick ? "quick" : ""].filter(Boolean).join("-");
  const file = join(options.resultsDir ?? RESULTS_DIR, `${date}${suffix ? "-" + suffix : ""}.json`);
  writeRun(file, run);
  const docs = options.updateDocs ?? (full && !quick);
  if (docs) updateDocs(options.docsFile ?? DOCS_FILE, run);
  return { run, file, docsUpdated: docs };
}
