import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { UsageError } from "clipanion";
import { describe, expect, it } from "vitest";
import { TaskSchema, type Task } from "../../gen/claudecluster/v1/router_pb.js";
import { parseGroup, startOfTodayUtc, usageQuery, usageTable, usageTotals } from "./usage.js";

const T = Date.UTC(2026, 11, 2, 12);

function task(owner: string, model: string, workerId: string, cost: number, input: number, durationMs: number): Task {
  return create(TaskSchema, {
    id: `t-${owner}-${cost}`,
    owner,
    model,
    workerId,
    createdAt: timestampFromMs(T),
    startedAt: timestampFromMs(T),
    endedAt: timestampFromMs(T + 5000),
    exit: { result: { totalCostUsd: cost, durationMs: BigInt(durationMs), usage: { inputTokens: BigInt(input), outputTokens: 10n, cacheReadInputTokens: 5n } } },
  });
}

describe("cc usage", () => {
  const tasks = [task("alice", "claude-a", "w1", 0.5, 100, 1000), task("bob", "claude-b", "w1", 2, 200, 0), task("alice", "claude-b", "w2", 0.25, 50, 3000)];

  it("adds up tokens, cost and time per owner, model or worker, most expensive first, with a total", () => {
    const byOwner = usageTotals(tasks, "owner");
    expect(byOwner.groups.map((g) => [g.key, g.tasks, g.costUsd, g.inputTokens])).toEqual([
      ["bob", 1, 2, 200],
      ["alice", 2, 0.75, 150],
    ]);
    // claude's own run time, else from start to end.
    expect(byOwner.groups[0]!.durationMs).toBe(5000);
    expect(byOwner.total).toMatchObject({ key: "total", tasks: 3, costUsd: 2.75, inputTokens: 350, outputTokens: 30, cacheReadInputTokens: 15, durationMs: 9000 });
    expect(usageTotals(tasks, "model").groups.map((g) => g.key)).toEqual(["claude-b", "claude-a"]);
    expect(usageTotals(tasks, "worker").groups.map((g) => [g.key, g.tasks])).toEqual([
      ["w1", 2],
      ["w2", 1],
    ]);
    expect(usageTable(byOwner.groups, byOwner.total, "owner").split("\n")[0]).toMatch(/^OWNER\s+TASKS\s+INPUT\s+OUTPUT\s+CACHE\s+COST\s+DURATION$/);
    expect(usageTable(byOwner.groups, byOwner.total, "owner")).toMatch(/total\s+3\s+350\s+30\s+15\s+\$2\.7500\s+9\.0s/);
  });

  it("defaults to midnight UTC and owner; a wrong --by or --since is a usage error", () => {
    expect(usageQuery({}, T)).toEqual({ sinceMs: startOfTodayUtc(T), by: "owner" });
    expect(startOfTodayUtc(T)).toBe(Date.UTC(2026, 11, 2));
    expect(usageQuery({ since: "2h", by: "Model" }, T)).toEqual({ sinceMs: T - 7_200_000, by: "model" });
    expect(() => parseGroup("team")).toThrow(UsageError);
    expect(() => parseGroup("team")).toThrow('--by must be one of owner, model, worker; got "team"');
    expect(() => usageQuery({ since: "yesterday" }, T)).toThrow(UsageError);
  });
});
