// ListTasks' filters and page tokens, for the stores that filter records in code (memory, Redis). A page token is
// the id of the last task of the page (task ids sort by creation time), so the next page starts below it.
import type { Task } from "../../../gen/claudecluster/v1/router_pb.js";
import type { RetentionLimits, TaskQuery } from "./interface.js";

export function matchesQuery(task: Task, query: TaskQuery): boolean {
  if (query.statuses && query.statuses.length > 0 && !query.statuses.includes(task.status)) return false;
  if (query.workerId && task.workerId !== query.workerId) return false;
  if (query.sinceMs !== undefined && createdMs(task) < query.sinceMs) return false;
  if (query.labels) for (const [k, v] of Object.entries(query.labels)) if (task.labels[k] !== v) return false;
  return true;
}

export function createdMs(task: Task): number {
  return task.createdAt ? Number(task.createdAt.seconds) * 1000 + Math.floor(task.createdAt.nanos / 1e6) : 0;
}

export function endedMs(task: Task): number | undefined {
  return task.endedAt ? Number(task.endedAt.seconds) * 1000 + Math.floor(task.endedAt.nanos / 1e6) : undefined;
}

export function pageToken(lastId: string): string {
  return Buffer.from(lastId, "utf8").toString("base64url");
}

/** The task id a page token stands for; "" for none. Throws on a token no store made. */
export function pageTokenId(token: string | undefined): string {
  if (!token) return "";
  const id = Buffer.from(token, "base64url").toString("utf8");
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(id)) throw new RangeError("page_token is not one a listing returned; start again without it");
  return id;
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
