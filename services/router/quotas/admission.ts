// Quotas and budgets, checked when a task is submitted and before a queued one is placed:
//   running  tasks of one identity running at once: a task past it WAITS in the queue (like a CI concurrency limit)
//            and starts when one of the identity's own tasks ends;
//   queued   tasks of one identity waiting at once: past it, RESOURCE_EXHAUSTED (the queue is not a backlog);
//   timeout  the longest timeout a task may ask for: past it, RESOURCE_EXHAUSTED; a task asking none gets it;
//   daily, monthly   US dollars of claude's own cost estimate (ResultSummary.total_cost_usd) of the identity's tasks
//            created this UTC day / month: spent, the next task is RESOURCE_EXHAUSTED with the reset time; a task
//            that starts gets what is left as claude's --max-budget-usd, so claude stops a run that would cross it.
// Spend is read from the task store's records (Spend), so it survives a restart and is shared by routers on one store.
import { create } from "@bufbuild/protobuf";
import { durationFromMs, durationMs } from "@bufbuild/protobuf/wkt";
import { AgentOptionsSchema, RunMode, type RunRequest } from "../../../gen/claudecluster/v1/run_pb.js";
import { resourceExhausted } from "../../common/errors.js";
import type { Identity } from "../identity/index.js";
import { dayWindow, limitsOf, monthWindow, type QuotaLimits } from "./limits.js";
import type { Spend } from "./spend.js";

/** What the dispatcher knows of an identity's tasks now. */
export interface OwnerCounts {
  /** Its tasks placed on workers (not waiting). */
  running: number;
  /** Its tasks waiting in the queue. */
  queued: number;
}

/** Dollars to the cent, or to six places below one (claude's estimates of small runs are fractions of a cent). */
export const usd = (n: number) => `$${n >= 1 ? n.toFixed(2) : Number(n.toFixed(6))}`;
const plural = (n: number, one: string) => `${n} ${one}${n === 1 ? "" : "s"}`;

export class Admission {
  constructor(
    private readonly defaults: QuotaLimits,
    private readonly spend: Spend,
    private readonly now: () => number = Date.now,
  ) {}

  limitsOf(caller: Identity): QuotaLimits {
    return limitsOf(this.defaults, caller.quotas);
  }

  /**
   * Checks a new task of `caller` against its quotas and budgets, and fits the request to them (its timeout, and
   * claude's --max-budget-usd for what is left). `willWait`: it would wait in the queue (every worker busy, or its
   * running quota reached). Throws RESOURCE_EXHAUSTED naming the quota, its value and when it frees or resets.
   */
  async admit(req: RunRequest, caller: Identity, counts: OwnerCounts, willWait: boolean): Promise<void> {
    const limits = this.limitsOf(caller);
    const who = caller.name || "this caller";
    if (limits.maxTimeoutMs > 0) {
      const asked = req.timeout ? durationMs(req.timeout) : 0;
      if (asked > limits.maxTimeoutMs) {
        throw resourceExhausted(`quota "timeout" for ${who} is ${limits.maxTimeoutMs / 1000}s a task, and this task asks for ${asked / 1000}s; ask for at most that (it does not reset)`);
      }
      if (asked === 0) req.timeout = durationFromMs(limits.maxTimeoutMs);
    }
    const waiting = willWait || (limits.running > 0 && counts.running >= limits.running);
    if (limits.queued > 0 && waiting && counts.queued >= limits.queued) {
      throw resourceExhausted(
        `quota "queued" for ${who} is ${plural(limits.queued, "task")} waiting at once, and ${counts.queued} are waiting; it frees as soon as one of them starts or is cancelled (\`cc ps\`)`,
      );
    }
    if (limits.dailyUsd <= 0 && limits.monthlyUsd <= 0) return;
    const now = this.now();
    let left = Infinity;
    for (const [quota, budget, window, when] of [
      ["daily", limits.dailyUsd, dayWindow(now), "today"],
      ["monthly", limits.monthlyUsd, monthWindow(now), "this month"],
    ] as const) {
      if (budget <= 0) continue;
      const spent = await this.spend.since(caller.name, window.startMs);
      if (spent >= budget) {
        throw resourceExhausted(
          `budget "${quota}" for ${who} is ${usd(budget)}, and its tasks have cost ${usd(spent)} ${when} (claude's own estimate); it resets at ${new Date(window.resetMs).toISOString()}`,
        );
      }
      left = Math.min(left, budget - spent);
    }
    // claude stops a headless run that would pass what is left (--max-budget-usd; interactive runs have no such flag).
    if (req.mode !== RunMode.INTERACTIVE && Number.isFinite(left)) {
      req.agent ??= create(AgentOptionsSchema);
      if (req.agent.maxBudgetUsd <= 0 || req.agent.maxBudgetUsd > left) req.agent.maxBudgetUsd = left;
    }
  }

  /** Whether a queued task of `caller` must wait for one of its own to end (its running quota is reached). */
  heldBack(quotas: QuotaLimits, counts: OwnerCounts): boolean {
    return quotas.running > 0 && counts.running >= quotas.running;
  }

  /** What the identity has spent today and this month (claude's estimate). */
  async spent(caller: Identity): Promise<{ today: number; month: number }> {
    const now = this.now();
    return { today: await this.spend.since(caller.name, dayWindow(now).startMs), month: await this.spend.since(caller.name, monthWindow(now).startMs) };
  }
}
