// Which process is on the other end of a loopback TCP connection, read from /proc: the socket's inode from the
// network namespace's TCP table, then the process holding a file descriptor on that inode. The worker uses it to
// take a task's hook events only from claude itself (never from a command claude runs, which could forge them) and to
// name the command behind a blocked connection.
import { readdirSync, readFileSync, readlinkSync } from "node:fs";

const LOOPBACK_HEX = "0100007F";
const ESTABLISHED = "01";

export interface TcpMatch {
  /** The connecting side's port, when known (the worker is the other end). */
  localPort?: number;
  /** The port connected to, on 127.0.0.1. */
  remotePort: number;
}

/**
 * Inodes of established IPv4 sockets in the network namespace of `pid` ("self": the worker's) whose remote end is
 * 127.0.0.1:<remotePort> (and whose local port is `localPort`, if given): the connecting ends of such connections.
 */
export function clientSockets(pid: number | "self", match: TcpMatch): Set<string> {
  const inodes = new Set<string>();
  let table: string;
  try {
    table = readFileSync(`/proc/${pid}/net/tcp`, "latin1");
  } catch {
    return inodes;
  }
  const remote = `${LOOPBACK_HEX}:${hexPort(match.remotePort)}`;
  for (const line of table.split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    // sl local rem st tx:rx tr:when retrnsmt uid timeout inode
    if (f.length < 10 || f[2] !== remote || f[3] !== ESTABLISHED) continue;
    if (match.localPort !== undefined && f[1] !== `${LOOPBACK_HEX}:${hexPort(match.localPort)}`) continue;
    inodes.add(f[9]!);
  }
  return inodes;
}

/** The processes among `pids` that hold one of `inodes`, each with the inodes it holds. */
export function socketHolders(pids: Iterable<number>, inodes: Set<string>): Map<number, string[]> {
  const out = new Map<number, string[]>();
  if (inodes.size === 0) return out;
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      let link: string;
      try {
        link = readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        continue;
      }
      const inode = /^socket:\[(\d+)\]$/.exec(link)?.[1];
      if (inode && inodes.has(inode)) out.set(pid, [...(out.get(pid) ?? []), inode]);
    }
  }
  return out;
}

/** A process's command line, arguments joined by spaces; empty once it is gone. */
export function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean).join(" ");
  } catch {
    return "";
  }
}

function hexPort(port: number): string {
  return port.toString(16).toUpperCase().padStart(4, "0");
}
