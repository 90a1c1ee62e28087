import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { create } from "@bufbuild/protobuf";
import { RoutineSchema } from "../../../gen/claudecluster/v1/routines_pb.js";
import { startRedis, type RedisServer } from "../../../test/helpers/redis.js";
import { runRoutineStoreContract } from "./contract.js";
import { RedisRoutineStore } from "./redis.js";
import { SqliteRoutineStore } from "./sqlite.js";
import { MemoryRoutineStore } from "./store.js";

describe("MemoryRoutineStore", () => runRoutineStoreContract(() => new MemoryRoutineStore()));

describe("SqliteRoutineStore", () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  runRoutineStoreContract(() => {
    const dir = mkdtempSync(join(tmpdir(), "cc-routines-"));
    dirs.push(dir);
    return new SqliteRoutineStore(dir);
  });

  it("keeps routines across a close and an open (a router restart)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cc-routines-"));
    dirs.push(dir);
    const first = new SqliteRoutineStore(dir);
    await first.open();
    await first.create({ routine: create(RoutineSchema, { name: "kept", prompt: "p" }), fireTokenHash: "ff" });
    await first.close();
    const second = new SqliteRoutineStore(dir);
    await second.open();
    expect((await second.get("kept"))?.fireTokenHash).toBe("ff");
    await second.close();
  });
});

describe("RedisRoutineStore (a real redis-server)", () => {
  let redis: RedisServer;
  let db = 0;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.stop();
  });
  // Each store a database of its own, so the tests do not see each other's routines.
  runRoutineStoreContract(() => new RedisRoutineStore(`${redis.url}/${db++ % 16}`));
});
