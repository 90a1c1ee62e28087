import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { create } from "@bufbuild/protobuf";
import { RoutineSchema } from "../../../gen/claudecluster/v1/routines_pb.js";
import { runRoutineStoreContract } from "./contract.js";
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
