// The process table, as tests see it: which processes are still working inside a directory tree, and which
// processes a test's tasks left behind. A leftover is found three ways, so one that changed one of them is still
// caught:
// - its working directory is under the directory (a task's workspace, or a root holding many);
// - its task tag, CC_TASK_ID in /proc/<pid>/environ (the worker puts it on every process of a task), names a task
//   of that directory: the ids of the `.tasks/<id>` workspaces under it, ids the test gives, and the tags of processes
//   seen under it before — a leftover that did `cd /` keeps its tag;
// - its session or process group is that of a tagged process seen before (claude's Bash tool runs each command in
//   a session of its own) — a leftover that cleared its environment and left the directory is still in it.
// Every scan remembers the sessions, groups and working directories of the tagged processes it sees, for later ones.
import { readdirSync, readFileSync, readlinkSync, statSync } from "node:fs";
import { basename, dirname, join, sep } from "node:path";

const TASK_ID_ENV = "CC_TASK_ID";

interface Proc {
  pid: number;
  /** R, S, D, T, Z (a zombie: exited, not yet reaped, nothing left running) ... */
  state: string;
  cwd: string | undefined;
  tag: string | undefined;
  sid: number;
  pgid: number;
}

/**
 * What earlier scans saw of each task tag: its sessions and process groups (each with the start time its leader had
 * then, see sameLeader), and its working directories.
 */
const seen = new Map<string, { sessions: Map<number, string | undefined>; groups: Map<number, string | undefined>; cwds: Set<string> }>();

/** When process `pid` started (clock ticks since boot), or undefined when there is none. */
function startOf(pid: number): string | undefined {
  try {
    return statFields(pid)[19];
  } catch {
    return undefined;
  }
}

/**
 * Whether session (or group) `id` is still the one seen: ids are pids, and Linux gives a pid out again only once
 * no process uses it as pid, group or session. So while its leader is gone the id cannot have been reused; while
 * a leader lives, it must be the same process (same start time) as when seen.
 */
function sameLeader(id: number, startedThen: string | undefined): boolean {
  const now = startOf(id);
  return now === undefined || now === startedThen;
}

/** This process and its ancestors (vitest), and their session and group: never a test's leftovers. */
const own = (() => {
  const pids = new Set<number>();
  for (let pid = process.pid; pid > 1 && !pids.has(pid); pid = parentOf(pid)) pids.add(pid);
  const self = readProc(process.pid);
  return { pids, sessions: new Set(self ? [self.sid] : []), groups: new Set(self ? [self.pgid] : []) };
})();

/** The fields of /proc/<pid>/stat after `pid (comm)`: comm may hold spaces and parentheses. */
function statFields(pid: number): string[] {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
}

function parentOf(pid: number): number {
  try {
    return Number(statFields(pid)[1]);
  } catch {
    return 1;
  }
}

function readProc(pid: number): Proc | undefined {
  try {
    // state ppid pgrp session ...
    const fields = statFields(pid);
    let cwd: string | undefined;
    let tag: string | undefined;
    try {
      cwd = readlinkSync(`/proc/${pid}/cwd`);
    } catch {
      // A zombie, or not ours to read.
    }
    try {
      const env = readFileSync(`/proc/${pid}/environ`, "utf8").split("\0");
      tag = env.find((e) => e.startsWith(`${TASK_ID_ENV}=`))?.slice(TASK_ID_ENV.length + 1);
    } catch {
      // Not ours to read.
    }
    return { pid, state: fields[0] ?? "", cwd, tag, pgid: Number(fields[2]), sid: Number(fields[3]) };
  } catch {
    return undefined;
  }
}

/** Every live process but ours, remembering what the tagged ones show. */
function scan(): Proc[] {
  const procs: Proc[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || own.pids.has(Number(entry))) continue;
    const p = readProc(Number(entry));
    if (!p || p.state === "Z" || p.state === "X") continue;
    procs.push(p);
    if (p.tag) {
      const s = seen.get(p.tag) ?? { sessions: new Map(), groups: new Map(), cwds: new Set() };
      seen.set(p.tag, s);
      if (!own.sessions.has(p.sid) && !s.sessions.has(p.sid)) s.sessions.set(p.sid, startOf(p.sid));
      if (!own.groups.has(p.pgid) && !s.groups.has(p.pgid)) s.groups.set(p.pgid, startOf(p.pgid));
      if (p.cwd) s.cwds.add(p.cwd);
    }
  }
  return procs;
}

const under = (path: string | undefined, dir: string) => path !== undefined && (path === dir || path.startsWith(dir + sep));

/** Pids of live processes whose working directory is `dir` or below it. */
export function processesUnder(dir: string): number[] {
  return scan()
    .filter((p) => under(p.cwd, dir))
    .map((p) => p.pid);
}

/** The task ids whose workspaces are under `dir` (or that `dir` is): `<...>/.tasks/<id>`. */
function workspaceTags(dir: string): string[] {
  if (basename(dirname(dir)) === ".tasks") return [basename(dir)];
  const tags: string[] = [];
  const visit = (d: string, depth: number) => {
    let names: string[];
    try {
      names = readdirSync(d);
    } catch {
      return;
    }
    for (const name of names) {
      const path = join(d, name);
      if (name === ".tasks") {
        tags.push(...readdirSync(path));
        continue;
      }
      if (depth > 0 && !name.startsWith(".") && isDir(path)) visit(path, depth - 1);
    }
  };
  visit(dir, 3);
  return tags;
}

function isDir(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Pids of live processes that the tasks of `dir` left: working under it, tagged as one of its tasks (or of
 * `taskIds`), or in a session or process group such a process had.
 */
export function leftoverProcesses(dir: string, taskIds: string[] = []): number[] {
  const procs = scan();
  const tags = new Set([...taskIds, ...workspaceTags(dir)]);
  for (const [tag, s] of seen) if ([...s.cwds].some((cwd) => under(cwd, dir))) tags.add(tag);
  const sessions = new Set<number>();
  const groups = new Set<number>();
  for (const tag of tags) {
    for (const [sid, started] of seen.get(tag)?.sessions ?? []) if (sameLeader(sid, started)) sessions.add(sid);
    for (const [pgid, started] of seen.get(tag)?.groups ?? []) if (sameLeader(pgid, started)) groups.add(pgid);
  }
  return procs
    .filter((p) => under(p.cwd, dir) || (p.tag !== undefined && tags.has(p.tag)) || sessions.has(p.sid) || groups.has(p.pgid))
    .map((p) => p.pid);
}

/** Waits (polling, bounded) until the tasks of `dir` left nothing running; returns what is still there at the deadline. */
export async function waitForNoProcessesUnder(dir: string, timeoutMs = 10_000, taskIds: string[] = []): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = leftoverProcesses(dir, taskIds);
    if (left.length === 0 || Date.now() > deadline) return left;
    await new Promise((r) => setTimeout(r, 50));
  }
}
