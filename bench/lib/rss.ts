// Resident memory of a process (Linux /proc), as the kernel counts it: what a container's memory limit sees.
import { readFileSync } from "node:fs";
import { median } from "./stats.js";

export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  if (!m) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(m[1]) * 1024;
}

/** Samples RSS every `intervalMs` for `durationMs`. */
export async function sampleRss(pid: number, durationMs: number, intervalMs = 250): Promise<number[]> {
  const samples: number[] = [];
  const deadline = Date.now() + durationMs;
  do {
    samples.push(rssBytes(pid));
    await new Promise((r) => setTimeout(r, intervalMs));
  } while (Date.now() < deadline);
  return samples;
}

/** The median of a sampling window: one GC or allocation burst does not decide the figure. */
export async function steadyRss(pid: number, durationMs: number, intervalMs = 250): Promise<{ median: number; samples: number[] }> {
  const samples = await sampleRss(pid, durationMs, intervalMs);
  return { median: median(samples), samples };
}
