// What `cc run --continue` continues: the caller's latest session. claude's own `--continue` means the latest
// conversation in the current directory of this machine; on a cluster a task runs in a directory of its own on some
// worker, so cc keeps that meaning on the caller's side instead: after each `cc run`, it notes the task's session,
// worker and workspace directory under (router, the directory cc ran in), in
// $XDG_STATE_HOME/claudecluster/sessions.json (default ~/.local/state). `--continue` then resumes that session on
// the same worker (claude's transcript lives in that worker's HOME), in the same --cwd if it had one.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";

export interface LastSession {
  taskId: string;
  sessionId: string;
  workerId: string;
  /** The task's `--cwd`, if it had one. */
  directory?: string;
  /** When it was noted (ms since the epoch). */
  at: number;
}

/** Entries kept; the oldest go first. */
const MAX_ENTRIES = 200;

/** The cluster started for a call has a new URL each time; its sessions are the caller's own (HOME and directory). */
export const EMBEDDED_ROUTER = "(local cluster)";

export function sessionsPath(env: Record<string, string | undefined>): string {
  const base = env["XDG_STATE_HOME"] || join(env["HOME"] || homedir(), ".local", "state");
  return join(base, "claudecluster", "sessions.json");
}

const key = (router: string, cwd: string) => `${router} ${cwd}`;

function readAll(path: string): Record<string, LastSession> {
  try {
    const parsed = JSON.parse(readFileSync(path, "utf8")) as unknown;
    return typeof parsed === "object" && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, LastSession>) : {};
  } catch {
    return {};
  }
}

export function readLastSession(env: Record<string, string | undefined>, router: string, cwd: string): LastSession | undefined {
  const entry = readAll(sessionsPath(env))[key(router, cwd)];
  return entry && typeof entry.sessionId === "string" && typeof entry.workerId === "string" ? entry : undefined;
}

/** Best effort: a session that cannot be noted (read-only HOME) must not fail the run that produced it. */
export function noteLastSession(env: Record<string, string | undefined>, router: string, cwd: string, session: LastSession): void {
  const path = sessionsPath(env);
  try {
    const all = readAll(path);
    all[key(router, cwd)] = session;
    const kept = Object.entries(all)
      .sort(([, a], [, b]) => (b.at ?? 0) - (a.at ?? 0))
      .slice(0, MAX_ENTRIES);
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    const tmp = `${path}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(Object.fromEntries(kept), null, 2) + "\n", { mode: 0o600 });
    renameSync(tmp, path);
  } catch {
    // Nothing to do: --continue will say it found no session.
  }
}
