// The machine a run was measured on, recorded beside the figures: numbers without it mean little.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { availableParallelism, cpus, loadavg, release, totalmem, type as osType } from "node:os";
import { claudeBin, REPO_ROOT } from "./paths.js";

export interface Machine {
  cpu: string;
  cores: number;
  ramBytes: number;
  os: string;
  node: string;
  claude: string;
  commit: string;
  /** Uncommitted changes in the working tree when the run started. */
  dirty: boolean;
  /** 1-minute load average when the run started: other work on the machine skews every figure. */
  loadAverage: number;
}

function tryRun(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { cwd: REPO_ROOT, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"], timeout: 20_000 }).trim();
  } catch {
    return "";
  }
}

function osName(): string {
  let pretty = "";
  try {
    pretty = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(readFileSync("/etc/os-release", "utf8"))?.[1] ?? "";
  } catch {
    // No os-release (not Linux, or a minimal image).
  }
  const kernel = `${osType()} ${release()}`;
  return pretty ? `${pretty} (${kernel})` : kernel;
}

export function describeMachine(): Machine {
  return {
    cpu: cpus()[0]?.model.trim() ?? "unknown",
    cores: availableParallelism(),
    ramBytes: totalmem(),
    os: osName(),
    node: process.version,
    claude: tryRun(claudeBin(), ["--version"]) || "unknown",
    commit: tryRun("git", ["rev-parse", "HEAD"]) || "unknown",
    dirty: tryRun("git", ["status", "--porcelain", "--untracked-files=no"]) !== "",
    loadAverage: Math.round((loadavg()[0] ?? 0) * 100) / 100,
  };
}

export function machineLine(m: Machine): string {
  const ram = `${Math.round((m.ramBytes / 1024 ** 3) * 10) / 10} GiB RAM`;
  const commit = `commit ${m.commit.slice(0, 12)}${m.dirty ? " with uncommitted changes" : ""}`;
  return `${m.cpu}, ${m.cores} cores, ${ram}, ${m.os}, Node ${m.node}, claude ${m.claude}, ${commit}; load average ${m.loadAverage} at the start`;
}
