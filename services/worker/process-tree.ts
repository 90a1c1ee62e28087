// Ending claude means ending everything it started. claude runs as the leader of its own session (setsid: node-pty
// does it for terminals, `detached: true` for pipes), and its tools' processes inherit that session id even when
// they start their own process groups. So we signal the process group and then sweep /proc for every process of
// the session, which also catches children orphaned after claude itself exited.
import { readdirSync, readFileSync } from "node:fs";

/** Pids of live processes whose session id is `sid` (Linux /proc); empty elsewhere. */
export function sessionProcesses(sid: number): number[] {
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    return [];
  }
  const pids: number[] = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readStat(Number(entry));
    if (stat && stat.session === sid && stat.state !== "Z") pids.push(Number(entry));
  }
  return pids;
}

interface Stat {
  state: string;
  pgrp: number;
  session: number;
}

function readStat(pid: number): Stat | undefined {
  let raw: string;
  try {
    raw = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined; // Gone between readdir and read.
  }
  // The command name (field 2) is in parentheses and may contain spaces: parse after the last ")".
  const fields = raw.slice(raw.lastIndexOf(")") + 2).split(" ");
  return { state: fields[0] ?? "", pgrp: Number(fields[2]), session: Number(fields[3]) };
}

/** Sends `signal` to claude's process group and to every process in its session. Never throws. */
export function signalTree(leaderPid: number, signal: NodeJS.Signals): void {
  trySignal(-leaderPid, signal);
  for (const pid of sessionProcesses(leaderPid)) trySignal(pid, signal);
}

function trySignal(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // ESRCH: already gone, which is what we want. EPERM cannot happen for our own children.
  }
}
