// What a figure gets to work with: how many runs, its knobs, a scratch directory, and cleanup that runs however
// the figure ends (processes it started are stopped, its directory removed).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Row, Target } from "./results.js";

export interface BenchContext {
  /** BENCH_QUICK=1: each figure runs minimally, to prove the harness rather than to measure. */
  readonly quick: boolean;
  /** Scratch directory of this figure, removed afterwards. */
  readonly tmp: string;
  /** Runs to take the median over: BENCH_RUNS_<FIGURE> (e.g. BENCH_RUNS_LATENCY), else BENCH_RUNS, else the default. */
  runs(normal: number, quick?: number): number;
  /** A numeric knob: BENCH_<NAME>, else the default (the quick default in quick mode). */
  param(name: string, normal: number, quick?: number): number;
  /** Runs at cleanup, last registered first. */
  defer(fn: () => unknown): void;
  log(message: string): void;
}

export interface Figure {
  /** The name on the command line, e.g. `bash bench/run.sh cold-start`. */
  id: string;
  number: number;
  /** The rows it reports, so a figure that fails still shows up in the table. */
  rows: Array<{ key: string; title: string; target: Target }>;
  run(ctx: BenchContext): Promise<Row[]>;
}

function positiveNumber(name: string, raw: string | undefined): number | undefined {
  if (raw === undefined || raw === "") return undefined;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name}=${JSON.stringify(raw)} must be a positive number`);
  return value;
}

export interface FigureScope {
  ctx: BenchContext;
  close(): Promise<void>;
}

export function figureScope(figure: Figure, options: { quick: boolean; env: Record<string, string | undefined>; log: (message: string) => void }): FigureScope {
  const { quick, env } = options;
  const tmp = mkdtempSync(join(tmpdir(), `cc-bench-${figure.id}-`));
  const cleanups: Array<() => unknown> = [];
  const envName = figure.id.toUpperCase().replace(/-/g, "_");
  const ctx: BenchContext = {
    quick,
    tmp,
    runs(normal, quickRuns = 1) {
      const chosen = positiveNumber(`BENCH_RUNS_${envName}`, env[`BENCH_RUNS_${envName}`]) ?? positiveNumber("BENCH_RUNS", env["BENCH_RUNS"]);
      return Math.max(1, Math.round(chosen ?? (quick ? quickRuns : normal)));
    },
    param(name, normal, quickValue = normal) {
      return positiveNumber(`BENCH_${name}`, env[`BENCH_${name}`]) ?? (quick ? quickValue : normal);
    },
    defer(fn) {
      cleanups.push(fn);
    },
    log: (message) => options.log(`[${figure.number} ${figure.id}] ${message}`),
  };
  return {
    ctx,
    async close() {
      for (const fn of cleanups.reverse()) {
        try {
          await fn();
        } catch (err) {
          ctx.log(`cleanup failed: ${err instanceof Error ? err.message : String(err)}`);
        }
      }
      rmSync(tmp, { recursive: true, force: true });
    },
  };
}
