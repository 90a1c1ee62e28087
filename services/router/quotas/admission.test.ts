import { create } from "@bufbuild/protobuf";
import { durationFromMs, durationMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { RunMode, RunRequestSchema } from "../../../gen/claudecluster/v1/run_pb.js";
import type { Identity } from "../identity/index.js";
import { Admission, NO_LIMITS, type QuotaLimits, Spend } from "./index.js";

const NOW = Date.UTC(2026, 11, 2, 17, 30);
const alice = (quotas: Identity["quotas"] = {}): Identity => ({ name: "alice", role: "user", quotas });

/** An Admission whose spend is `spent[sinceMs]` (a fake listing of one task with that cost). */
function admission(defaults: Partial<QuotaLimits>, spent: (sinceMs: number) => number = () => 0) {
  const spend = new Spend(async (q) => ({ tasks: [{ costUsd: spent(q.createdAfterMs ?? 0) } as never], more: false }));
  return new Admission({ ...NO_LIMITS, ...defaults }, spend, () => NOW);
}

async function refusal(p: Promise<unknown>): Promise<ConnectError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(ConnectError);
  expect((err as ConnectError).code).toBe(Code.ResourceExhausted);
  return err as ConnectError;
}

describe("Admission", () => {
  it("caps a task's timeout: past the quota is refused, none asked gets the quota", async () => {
    const a = admission({ maxTimeoutMs: 3_600_000 });
    const long = create(RunRequestSchema, { prompt: "x", timeout: durationFromMs(7_200_000) });
    expect((await refusal(a.admit(long, alice(), { running: 0, queued: 0 }, false))).rawMessage).toBe(
      'quota "timeout" for alice is 3600s a task, and this task asks for 7200s; ask for at most that (it does not reset)',
    );
    const none = create(RunRequestSchema, { prompt: "x" });
    await a.admit(none, alice(), { running: 0, queued: 0 }, false);
    expect(durationMs(none.timeout!)).toBe(3_600_000);
  });

  it("refuses a task that would wait past the queued quota; one that starts at once is not counted", async () => {
    const a = admission({ queued: 2 });
    const req = () => create(RunRequestSchema, { prompt: "x" });
    expect((await refusal(a.admit(req(), alice(), { running: 0, queued: 2 }, true))).rawMessage).toBe(
      'quota "queued" for alice is 2 tasks waiting at once, and 2 are waiting; it frees as soon as one of them starts or is cancelled (`cc ps`)',
    );
    await a.admit(req(), alice(), { running: 0, queued: 2 }, false);
    // Its own running quota reached: it would wait, so it counts.
    await refusal(a.admit(req(), alice({ running: 1 }), { running: 1, queued: 2 }, false));
    expect(a.heldBack(a.limitsOf(alice({ running: 1 })), { running: 1, queued: 0 })).toBe(true);
    expect(a.heldBack(a.limitsOf(alice({ running: 2 })), { running: 1, queued: 0 })).toBe(false);
  });

  it("refuses past a daily or monthly budget with the reset time, and gives claude what is left", async () => {
    const day = Date.UTC(2026, 11, 2);
    const a = admission({ dailyUsd: 1, monthlyUsd: 10 }, (since) => (since === day ? 0.4 : 9.8));
    const req = create(RunRequestSchema, { prompt: "x" });
    await a.admit(req, alice(), { running: 0, queued: 0 }, false);
    // The smaller of what is left today (0.6) and this month (0.2).
    expect(req.agent?.maxBudgetUsd).toBeCloseTo(0.2, 9);
    const spentDay = admission({ dailyUsd: 0.5 }, () => 0.5);
    expect((await refusal(spentDay.admit(create(RunRequestSchema, { prompt: "x" }), alice(), { running: 0, queued: 0 }, false))).rawMessage).toBe(
      `budget "daily" for alice is $0.5, and its tasks have cost $0.5 today (claude's own estimate); it resets at 2026-12-03T00:00:00.000Z`,
    );
    const spentMonth = admission({ monthlyUsd: 20 }, () => 25);
    expect((await refusal(spentMonth.admit(create(RunRequestSchema, { prompt: "x" }), alice(), { running: 0, queued: 0 }, false))).rawMessage).toBe(
      `budget "monthly" for alice is $20.00, and its tasks have cost $25.00 this month (claude's own estimate); it resets at 2027-01-01T00:00:00.000Z`,
    );
    // An identity's own line overrides the default; a smaller --max-budget-usd of its own stays.
    const own = create(RunRequestSchema, { prompt: "x", agent: { maxBudgetUsd: 0.01 } });
    await admission({ dailyUsd: 0.5 }, () => 0.5).admit(own, alice({ dailyUsd: 5 }), { running: 0, queued: 0 }, false);
    expect(own.agent?.maxBudgetUsd).toBe(0.01);
    // Interactive runs have no --max-budget-usd: only the refusal applies.
    const tui = create(RunRequestSchema, { prompt: "x", mode: RunMode.INTERACTIVE });
    await admission({ dailyUsd: 1 }, () => 0.1).admit(tui, alice(), { running: 0, queued: 0 }, false);
    expect(tui.agent?.maxBudgetUsd ?? 0).toBe(0);
  });
});

describe("quota settings", () => {
  it("default to no limits, read the environment, and refuse what they cannot parse", async () => {
    const { readRouterSettings } = await import("../settings.js");
    expect(readRouterSettings({})).toMatchObject({ tokensFile: "", quotaRunning: 0, quotaQueued: 0, quotaTimeoutMs: 0, budgetDailyUsd: 0, budgetMonthlyUsd: 0 });
    expect(
      readRouterSettings({ CC_QUOTA_RUNNING: "2", CC_QUOTA_QUEUED: "10", CC_QUOTA_TIMEOUT: "30m", CC_BUDGET_DAILY_USD: "2.50", CC_BUDGET_MONTHLY_USD: "40", CC_TOKENS_FILE: "/etc/cc/tokens", CC_WORKER_TOKEN: "w" }),
    ).toMatchObject({ tokensFile: "/etc/cc/tokens", quotaRunning: 2, quotaQueued: 10, quotaTimeoutMs: 1_800_000, budgetDailyUsd: 2.5, budgetMonthlyUsd: 40 });
    expect(() => readRouterSettings({ CC_BUDGET_DAILY_USD: "$5" })).toThrow("CC_BUDGET_DAILY_USD");
    expect(() => readRouterSettings({ CC_QUOTA_RUNNING: "-1" })).toThrow("CC_QUOTA_RUNNING");
    expect(() => readRouterSettings({ CC_TOKENS_FILE: "/etc/cc/tokens" })).toThrow("CC_TOKENS_FILE needs CC_WORKER_TOKEN");
  });
});
