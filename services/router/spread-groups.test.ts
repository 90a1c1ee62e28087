// Spread groups: the attempts of one `cc run -n` go to different workers while there are workers with free slots,
// even where load alone would put them together.
import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { WorkerInfoSchema, WorkerState } from "../../gen/claudecluster/v1/worker_pb.js";
import { silentLogger } from "../common/logger.js";
import { Registry } from "./registry.js";
import { SpreadGroups } from "./spread-groups.js";

function registry(capacities: number[]): Registry {
  const r = new Registry({ staticWorkers: [], workerToken: undefined, heartbeatMs: 1000, offlineAfterMs: 5000, removeAfterMs: 60_000, logger: silentLogger(), onCapacity: () => undefined });
  capacities.forEach((capacity, i) => r.register(`http://127.0.0.1:${9000 + i}`, create(WorkerInfoSchema, { workerId: `w${i + 1}`, capacity, state: WorkerState.SERVING })));
  return r;
}

describe("spread groups", () => {
  it("count a group's tasks per worker, and forget a group with none left", () => {
    const groups = new SpreadGroups();
    groups.placed("g", "w1");
    groups.placed("g", "w1");
    groups.placed("g", "w2");
    groups.placed("", "w3");
    expect([...groups.workersOf("g")].sort()).toEqual(["w1", "w2"]);
    groups.released("g", "w1");
    expect([...groups.workersOf("g")].sort()).toEqual(["w1", "w2"]);
    groups.released("g", "w1");
    groups.released("g", "w2");
    expect([...groups.workersOf("g")]).toEqual([]);
    expect([...groups.workersOf("")]).toEqual([]);
  });

  it("placement prefers a worker running none of the group, then falls back to the least loaded", () => {
    const r = registry([8, 8]);
    const [w1, w2] = r.list();
    // w2 is busier, so load alone picks w1 every time.
    for (let i = 0; i < 4; i++) r.place(w2!, `w2-t${i}`);
    expect(r.pick(r.candidates({}))?.id).toBe("w1");
    r.place(w1!, "w1-t0");
    expect(r.pick(r.candidates({}))?.id).toBe("w1");
    // With w1 running one of the group, the next attempt goes to w2.
    expect(r.pick(r.candidates({}), new Set(["w1"]))?.id).toBe("w2");
    // Every worker runs one already: least loaded again.
    expect(r.pick(r.candidates({}), new Set(["w1", "w2"]))?.id).toBe("w1");
    // A full worker is never picked, spread or not.
    for (let i = 4; i < 8; i++) r.place(w2!, `w2-t${i}`);
    expect(r.pick(r.candidates({}), new Set(["w1"]))?.id).toBe("w1");
  });
});
