// Ending a task means ending everything it started. Process groups are not enough: claude's Bash tool runs every
// command in a session of its own (setsid), and children of a killed claude are reparented away from it. So a
// task's processes are found three ways, any of which is enough:
//   - the sandbox's PID namespace: everything a sandboxed task runs is inside the namespace bwrap made for it, and
//     nothing can leave it (the surest test, and the only one a process cannot undo);
//   - the process tag: claude (and the sandbox around it) starts with CC_TASK_ID=<tag> in its environment, which
//     children inherit (a process that clears its environment escapes it; a sandbox's init, which never does, is
//     found by it even when the bwrap that started it is gone);
//   - the session: processes still in the session of the process the worker started.
// Ending a task signals the leader's process group at once, then every process found in a pass over /proc.
import { readdirSync, readFileSync, readlinkSync } from "node:fs";

export const TASK_ID_ENV = "CC_TASK_ID";

interface ProcessInfo {
  pid: number;
  session: number;
  /** Its PID namespace, e.g. "pid:[4026532179]"; empty if unreadable. Read on first use: only sandboxes need it. */
  pidNamespace(): string;
  /** Its environment, read on first use (the most expensive part of a pass). */
  env(): string[];
}

/**
 * Running processes (Linux /proc), not zombies: a zombie no longer runs, it only waits to be reaped. Empty where /proc
 * is absent. Nothing is remembered between passes: a process read between its fork and its exec (node-pty's child,
 * say) shows its parent's environment, and a tag remembered from then was wrong once it had exec'd.
 */
function* processes(): Generator<ProcessInfo> {
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    return;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, "latin1");
    } catch {
      continue; // exited meanwhile
    }
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (fields[0] === "Z") continue;
    let env: string[] | undefined;
    let namespace: string | undefined;
    yield {
      pid: Number(entry),
      session: Number(fields[3]),
      pidNamespace: () => (namespace ??= readLink(`/proc/${entry}/ns/pid`)),
      env: () => (env ??= readEnvironment(entry)),
    };
  }
}

function readEnvironment(pid: string): string[] {
  try {
    return readFileSync(`/proc/${pid}/environ`, "latin1").split("\0");
  } catch {
    return []; // exited meanwhile, or not ours to read
  }
}

function readLink(path: string): string {
  try {
    return readlinkSync(path);
  } catch {
    return "";
  }
}

/** This process's own PID namespace: a child in another one was put there by a sandbox. */
const OWN_PID_NAMESPACE = readLink("/proc/self/ns/pid");

function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "latin1").trim().split(" ").filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** The init of the PID namespace a sandbox started as `leaderPid` made (bwrap forks it), if there is one. */
function sandboxInit(leaderPid: number): number | undefined {
  return childrenOf(leaderPid).find((child) => {
    const ns = readLink(`/proc/${child}/ns/pid`);
    return ns !== "" && ns !== OWN_PID_NAMESPACE;
  });
}

/** The PID namespace of the sandbox started as `leaderPid`; empty when there is none (no sandbox, or it is gone). */
export function sandboxNamespace(leaderPid: number): string {
  const init = sandboxInit(leaderPid);
  return init === undefined ? "" : readLink(`/proc/${init}/ns/pid`);
}

/** The sandboxed command itself (pid 2 of its namespace: the init's first child), as the worker numbers it. */
export function sandboxedCommand(leaderPid: number): number | undefined {
  const init = sandboxInit(leaderPid);
  return init === undefined ? undefined : childrenOf(init)[0];
}

/** How to recognise one task's processes in a pass. */
interface TaskMatcher {
  marker: string;
  namespace: string;
  session: number | undefined;
}

function matcher(tag: string, leaderPid: number | undefined): TaskMatcher {
  return { marker: `${TASK_ID_ENV}=${tag}`, namespace: leaderPid === undefined ? "" : sandboxNamespace(leaderPid), session: leaderPid };
}

function matches(p: ProcessInfo, m: TaskMatcher): boolean {
  if (m.session !== undefined && p.session === m.session) return true;
  if (m.namespace && p.pidNamespace() === m.namespace) return true;
  return p.env().includes(m.marker);
}

/** Pids of a task's live processes: tagged `tag`, or in the sandbox or session of `leaderPid`. */
export function taskProcesses(tag: string, leaderPid?: number): number[] {
  const m = matcher(tag, leaderPid);
  return [...processes()].filter((p) => matches(p, m)).map((p) => p.pid);
}

