// `node dist/bench/main.js [figure ...]` (or `bash bench/run.sh [figure ...]`, which builds first): runs the
// benchmarks, prints the table, writes bench/results/<date>.json and, for a full run, the table in
// docs/benchmarks.md. Knobs: BENCH_QUICK=1, BENCH_RUNS, BENCH_RUNS_<FIGURE>, BENCH_DOCS=0|1, and per-figure
// BENCH_* sizes listed in docs/benchmarks.md.
import { relative } from "node:path";
import { activeScopes, FIGURES, runBench } from "./bench.js";
import { REPO_ROOT } from "./lib/paths.js";
import { textTable } from "./lib/results.js";

const USAGE = `usage: node dist/bench/main.js [figure ...]
figures: ${FIGURES.map((f) => `${f.id} (${f.number})`).join(", ")}; none means all`;

async function main(args: string[]): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    process.stdout.write(USAGE + "\n");
    return 0;
  }
  const docs = process.env["BENCH_DOCS"];
  // The command as it was given, with the knobs that shaped the run.
  const knobs = Object.entries(process.env)
    .filter(([key, value]) => key.startsWith("BENCH_") && key !== "BENCH_COMMAND" && value)
    .map(([key, value]) => `${key}=${value}`)
    .sort();
  const outcome = await runBench({
    figures: args,
    quick: process.env["BENCH_QUICK"] === "1",
    command: [...knobs, process.env["BENCH_COMMAND"] || ["node dist/bench/main.js", ...args].join(" ")].join(" "),
    ...(docs === "1" || docs === "0" ? { updateDocs: docs === "1" } : {}),
  });
  process.stdout.write("\n" + textTable(outcome.run.rows) + "\n\n");
  process.stdout.write(`results: ${relative(REPO_ROOT, outcome.file)}${outcome.docsUpdated ? "; table regenerated in docs/benchmarks.md" : ""}\n`);
  return outcome.run.rows.some((r) => r.status === "error") ? 1 : 0;
}

// Whatever the figures started stops with the harness.
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    process.stderr.write(`bench: ${signal}, stopping\n`);
    void Promise.all([...activeScopes].map((s) => s.close())).finally(() => process.exit(130));
  });
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(2);
  },
);
