// Ending a task means ending everything it started. Process groups and sessions are not enough: claude's Bash tool
// runs every command in a session of its own (setsid), and children of a killed claude are reparented away from
// it. What they all keep is their environment, so claude starts with CC_TASK_ID=<task id>, and ending a task
// signals claude's process group and then every process whose environment carries that id.
import { readdirSync, readFileSync } from "node:fs";

export const TASK_ID_ENV = "CC_TASK_ID";

/** Pids of live processes (Linux /proc) whose environment has CC_TASK_ID=<taskId>; empty where /proc is absent. */
export function taskProcesses(taskId: string): number[] {
  const marker = Buffer.from(`\0${TASK_ID_ENV}=${taskId}\0`);
  const atStart = Buffer.from(`${TASK_ID_ENV}=${taskId}\0`);
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    return [];
  }
  const pids: number[] = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    let environ: Buffer;
    try {
      environ = readFileSync(`/proc/${entry}/environ`);
    } catch {
      continue; // Exited meanwhile, or not ours to read.
    }
    if (environ.includes(marker) || environ.subarray(0, atStart.length).equals(atStart)) pids.push(Number(entry));
  }
  return pids;
}

/** Sends `signal` to claude's process group and to every process of the task. Never throws. */
export function signalTask(taskId: string, leaderPid: number | undefined, signal: NodeJS.Signals): void {
  if (leaderPid !== undefined) trySignal(-leaderPid, signal);
  for (const pid of taskProcesses(taskId)) trySignal(pid, signal);
}

function trySignal(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // ESRCH: already gone, which is what we want.
  }
}
