// ListTasks' filters, for the stores that filter records in code, and retention's choice of ended tasks. A page
// continues below the id of the previous page's last task (task ids sort by creation time); the page token callers
// see is made from that id at the RPC's edge (services/router/list-query.ts).
import type { Task } from "../../../gen/claudecluster/v1/router_pb.js";
import type { RetentionLimits, TaskQuery } from "./interface.js";

export function matchesQuery(task: Task, query: TaskQuery): boolean {
  if (query.statuses && query.statuses.length > 0 && !query.statuses.includes(task.status)) return false;
  if (query.workerId && task.workerId !== query.workerId) return false;
  if (query.owner !== undefined && task.owner !== query.owner) return false;
  if (query.createdAfterMs !== undefined && createdMs(task) < query.createdAfterMs) return false;
  if (query.labels) for (const [k, v] of Object.entries(query.labels)) if (task.labels[k] !== v) return false;
  return !query.where || query.where(task);
}

export function createdMs(task: Task): number {
  return task.createdAt ? Number(task.createdAt.seconds) * 1000 + Math.floor(task.createdAt.nanos / 1e6) : 0;
}

export function endedMs(task: Task): number | undefined {
  return task.endedAt ? Number(task.endedAt.seconds) * 1000 + Math.floor(task.endedAt.nanos / 1e6) : undefined;
}

/**
 * Task ids sort by creation time, but two made within a millisecond of each other on two routers (or across a clock
 * step) may not: a listing walking ids newest first stops at created_after only this far past it.
 */
export const CREATED_ORDER_SLACK_MS = 1000;

/** Past this record, a walk newest first meets no more tasks created after `createdAfterMs`. */
export function pastCreatedAfter(task: Task, query: TaskQuery): boolean {
  return query.createdAfterMs !== undefined && createdMs(task) < query.createdAfterMs - CREATED_ORDER_SLACK_MS;
}

/**
 * Which ended tasks retention forgets, given them oldest first: every one past the age limit, then the oldest of the
 * rest while there are more than the count limit or their logs hold more than the byte limit.
 */
export function retentionVictims(ended: readonly { id: string; bytes: number; endedMs: number }[], limits: RetentionLimits, nowMs: number): string[] {
  const victims: string[] = [];
  const kept = ended.filter((t) => {
    if (nowMs - t.endedMs <= limits.ageMs) return true;
    victims.push(t.id);
    return false;
  });
  let excess = kept.length - limits.tasks;
  let bytes = kept.reduce((n, t) => n + t.bytes, 0);
  for (const t of kept) {
    if (excess <= 0 && bytes <= limits.logBytes) break;
    victims.push(t.id);
    excess -= 1;
    bytes -= t.bytes;
  }
  return victims;
}
