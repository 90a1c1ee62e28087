// One contract every routine store passes (store.test.ts runs it for memory and SQLite).
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { afterEach, beforeEach, expect, it } from "vitest";
import { RoutineSchema } from "../../../gen/claudecluster/v1/routines_pb.js";
import type { RoutineStore } from "./store.js";

export function runRoutineStoreContract(factory: () => RoutineStore): void {
  let store: RoutineStore;
  beforeEach(async () => {
    store = factory();
    await store.open();
  });
  afterEach(async () => {
    await store.close();
  });

  const routine = (name: string, prompt = "do it") => ({ routine: create(RoutineSchema, { name, prompt, schedule: { cron: "0 9 * * *", timeZone: "Europe/Paris" } }), fireTokenHash: "" });

  it("creates once per name, lists by name, and round-trips every field", async () => {
    expect(await store.create(routine("b"))).toBe(true);
    expect(await store.create(routine("a"))).toBe(true);
    expect(await store.create(routine("b", "other"))).toBe(false);
    const b = await store.get("b");
    expect(b?.routine.prompt).toBe("do it");
    expect(b?.routine.schedule?.timeZone).toBe("Europe/Paris");
    expect((await store.list()).map((s) => s.routine.name)).toEqual(["a", "b"]);
  });

  it("puts replace, state included, and hands out copies", async () => {
    const r = routine("x");
    await store.put(r);
    r.routine.nextRunAt = timestampFromMs(1_700_000_000_000);
    r.fireTokenHash = "ab".repeat(32);
    expect((await store.get("x"))?.routine.nextRunAt).toBeUndefined();
    await store.put(r);
    const got = (await store.get("x"))!;
    expect(got.routine.nextRunAt?.seconds).toBe(1_700_000_000n);
    expect(got.fireTokenHash).toBe("ab".repeat(32));
    got.routine.prompt = "changed";
    expect((await store.get("x"))?.routine.prompt).toBe("do it");
  });

  it("deletes, saying whether there was one", async () => {
    await store.put(routine("gone"));
    expect(await store.delete("gone")).toBe(true);
    expect(await store.delete("gone")).toBe(false);
    expect(await store.get("gone")).toBeUndefined();
  });
}
