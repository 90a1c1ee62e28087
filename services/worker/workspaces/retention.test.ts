// Workspace retention against an injected clock: reclaimed by age, then oldest first by size; shared directories
// never; what a reclaimed or unknown task's lookup says; leftovers of an earlier run taken in.
import { existsSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import { silentLogger } from "../../common/logger.js";
import { newTaskId } from "../../common/ids.js";
import { WorkspaceRetention } from "./retention.js";

const roots: string[] = [];
const retentions: WorkspaceRetention[] = [];
afterEach(() => {
  retentions.splice(0).forEach((r) => r.close());
  roots.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true }));
});

function setup(o: { ageMs?: number; bytes?: number } = {}) {
  const root = mkdtempSync(join(tmpdir(), "cc-retention-"));
  roots.push(root);
  let now = 1_000_000;
  const retention = new WorkspaceRetention({ root, retainAgeMs: o.ageMs ?? 60_000, retainBytes: o.bytes ?? 1 << 30, logger: silentLogger(), now: () => now });
  retentions.push(retention);
  const task = (bytes: number) => {
    const id = newTaskId();
    const dir = join(root, ".tasks", id);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "f"), Buffer.alloc(bytes));
    retention.started(id, dir);
    return { id, dir };
  };
  return { root, retention, task, advance: (ms: number) => (now += ms) };
}

function failure(fn: () => unknown): ConnectError {
  try {
    fn();
  } catch (err) {
    return err as ConnectError;
  }
  throw new Error("did not throw");
}

describe("WorkspaceRetention", () => {
  it("keeps an ended task's workspace until it is older than the age limit", async () => {
    const { retention, task, advance } = setup({ ageMs: 60_000 });
    const t = task(10);
    expect(retention.locate(t.id)).toEqual({ dir: t.dir, running: true });
    await retention.ended(t.id);
    expect(retention.locate(t.id)).toEqual({ dir: t.dir, running: false });
    expect(retention.info()).toEqual({ workspaces: 1, bytes: 10, reclaimed: 0 });
    advance(60_001);
    await retention.sweep();
    expect(existsSync(t.dir)).toBe(false);
    const err = failure(() => retention.locate(t.id));
    expect(err.code).toBe(Code.FailedPrecondition);
    expect(err.rawMessage).toBe(
      `the workspace of task ${t.id} was reclaimed after CC_WORKSPACE_RETAIN_AGE (60s); its recorded changes are kept apart (cc diff ${t.id}), its other files are gone`,
    );
    expect(retention.info().reclaimed).toBe(1);
  });

  it("past the size limit, reclaims the oldest ended workspaces first and never a running one", async () => {
    const { retention, task, advance } = setup({ bytes: 250 });
    const a = task(100);
    const b = task(100);
    const running = task(1000);
    await retention.ended(a.id);
    advance(1);
    await retention.ended(b.id);
    expect(existsSync(a.dir) && existsSync(b.dir)).toBe(true);
    advance(1);
    const c = task(100);
    await retention.ended(c.id);
    expect(existsSync(a.dir)).toBe(false);
    expect(existsSync(b.dir) && existsSync(c.dir) && existsSync(running.dir)).toBe(true);
    expect(failure(() => retention.locate(a.id)).rawMessage).toContain("to stay within CC_WORKSPACE_RETAIN_BYTES (250 bytes), oldest first");
  });

  it("never reclaims a shared directory, and does not know a task it never ran", async () => {
    const { root, retention, advance } = setup({ ageMs: 1, bytes: 0 });
    const shared = join(root, "project");
    mkdirSync(shared);
    writeFileSync(join(shared, "f"), "x");
    retention.started("t1", shared);
    await retention.ended("t1");
    advance(10_000);
    await retention.sweep();
    expect(existsSync(join(shared, "f"))).toBe(true);
    expect(retention.locate("t1").dir).toBe(shared);
    const err = failure(() => retention.locate("t2"));
    expect(err.code).toBe(Code.NotFound);
  });

  it("takes in the task directories an earlier run left, as ended at their last change", async () => {
    const root = mkdtempSync(join(tmpdir(), "cc-retention-"));
    roots.push(root);
    const id = newTaskId();
    const dir = join(root, ".tasks", id);
    mkdirSync(dir, { recursive: true });
    const other = join(root, ".tasks", "not-a-task-id");
    mkdirSync(other);
    utimesSync(dir, 100, 100);
    const retention = new WorkspaceRetention({ root, retainAgeMs: 1000, retainBytes: 1 << 30, logger: silentLogger(), now: () => 200_000 });
    retentions.push(retention);
    expect(retention.locate(id)).toEqual({ dir, running: false });
    await retention.sweep();
    expect(existsSync(dir)).toBe(false);
    expect(existsSync(other)).toBe(true);
  });
});
