// The worker's private runtime directory: its tasks' sockets (credential proxy, egress proxy, hook channel) and
// private files (a task's --mcp-config, which often holds tokens), outside the workspace root. `<tmp>/cc-rt-<pid>-XXXXXX`,
// 0700, removed when the worker closes (task-isolation.ts); the directories of worker processes that died first
// (SIGKILL, OOM) are removed when the next worker starts, since they may hold secrets.
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const PREFIX = "cc-rt-";

/** Sweeps the runtime directories of dead worker processes under `parent`, then makes this process's own. */
export function createRuntimeDir(parent = tmpdir()): string {
  sweepDeadWorkers(parent);
  // mkdtemp makes it 0700.
  return mkdtempSync(join(parent, `${PREFIX}${process.pid}-`));
}

function sweepDeadWorkers(parent: string): void {
  let names: string[];
  try {
    names = readdirSync(parent);
  } catch {
    return;
  }
  for (const name of names) {
    const m = new RegExp(`^${PREFIX}(\\d+)-`).exec(name);
    if (!m || Number(m[1]) === process.pid || alive(Number(m[1]))) continue;
    try {
      rmSync(join(parent, name), { recursive: true, force: true });
    } catch {
      // Another user's directory cannot be removed, and is not ours to.
    }
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
