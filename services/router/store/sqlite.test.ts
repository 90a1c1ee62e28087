// The SQLite store passes the contract, keeps everything across a reopen, and refuses, with a message that says what
// to do, a file that another router holds, a damaged file and a path it cannot open: never a silent fresh start.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { outputEvent, runTaskStoreContract, storedTask } from "./contract.js";
import { StoreUnavailable, type TaskStore } from "./interface.js";
import { SQLITE_FILE, SqliteTaskStore } from "./sqlite.js";

const root = mkdtempSync(join(tmpdir(), "cc-sqlite-store-"));
let n = 0;
afterAll(() => rmSync(root, { recursive: true, force: true }));

runTaskStoreContract("sqlite", {
  make: () => new SqliteTaskStore(join(root, `store-${++n}`)),
  reopen: async (store: TaskStore) => {
    await store.close();
    return new SqliteTaskStore((store as SqliteTaskStore).where.slice(0, -SQLITE_FILE.length - 1));
  },
});

describe("the sqlite task store's batches", () => {
  it("writes the appends it has taken before it closes: a router that stops loses none of them", async () => {
    const dir = join(root, "closing");
    const first = new SqliteTaskStore(dir);
    await first.open();
    const t = storedTask();
    await first.create(t);
    // Not awaited: still waiting for the next batch when close is called.
    const pending = [first.append(t, [outputEvent(t)]), first.append(t, [outputEvent(t), outputEvent(t)])];
    await first.close();
    await Promise.all(pending);
    const again = new SqliteTaskStore(dir);
    await again.open();
    expect((await again.read(t.record.id, 0n, 10)).map((e) => Number(e.seq))).toEqual([1, 2, 3]);
    expect((await again.get(t.record.id))!.record.lastSeq).toBe(3n);
    await again.close();
  });
});

describe("the sqlite task store's refusals", () => {
  it("refuses a data directory another router holds, and opens it once that router is gone", async () => {
    const dir = join(root, "held");
    const first = new SqliteTaskStore(dir);
    await first.open();
    await first.create(storedTask());
    const second = new SqliteTaskStore(dir);
    const refusal = await second.open().catch((e: unknown) => e);
    expect(refusal).toBeInstanceOf(StoreUnavailable);
    expect((refusal as Error).message).toContain(`${join(dir, SQLITE_FILE)} is in use by another router`);
    expect((refusal as Error).message).toContain("CC_DATA_DIR");
    await first.close();
    await second.open();
    expect((await second.list({ limit: 10 })).tasks).toHaveLength(1);
    await second.close();
  });

  it("refuses a damaged file rather than start afresh over it, and leaves the file as it was", async () => {
    const dir = join(root, "damaged");
    mkdirSync(dir);
    const garbage = Buffer.from("this is not a database, but someone's tasks might have been here ".repeat(100));
    writeFileSync(join(dir, SQLITE_FILE), garbage);
    const refusal = await new SqliteTaskStore(dir).open().catch((e: unknown) => e);
    expect(refusal).toBeInstanceOf(StoreUnavailable);
    expect((refusal as Error).message).toMatch(/is damaged or is not a task store .*restore it from a backup, or move it aside/);
    const { readFileSync } = await import("node:fs");
    expect(readFileSync(join(dir, SQLITE_FILE)).equals(garbage)).toBe(true);
  });

  it("refuses a path it cannot open, naming CC_DATA_DIR", async () => {
    const dir = join(root, "unopenable");
    // A directory where the database file should be: unreadable as a file even by root.
    mkdirSync(join(dir, SQLITE_FILE), { recursive: true });
    const refusal = await new SqliteTaskStore(dir).open().catch((e: unknown) => e);
    expect(refusal).toBeInstanceOf(StoreUnavailable);
    expect((refusal as Error).message).toMatch(/CC_DATA_DIR/);
    const file = join(root, "a-file");
    writeFileSync(file, "");
    const notDir = await new SqliteTaskStore(join(file, "sub")).open().catch((e: unknown) => e);
    expect((notDir as Error).message).toMatch(/cannot create the data directory .*CC_DATA_DIR/);
  });
});
