import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SnapshotCache, snapshotKey } from "./snapshot-cache.js";

let root: string;
let clock: number;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), "cc-snapshots-"));
  clock = 1_000_000;
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

/** A workspace with a .git and `bytes` bytes in one file. */
function workspace(name: string, bytes = 10): string {
  const dir = join(root, "ws", name);
  mkdirSync(join(dir, ".git"), { recursive: true });
  mkdirSync(join(dir, "node_modules", "pkg"), { recursive: true });
  writeFileSync(join(dir, ".git", "HEAD"), "ref: refs/heads/main\n");
  writeFileSync(join(dir, "node_modules", "pkg", "data"), "x".repeat(bytes));
  return dir;
}

const cache = (maxCount = 3, maxBytes = 1000) => new SnapshotCache({ dir: join(root, "cache"), maxCount, maxBytes, now: () => clock });
const meta = { repository: "https://example.com/r.git", ttlMs: 60_000, taskId: "t1" };

describe("SnapshotCache", () => {
  it("keys differ by repository and by inputs", () => {
    expect(snapshotKey("a", "h")).not.toBe(snapshotKey("b", "h"));
    expect(snapshotKey("a", "h")).not.toBe(snapshotKey("a", "i"));
    expect(snapshotKey("a", "h")).toMatch(/^[0-9a-f]{32}$/);
  });

  it("stores a workspace without its .git and restores it into another; a restarted cache still has it", async () => {
    const c = cache();
    expect(await c.store("k1", workspace("a"), meta)).toBe(true);
    expect(c.list()).toEqual([{ key: "k1", repository: meta.repository, bytes: 10, createdAt: clock, lastUsedAt: clock, expiresAt: clock + 60_000, uses: 0, taskId: "t1" }]);
    const target = join(root, "target");
    mkdirSync(join(target, ".git"), { recursive: true });
    writeFileSync(join(target, ".git", "HEAD"), "mine");
    clock += 10;
    expect(await c.restore("k1", target)).toBe(true);
    expect(readFileSync(join(target, "node_modules", "pkg", "data"), "utf8")).toBe("x".repeat(10));
    expect(readFileSync(join(target, ".git", "HEAD"), "utf8")).toBe("mine");
    expect(c.get("k1")).toMatchObject({ uses: 1, lastUsedAt: clock });
    expect(await c.restore("nope", target)).toBe(false);
    expect(cache().get("k1")).toMatchObject({ uses: 1 });
  });

  it("evicts the least recently used past the count bound", async () => {
    const c = cache(2);
    await c.store("k1", workspace("a"), meta);
    clock += 1;
    await c.store("k2", workspace("b"), meta);
    clock += 1;
    await c.restore("k1", join(root, "ws", "a"));
    clock += 1;
    await c.store("k3", workspace("c"), meta);
    expect(c.list().map((e) => e.key)).toEqual(["k3", "k1"]);
    expect(existsSync(join(root, "cache", "k2"))).toBe(false);
  });

  it("evicts past the byte bound, and keeps nothing larger than the bound alone", async () => {
    const c = cache(10, 100);
    await c.store("k1", workspace("a", 60), meta);
    clock += 1;
    await c.store("k2", workspace("b", 60), meta);
    expect(c.list().map((e) => e.key)).toEqual(["k2"]);
    expect(await c.store("k3", workspace("c", 101), meta)).toBe(false);
    expect(c.list().map((e) => e.key)).toEqual(["k2"]);
    expect(readdirSync(join(root, "cache"))).toEqual(["k2"]);
  });

  it("a snapshot past its TTL is gone; CC_ENV_CACHE_COUNT=0 keeps none; remove says whether there was one", async () => {
    const c = cache();
    await c.store("k1", workspace("a"), meta);
    clock += 60_000;
    expect(c.get("k1")).toBeUndefined();
    expect(existsSync(join(root, "cache", "k1"))).toBe(false);
    expect(await cache(0).store("k2", workspace("b"), meta)).toBe(false);
    await c.store("k3", workspace("c"), meta);
    expect(c.remove("k3")).toBe(true);
    expect(c.remove("k3")).toBe(false);
  });

  it("drops what a store it never finished left behind", () => {
    mkdirSync(join(root, "cache", ".staging-x", "files"), { recursive: true });
    mkdirSync(join(root, "cache", "broken"), { recursive: true });
    expect(cache().list()).toEqual([]);
    expect(readdirSync(join(root, "cache"))).toEqual([]);
  });
});
