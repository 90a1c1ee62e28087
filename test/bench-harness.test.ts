// The benchmark harness (bench/) works end to end: the quick mode of two cheap figures runs against the built
// services, writes a results file that parses, and regenerates a docs table between its markers. Benchmarks are
// never timed assertions, so nothing here judges a number beyond its being one.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runBench } from "../bench/bench.js";
import { END_MARKER, START_MARKER, type BenchRun } from "../bench/lib/results.js";

describe("benchmark harness", () => {
  const dir = mkdtempSync(join(tmpdir(), "cc-bench-test-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("runs quick figures, writes valid JSON and regenerates the docs table", async () => {
    const docs = join(dir, "benchmarks.md");
    writeFileSync(docs, `# Benchmarks\n\nbefore\n\n${START_MARKER}\nold table\n${END_MARKER}\n\nafter\n`);
    const outcome = await runBench({
      figures: ["cold-start", "latency"],
      quick: true,
      env: {},
      resultsDir: dir,
      docsFile: docs,
      updateDocs: true,
      command: "test",
      log: () => {},
    });

    expect(outcome.file).toMatch(/\/\d{4}-\d{2}-\d{2}-latency\+cold-start-quick\.json$/);
    const run = JSON.parse(readFileSync(outcome.file, "utf8")) as BenchRun;
    expect(run.quick).toBe(true);
    expect(run.figuresRequested).toEqual(["latency", "cold-start"]);
    expect(run.machine).toMatchObject({ node: process.version });
    for (const field of ["cpu", "os", "claude", "commit"] as const) expect(run.machine[field]).not.toBe("");
    expect(run.machine.cores).toBeGreaterThan(0);
    expect(run.machine.ramBytes).toBeGreaterThan(0);

    expect(run.rows.map((r) => [r.figure, r.key])).toEqual([
      [4, "latency-p50"],
      [4, "latency-p99"],
      [7, "cold-start"],
    ]);
    for (const r of run.rows) {
      // Measured (pass or miss, whichever it was), never an error; every number a number.
      expect(["pass", "miss"], `${r.key}: ${r.notes.join(" ")}`).toContain(r.status);
      expect(r.runs).toBeGreaterThan(0);
      for (const n of [r.measured?.value, r.baseline?.value, r.result]) expect(Number.isFinite(n)).toBe(true);
    }

    const text = readFileSync(docs, "utf8");
    expect(text).not.toContain("old table");
    expect(text.startsWith("# Benchmarks\n\nbefore\n\n")).toBe(true);
    expect(text.endsWith(`${END_MARKER}\n\nafter\n`)).toBe(true);
    expect(text).toContain("| 7 | `cc --help` cold start vs `node -e 0` |");
    expect(text).toContain("with `test` in quick mode");
  }, 120_000);
});
