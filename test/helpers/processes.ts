// The process table, as tests see it: which processes are still working inside a directory tree.
import { readdirSync, readlinkSync } from "node:fs";
import { sep } from "node:path";

/** Pids of live processes whose working directory is `dir` or below it. */
export function processesUnder(dir: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cwd = readlinkSync(`/proc/${entry}/cwd`);
      if (cwd === dir || cwd.startsWith(dir + sep)) pids.push(Number(entry));
    } catch {
      // Exited meanwhile, or not ours to read.
    }
  }
  return pids;
}

/** Waits (polling, bounded) until no process works under `dir`; returns the pids still there at the deadline. */
export async function waitForNoProcessesUnder(dir: string, timeoutMs = 10_000): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = processesUnder(dir);
    if (left.length === 0 || Date.now() > deadline) return left;
    await new Promise((r) => setTimeout(r, 50));
  }
}
