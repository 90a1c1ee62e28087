// The worker's environment snapshots: workspaces as their setup script left them (without .git: a task's own clone
// brings that), keyed by repository + the hash of the environment file and its lockfiles + the format version.
// Bounded in count and in bytes, the least recently used evicted first; each lives at most its environment's TTL.
// On disk one directory per snapshot, `<key>/files/` and `<key>/meta.json`, so a restarted worker keeps them; a
// snapshot is written under a temporary name and renamed into place, so a half-written one is never used.
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { copyEntries, directoryBytes } from "./copy.js";

/** Bumped when what a snapshot holds changes meaning, so older snapshots are never restored. */
export const SNAPSHOT_FORMAT = 1;

export interface SnapshotInfo {
  key: string;
  /** The repository it was made for (a URL without credentials, or "upload"). */
  repository: string;
  bytes: number;
  createdAt: number;
  lastUsedAt: number;
  expiresAt: number;
  /** Tasks that started from it. */
  uses: number;
  /** The task whose setup made it. */
  taskId: string;
}

export interface SnapshotCacheOptions {
  dir: string;
  maxCount: number;
  maxBytes: number;
  now?: () => number;
}

/** The key of a snapshot: what it was made from. */
export function snapshotKey(repository: string, inputsHash: string): string {
  return createHash("sha256").update(`${SNAPSHOT_FORMAT}\0${repository}\0${inputsHash}`).digest("hex").slice(0, 32);
}

export class SnapshotCache {
  private readonly entries = new Map<string, SnapshotInfo>();
  private readonly now: () => number;

  constructor(private readonly o: SnapshotCacheOptions) {
    this.now = o.now ?? Date.now;
    mkdirSync(o.dir, { recursive: true });
    for (const name of readdirSync(o.dir)) {
      // Leftovers of a store the worker did not finish.
      if (name.startsWith(".")) {
        rmSync(join(o.dir, name), { recursive: true, force: true });
        continue;
      }
      try {
        const info = JSON.parse(readFileSync(join(o.dir, name, "meta.json"), "utf8")) as SnapshotInfo;
        if (info.key === name) this.entries.set(name, info);
        else rmSync(join(o.dir, name), { recursive: true, force: true });
      } catch {
        rmSync(join(o.dir, name), { recursive: true, force: true });
      }
    }
  }

  /** Every snapshot, newest use first (expired ones are removed first). */
  list(): SnapshotInfo[] {
    this.dropExpired();
    return [...this.entries.values()].sort((a, b) => b.lastUsedAt - a.lastUsedAt);
  }

  get(key: string): SnapshotInfo | undefined {
    this.dropExpired();
    return this.entries.get(key);
  }

  /** Copies the snapshot's files into `workspace` (over what is there); false when there is no such snapshot. */
  async restore(key: string, workspace: string): Promise<boolean> {
    const info = this.get(key);
    if (!info) return false;
    await copyEntries(join(this.o.dir, key, "files"), workspace);
    info.lastUsedAt = this.now();
    info.uses += 1;
    this.writeMeta(info);
    return true;
  }

  /**
   * Keeps `workspace` (all but .git) as the snapshot `key`, replacing any older one, then evicts the least recently
   * used past the bounds. A snapshot larger than the byte bound alone is not kept (false).
   */
  async store(key: string, workspace: string, meta: { repository: string; ttlMs: number; taskId: string }): Promise<boolean> {
    if (this.o.maxCount === 0) return false;
    const staging = join(this.o.dir, `.staging-${randomBytes(6).toString("hex")}`);
    try {
      await mkdir(join(staging, "files"), { recursive: true });
      await copyEntries(workspace, join(staging, "files"), [".git"]);
      const bytes = await directoryBytes(join(staging, "files"));
      if (bytes > this.o.maxBytes) {
        rmSync(staging, { recursive: true, force: true });
        return false;
      }
      const at = this.now();
      const info: SnapshotInfo = { key, repository: meta.repository, bytes, createdAt: at, lastUsedAt: at, expiresAt: at + meta.ttlMs, uses: 0, taskId: meta.taskId };
      writeFileSync(join(staging, "meta.json"), JSON.stringify(info));
      this.remove(key);
      renameSync(staging, join(this.o.dir, key));
      this.entries.set(key, info);
      this.evict(key);
      return true;
    } catch (err) {
      rmSync(staging, { recursive: true, force: true });
      throw err;
    }
  }

  /** Removes a snapshot; false when there was none. */
  remove(key: string): boolean {
    const had = this.entries.delete(key);
    rmSync(join(this.o.dir, key), { recursive: true, force: true });
    return had;
  }

  get bytes(): number {
    let total = 0;
    for (const e of this.entries.values()) total += e.bytes;
    return total;
  }

  /** Least recently used first, until both bounds hold; `keep` (the one just stored) goes last of all. */
  private evict(keep: string): void {
    const order = [...this.entries.values()].filter((e) => e.key !== keep).sort((a, b) => a.lastUsedAt - b.lastUsedAt);
    while ((this.entries.size > this.o.maxCount || this.bytes > this.o.maxBytes) && order.length > 0) this.remove(order.shift()!.key);
  }

  private dropExpired(): void {
    const now = this.now();
    for (const e of [...this.entries.values()]) if (e.expiresAt <= now) this.remove(e.key);
  }

  private writeMeta(info: SnapshotInfo): void {
    try {
      writeFileSync(join(this.o.dir, info.key, "meta.json"), JSON.stringify(info));
    } catch {
      // Removed meanwhile (cc env rm): the restore already has its files.
    }
  }
}