/** Kills every process tagged with one of `tags` (tasks whose worker died and could not end them). Returns the pids. */
export function sweepOrphans(tags: readonly string[]): number[] {
  if (tags.length === 0) return [];
  const markers = new Set(tags.map((tag) => `${TASK_ID_ENV}=${tag}`));
  const killed: number[] = [];
  for (const p of processes()) {
    if (!p.env().some((entry) => markers.has(entry))) continue;
    trySignal(p.pid, "SIGKILL");
    killed.push(p.pid);
  }
  return killed;
}

/** Tasks to look for in the next pass over /proc, with the signal each gets (SIGKILL wins over SIGTERM). */
const pending = new Map<string, { signal: NodeJS.Signals; leaderPid: number | undefined }>();
let sweepScheduled = false;

/**
 * Sends `signal` to the leader's process group at once, and to every process of the task in a pass over /proc on
 * the next turn of the event loop. One pass serves every task signalled in the same turn: reading every process on
 * the machine is the expensive part, and when hundreds of tasks end together a pass per task kept a busy worker
 * from answering for seconds. Never throws.
 */
export function signalTask(tag: string, leaderPid: number | undefined, signal: NodeJS.Signals): void {
  if (leaderPid !== undefined) trySignal(-leaderPid, signal);
  const before = pending.get(tag);
  pending.set(tag, { signal: before?.signal === "SIGKILL" ? "SIGKILL" : signal, leaderPid: leaderPid ?? before?.leaderPid });
  if (sweepScheduled) return;
  sweepScheduled = true;
  setImmediate(signalPending);
}

function signalPending(): void {
  sweepScheduled = false;
  // The namespace is read now, while the sandbox's leader still lives (once it is gone, so is its namespace).
  const tasks = [...pending].map(([tag, { signal, leaderPid }]) => ({ m: matcher(tag, leaderPid), signal }));
  pending.clear();
  for (const p of processes()) {
    const task = tasks.find(({ m }) => matches(p, m));
    if (task) trySignal(p.pid, task.signal);
  }
}

function trySignal(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // ESRCH: already gone, which is what we want.
  }
}

/** Tasks waiting for their processes to be gone: how to recognise them, what each waits for, and until when. */
const waiting = new Map<string, { leaderPid: number | undefined; waiters: { deadline: number; resolve: (left: number[]) => void }[] }>();
let waitTimer: NodeJS.Timeout | undefined;
const GONE_POLL_MS = 20;

/**
 * Resolves once no process of the task runs (tagged `tag`, or in the sandbox or session of `leaderPid`), SIGKILLing
 * any still there on each pass, or at the deadline with the pids left. A SIGKILLed process takes a moment to die:
 * this is what lets "the task ended" mean "its processes are gone" (Cancel answers after it). One pass over /proc
 * serves every task waiting.
 */
export function whenTaskProcessesGone(tag: string, leaderPid: number | undefined, timeoutMs: number): Promise<number[]> {
  return new Promise((resolve) => {
    const entry = waiting.get(tag) ?? { leaderPid, waiters: [] };
    entry.leaderPid ??= leaderPid;
    entry.waiters.push({ deadline: Date.now() + timeoutMs, resolve });
    waiting.set(tag, entry);
    waitTimer ??= setTimeout(checkGone, 0);
  });
}

function checkGone(): void {
  waitTimer = undefined;
  const alive = new Map<string, number[]>();
  const tasks = [...waiting].map(([tag, { leaderPid }]) => ({ tag, m: matcher(tag, leaderPid) }));
  for (const p of processes()) {
    const task = tasks.find(({ m }) => matches(p, m));
    if (!task) continue;
    trySignal(p.pid, "SIGKILL");
    alive.set(task.tag, [...(alive.get(task.tag) ?? []), p.pid]);
  }
  const now = Date.now();
  for (const [tag, entry] of waiting) {
    const left = alive.get(tag) ?? [];
    entry.waiters = entry.waiters.filter((w) => {
      if (left.length > 0 && now < w.deadline) return true;
      w.resolve(left);
      return false;
    });
    if (entry.waiters.length === 0) waiting.delete(tag);
  }
  if (waiting.size > 0) waitTimer = setTimeout(checkGone, GONE_POLL_MS);
}
