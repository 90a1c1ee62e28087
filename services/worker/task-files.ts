// Files a task's claude reads that belong neither on its command line nor in its workspace: the MCP config of
// `--mcp-config`, which often holds tokens. A command line is readable by every process on the machine
// (/proc/<pid>/cmdline) and a workspace is what claude works on (and may commit), so the worker writes such files
// into a private directory of its own instead: one per task (0700, files 0600), removed when the task ends, under a
// root private to this worker process, removed when it closes, and swept at the next start if the worker died first.
//
// Every path is computed here and nowhere else (`TaskFiles.dir`, `TaskFiles.mcpConfig`): a sandbox that hides the
// rest of the machine from claude binds `TaskFiles.dir(taskId)` (or just the files in it) into the task's view.
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const PREFIX = "cc-private-";
/** The warm pool's claude processes start before their task: their MCP config (the warm profile's) lives here (a dot: no task id has one). */
const WARM = ".warm";
const MCP_CONFIG = "mcp-config.json";

export class TaskFiles {
  /** The root, private to this worker process: `<tmp>/cc-private-<pid>-XXXXXX`. */
  readonly root: string;

  constructor(parent = tmpdir()) {
    sweepDeadWorkers(parent);
    this.root = mkdtempSync(join(parent, `${PREFIX}${process.pid}-`));
  }

  /** The private directory of one task (or of the warm pool, for `TaskFiles.WARM`). */
  dir(taskId: string): string {
    return join(this.root, taskId);
  }

  /** Where the task's `--mcp-config` file is. */
  mcpConfig(taskId: string): string {
    return join(this.dir(taskId), MCP_CONFIG);
  }

  /** Writes the task's MCP config (0600) and returns its path; undefined when the task has none. */
  writeMcpConfig(taskId: string, json: string): string | undefined {
    if (!json) return undefined;
    mkdirSync(this.dir(taskId), { recursive: true, mode: 0o700 });
    const file = this.mcpConfig(taskId);
    writeFileSync(file, json, { mode: 0o600 });
    return file;
  }

  /** Removes what the task had here. */
  remove(taskId: string): void {
    rmSync(this.dir(taskId), { recursive: true, force: true });
  }

  /** Removes everything, at worker close. */
  close(): void {
    rmSync(this.root, { recursive: true, force: true });
  }

  static readonly WARM = WARM;
}

/** Roots left by worker processes that are gone (SIGKILL, OOM): they may hold secrets, so they do not stay. */
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
