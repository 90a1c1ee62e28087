// `cc usage`: what tasks cost, added up from their records' result summaries (claude's own cost estimate), grouped
// by owner, model or worker. The router scopes the listing: a `user` adds up its own tasks, an admin everyone's.
import { create } from "@bufbuild/protobuf";
import { timestampFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import { UsageError } from "clipanion";
import { ListTasksRequestSchema, type Task } from "../../gen/claudecluster/v1/router_pb.js";
import { ExitCode } from "../exit-codes.js";
import { outputWidth } from "./io.js";
import { listAllTasks, parseSince } from "./ps.js";
import { formatTable } from "./table.js";
import type { TaskCommandContext } from "./task-commands.js";

export const USAGE_GROUPS = ["owner", "model", "worker"] as const;
export type UsageGroup = (typeof USAGE_GROUPS)[number];

/** One group's totals. */
export interface UsageTotals {
  key: string;
  tasks: number;
  inputTokens: number;
  outputTokens: number;
  cacheCreationInputTokens: number;
  cacheReadInputTokens: number;
  /** claude's own cost estimate (ResultSummary.total_cost_usd), US dollars. */
  costUsd: number;
  /** claude's run time (ResultSummary.duration_ms), else from start to end. */
  durationMs: number;
}

const empty = (key: string): UsageTotals => ({ key, tasks: 0, inputTokens: 0, outputTokens: 0, cacheCreationInputTokens: 0, cacheReadInputTokens: 0, costUsd: 0, durationMs: 0 });

function keyOf(task: Task, by: UsageGroup): string {
  if (by === "owner") return task.owner || "-";
  if (by === "worker") return task.workerId || "-";
  return task.model || task.agent?.model || "default";
}

function add(into: UsageTotals, task: Task): void {
  const result = task.exit?.result;
  const u = result?.usage;
  into.tasks += 1;
  into.inputTokens += Number(u?.inputTokens ?? 0n);
  into.outputTokens += Number(u?.outputTokens ?? 0n);
  into.cacheCreationInputTokens += Number(u?.cacheCreationInputTokens ?? 0n);
  into.cacheReadInputTokens += Number(u?.cacheReadInputTokens ?? 0n);
  into.costUsd += result?.totalCostUsd || task.costUsd || 0;
  const ran = task.startedAt && task.endedAt ? timestampMs(task.endedAt) - timestampMs(task.startedAt) : 0;
  into.durationMs += Number(result?.durationMs ?? 0n) || Math.max(0, ran);
}

/** The groups (most expensive first) and the total of `tasks`. */
export function usageTotals(tasks: readonly Task[], by: UsageGroup): { groups: UsageTotals[]; total: UsageTotals } {
  const groups = new Map<string, UsageTotals>();
  const total = empty("total");
  for (const task of tasks) {
    const key = keyOf(task, by);
    const group = groups.get(key) ?? empty(key);
    groups.set(key, group);
    add(group, task);
    add(total, task);
  }
  return { groups: [...groups.values()].sort((a, b) => b.costUsd - a.costUsd || a.key.localeCompare(b.key)), total };
}

export function parseGroup(raw: string | undefined): UsageGroup {
  const by = (raw ?? "owner").trim().toLowerCase();
  if (!(USAGE_GROUPS as readonly string[]).includes(by)) throw new UsageError(`--by must be one of ${USAGE_GROUPS.join(", ")}; got "${raw}"`);
  return by as UsageGroup;
}

/** Midnight UTC today: the window of the daily budget, and `cc usage`'s default. */
export function startOfTodayUtc(now: number): number {
  const d = new Date(now);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate());
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)}s`;

export function usageTable(groups: readonly UsageTotals[], total: UsageTotals, by: UsageGroup, width = Infinity): string {
  const row = (t: UsageTotals) => [t.key, String(t.tasks), String(t.inputTokens), String(t.outputTokens), String(t.cacheReadInputTokens + t.cacheCreationInputTokens), `$${t.costUsd.toFixed(4)}`, seconds(t.durationMs)];
  return formatTable([by.toUpperCase(), "TASKS", "INPUT", "OUTPUT", "CACHE", "COST", "DURATION"], [...groups.map(row), row(total)], width);
}

export interface UsageFlags {
  since?: string | undefined;
  by?: string | undefined;
}

/** Checks the flags before connecting (mistakes exit 2). */
export function usageQuery(flags: UsageFlags, now: number): { sinceMs: number; by: UsageGroup } {
  return { sinceMs: flags.since !== undefined ? parseSince(flags.since, now) : startOfTodayUtc(now), by: parseGroup(flags.by) };
}

export async function usageCommand(c: TaskCommandContext, flags: UsageFlags, json: boolean, query = usageQuery(flags, (c.now ?? Date.now)())): Promise<number> {
  const request = create(ListTasksRequestSchema, { createdAfter: timestampFromMs(query.sinceMs) });
  // Ended tasks only: a running task has no result summary yet.
  const tasks = (await listAllTasks(c.client, request, Number.POSITIVE_INFINITY)).filter((t) => t.endedAt !== undefined);
  const { groups, total } = usageTotals(tasks, query.by);
  if (json) {
    c.io.stdout.write(JSON.stringify({ since: new Date(query.sinceMs).toISOString(), by: query.by, groups, total }, null, 2) + "\n");
    return ExitCode.Ok;
  }
  c.io.stdout.write(usageTable(groups, total, query.by, c.io.stdout.isTTY ? outputWidth(c.io.stdout) : Infinity));
  c.io.stderr.write(`${tasks.length} ended task(s) since ${new Date(query.sinceMs).toISOString()}; cost is claude's own estimate (total_cost_usd)\n`);
  return ExitCode.Ok;
}
