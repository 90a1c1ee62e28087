// Where things are. The harness runs compiled (dist/bench/) or from source (the vitest harness test), so the
// repository root is found by walking up to this package's package.json rather than by a fixed relative path.
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { bundledClaudePath } from "../../services/worker/claude-bin.js";

function findRepoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, "package.json");
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, "utf8")) as { name?: string }).name === "claudecluster") return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error("bench: cannot find the claudecluster repository root above " + fileURLToPath(import.meta.url));
    dir = up;
  }
}

export const REPO_ROOT = findRepoRoot();
const DIST = join(REPO_ROOT, "dist");

/** What the benchmarks start: the built services and CLI (`npm run build`). */
export const ROUTER_MAIN = join(DIST, "services", "router", "main.js");
export const WORKER_MAIN = join(DIST, "services", "worker", "main.js");
export const MODEL_MAIN = join(DIST, "services", "scripted-model", "main.js");
export const CLI_MAIN = join(DIST, "cc", "main.js");

export const FIXTURES = join(REPO_ROOT, "bench", "fixtures");
export const RESULTS_DIR = join(REPO_ROOT, "bench", "results");
export const DOCS_FILE = join(REPO_ROOT, "docs", "benchmarks.md");

/** The pinned real claude the worker runs by default. */
export function claudeBin(): string {
  const bin = bundledClaudePath();
  if (!bin || !existsSync(bin)) throw new Error("bench: the pinned @anthropic-ai/claude-code is not installed; run `bash scripts/bootstrap.sh`");
  return bin;
}

/** Fails early, with what to do, when the build the benchmarks start is missing. */
export function checkBuilt(): void {
  for (const file of [ROUTER_MAIN, WORKER_MAIN, MODEL_MAIN, CLI_MAIN]) {
    if (!existsSync(file)) throw new Error(`bench: ${file} is missing; build first (\`npm run build\`, or use \`bash bench/run.sh\`)`);
  }
}
