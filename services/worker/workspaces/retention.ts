// Which task worked where, and how long an ended task's workspace is kept. A task's own workspace
// (<root>/.tasks/<dir>) is kept after the task ends, for `cc ls` and `cc cp`, until it is older than
// CC_WORKSPACE_RETAIN_AGE or the kept workspaces together pass CC_WORKSPACE_RETAIN_BYTES; then it is reclaimed,
// oldest first. A shared directory (workspace.directory) is never reclaimed: it belongs to every task naming it.
// Reclaimed tasks are remembered (a bounded number) so that asking for their files says what happened, and their
// recorded changes stay in the changes store. Task directories left by an earlier run of the worker are taken in at
// start as ended, so they are reclaimed too.
import { readdirSync, statSync } from "node:fs";
import { lstat, readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { failedPrecondition, notFound } from "../../common/errors.js";
import type { Logger } from "../../common/logger.js";

/** Generated task ids (services/common/ids.ts): only such directories are taken in at start. */
const GENERATED_ID = /^[0-9a-hjkmnp-tv-z]{26}$/;
const MAX_REMEMBERED = 10_000;
/** A workspace's size is counted up to this many entries; a bigger one counts as at least what was seen. */
const MAX_WALK_ENTRIES = 500_000;

export interface RetentionOptions {
  root: string;
  retainAgeMs: number;
  retainBytes: number;
  logger: Logger;
  now?: () => number;
}

interface Kept {
  taskId: string;
  dir: string;
  /** Under <root>/.tasks: the task's own, reclaimable. */
  own: boolean;
  running: boolean;
  endedAt: number;
  bytes: number;
}

/** Where a task's workspace is, for the files RPCs. */
export interface WorkspaceLocation {
  dir: string;
  running: boolean;
}

export class WorkspaceRetention {
  private readonly kept = new Map<string, Kept>();
  private readonly reclaimed = new Map<string, string>();
  private reclaimedTotal = 0;
  private readonly now: () => number;
  private readonly timer: NodeJS.Timeout;
  private sweeping: Promise<void> = Promise.resolve();

  constructor(private readonly o: RetentionOptions) {
    this.now = o.now ?? Date.now;
    this.adoptLeftovers();
    this.timer = setInterval(() => void this.sweep(), 60_000);
    this.timer.unref();
  }

  /** A task starts working in `dir`. */
  started(taskId: string, dir: string): void {
    const tasks = join(this.o.root, ".tasks");
    const own = dir.startsWith(tasks + "/") && !dir.slice(tasks.length + 1).includes("/");
    this.kept.set(taskId, { taskId, dir, own, running: true, endedAt: 0, bytes: 0 });
    this.reclaimed.delete(taskId);
  }

  /** The task ended: its workspace is measured, kept, and the limits applied. */
  async ended(taskId: string): Promise<void> {
    const k = this.kept.get(taskId);
    if (!k) return;
    k.running = false;
    k.endedAt = this.now();
    if (k.own) k.bytes = await measure(k.dir);
    await this.sweep();
  }

  /** A workspace that was removed by its task's own failure (a clone that failed): nothing to keep. */
  forget(taskId: string): void {
    this.kept.delete(taskId);
  }

  /** Where the task's workspace is. FAILED_PRECONDITION once reclaimed, NOT_FOUND for a task this worker does not know. */
  locate(taskId: string): WorkspaceLocation {
    const k = this.kept.get(taskId);
    if (k) return { dir: k.dir, running: k.running };
    const why = this.reclaimed.get(taskId);
    if (why) {
      throw failedPrecondition(
        `the workspace of task ${taskId} was reclaimed ${why}; its recorded changes are kept apart (cc diff ${taskId}), its other files are gone`,
      );
    }
    throw notFound(`the workspace of task ${taskId} on this worker`, "the worker keeps the workspaces of the tasks it ran, until they are reclaimed; check the task id with `cc ps --all`");
  }

  info(): { workspaces: number; bytes: number; reclaimed: number } {
    let workspaces = 0;
    let bytes = 0;
    for (const k of this.kept.values()) {
      if (k.running || !k.own) continue;
      workspaces += 1;
      bytes += k.bytes;
    }
    return { workspaces, bytes, reclaimed: this.reclaimedTotal };
  }

  /** Reclaims ended tasks' own workspaces past the age limit, then the oldest while over the size limit. */
  sweep(): Promise<void> {
    this.sweeping = this.sweeping.then(() => this.sweepOnce());
    return this.sweeping;
  }

  close(): void {
    clearInterval(this.timer);
  }

  private async sweepOnce(): Promise<void> {
    const now = this.now();
    // Shared directories are never reclaimed; which ended task used one is remembered for a bounded number of tasks.
    const shared = [...this.kept.values()].filter((k) => !k.own && !k.running);
    for (const k of shared.slice(0, Math.max(0, shared.length - MAX_REMEMBERED))) this.kept.delete(k.taskId);
    const ended = [...this.kept.values()].filter((k) => k.own && !k.running).sort((a, b) => a.endedAt - b.endedAt);
    let total = ended.reduce((sum, k) => sum + k.bytes, 0);
    for (const k of ended) {
      const old = now - k.endedAt > this.o.retainAgeMs;
      if (!old && total <= this.o.retainBytes) continue;
      total -= k.bytes;
      await this.reclaim(k, old ? `after CC_WORKSPACE_RETAIN_AGE (${Math.round(this.o.retainAgeMs / 1000)}s)` : `to stay within CC_WORKSPACE_RETAIN_BYTES (${this.o.retainBytes} bytes), oldest first`);
    }
  }

  private async reclaim(k: Kept, why: string): Promise<void> {
    this.kept.delete(k.taskId);
    this.reclaimed.set(k.taskId, why);
    if (this.reclaimed.size > MAX_REMEMBERED) this.reclaimed.delete(this.reclaimed.keys().next().value!);
    this.reclaimedTotal += 1;
    try {
      await rm(k.dir, { recursive: true, force: true });
      this.o.logger.info({ taskId: k.taskId, bytes: k.bytes }, "workspace reclaimed");
    } catch (err) {
      this.o.logger.error({ taskId: k.taskId, err }, "could not remove a reclaimed workspace");
    }
  }

  /** Task directories an earlier run of the worker left, taken in as ended at their last modification. */
  private adoptLeftovers(): void {
    const tasks = join(this.o.root, ".tasks");
    let names: string[];
    try {
      names = readdirSync(tasks);
    } catch {
      return;
    }
    for (const name of names) {
      if (!GENERATED_ID.test(name)) continue;
      const dir = join(tasks, name);
      try {
        const st = statSync(dir);
        if (!st.isDirectory()) continue;
        const k: Kept = { taskId: name, dir, own: true, running: false, endedAt: st.mtimeMs, bytes: 0 };
        this.kept.set(name, k);
        void measure(dir).then((bytes) => (k.bytes = bytes));
      } catch {
        // gone meanwhile
      }
    }
    if (this.kept.size > 0) this.o.logger.info({ workspaces: this.kept.size }, "kept the workspaces of an earlier run");
  }
}

/** Bytes of the files under `dir` (apparent sizes), without following links. */
export async function measure(dir: string): Promise<number> {
  let total = 0;
  let entries = 0;
  const stack = [dir];
  while (stack.length > 0 && entries < MAX_WALK_ENTRIES) {
    const current = stack.pop()!;
    let names: string[];
    try {
      names = await readdir(current);
    } catch {
      continue;
    }
    for (const name of names) {
      entries += 1;
      const path = join(current, name);
      try {
        const st = await lstat(path);
        if (st.isDirectory()) stack.push(path);
        else total += st.size;
      } catch {
        // gone meanwhile
      }
    }
  }
  return total;
}
