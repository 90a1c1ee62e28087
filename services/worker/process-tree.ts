// Ending a task means ending everything it started. Process groups and sessions are not enough: claude's Bash tool
// runs every command in a session of its own (setsid), and children of a killed claude are reparented away from
// it. What they all keep is their environment, so claude starts with CC_TASK_ID=<task id>, and ending a task
// signals claude's process group and then every process whose environment carries that id.
import { readdirSync, readFileSync } from "node:fs";

export const TASK_ID_ENV = "CC_TASK_ID";
/** The pid of the worker that started a task's processes: if it is gone, they are orphans. */
export const WORKER_PID_ENV = "CC_WORKER_PID";

/** Live processes (Linux /proc) with their environment; empty where /proc is absent. */
function* processEnvironments(): Generator<{ pid: number; env: string[] }> {
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    return;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      yield { pid: Number(entry), env: readFileSync(`/proc/${entry}/environ`, "latin1").split("\0") };
    } catch {
      // Exited meanwhile, or not ours to read.
    }
  }
}

/** Pids of live processes whose environment has CC_TASK_ID=<taskId>. */
export function taskProcesses(taskId: string): number[] {
  const marker = `${TASK_ID_ENV}=${taskId}`;
  return [...processEnvironments()].filter((p) => p.env.includes(marker)).map((p) => p.pid);
}

/**
 * Kills task processes whose worker no longer exists (it was SIGKILLed or crashed, so it could not end them).
 * Processes of live workers, including other workers on this machine, are left alone. Returns the pids killed.
 */
export function sweepOrphans(): number[] {
  const killed: number[] = [];
  for (const { pid, env } of processEnvironments()) {
    const owner = Number(env.find((e) => e.startsWith(`${WORKER_PID_ENV}=`))?.slice(WORKER_PID_ENV.length + 1));
    if (!owner || isAlive(owner)) continue;
    trySignal(pid, "SIGKILL");
    killed.push(pid);
  }
  return killed;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Tasks to look for in the next pass over /proc, with the signal each gets (SIGKILL wins over SIGTERM). */
const pending = new Map<string, NodeJS.Signals>();
let sweepScheduled = false;

/**
 * Sends `signal` to claude's process group at once, and to every process of the task in a pass over /proc on the
 * next turn of the event loop. One pass serves every task signalled in the same turn: reading the environment of
 * every process on the machine is the expensive part, and when hundreds of tasks end together a pass per task kept
 * a busy worker from answering for seconds. Never throws.
 */
export function signalTask(taskId: string, leaderPid: number | undefined, signal: NodeJS.Signals): void {
  if (leaderPid !== undefined) trySignal(-leaderPid, signal);
  if (pending.get(taskId) !== "SIGKILL") pending.set(taskId, signal);
  if (sweepScheduled) return;
  sweepScheduled = true;
  setImmediate(signalPending);
}

function signalPending(): void {
  sweepScheduled = false;
  const byMarker = new Map([...pending].map(([taskId, signal]) => [`${TASK_ID_ENV}=${taskId}`, signal]));
  pending.clear();
  for (const { pid, env } of processEnvironments()) {
    for (const entry of env) {
      const signal = byMarker.get(entry);
      if (signal) {
        trySignal(pid, signal);
        break;
      }
    }
  }
}

function trySignal(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // ESRCH: already gone, which is what we want.
  }
}

/** Tasks waiting for their processes to be gone: what each waits for, and until when. */
const waiting = new Map<string, { deadline: number; resolve: (left: number[]) => void }[]>();
let waitTimer: NodeJS.Timeout | undefined;
const GONE_POLL_MS = 20;

/**
 * Resolves once no process carries CC_TASK_ID=<taskId>, SIGKILLing any still there on each pass, or at the
 * deadline with the pids left. A SIGKILLed process takes a moment to die: this is what lets "the task ended" mean
 * "its processes are gone" (Cancel answers after it). One pass over /proc serves every task waiting.
 */
export function whenTaskProcessesGone(taskId: string, timeoutMs: number): Promise<number[]> {
  return new Promise((resolve) => {
    const list = waiting.get(taskId) ?? [];
    list.push({ deadline: Date.now() + timeoutMs, resolve });
    waiting.set(taskId, list);
    waitTimer ??= setTimeout(checkGone, 0);
  });
}

function checkGone(): void {
  waitTimer = undefined;
  const alive = new Map<string, number[]>();
  const markers = new Map([...waiting.keys()].map((taskId) => [`${TASK_ID_ENV}=${taskId}`, taskId]));
  for (const { pid, env } of processEnvironments()) {
    for (const entry of env) {
      const taskId = markers.get(entry);
      if (taskId === undefined) continue;
      // A zombie has an empty environment, so only processes that still run are found.
      trySignal(pid, "SIGKILL");
      alive.set(taskId, [...(alive.get(taskId) ?? []), pid]);
      break;
    }
  }
  const now = Date.now();
  for (const [taskId, list] of waiting) {
    const left = alive.get(taskId) ?? [];
    const still = list.filter((w) => {
      if (left.length > 0 && now < w.deadline) return true;
      w.resolve(left);
      return false;
    });
    if (still.length > 0) waiting.set(taskId, still);
    else waiting.delete(taskId);
  }
  if (waiting.size > 0) waitTimer = setTimeout(checkGone, GONE_POLL_MS);
}
