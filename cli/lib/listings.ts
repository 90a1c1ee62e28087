// Tables and JSON for `cc ps` and `cc workers`. Pure: they take the router's records and the current time.
import { toJson } from "@bufbuild/protobuf";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { TaskSchema, TaskStatus, WorkerHealth, WorkerRecordSchema, type Task, type WorkerRecord } from "../../gen/claudecluster/v1/router_pb.js";
import { RunMode } from "../../gen/claudecluster/v1/run_pb.js";
import { changesText } from "./changes/summary.js";
import { formatAge, formatTable, oneLine } from "./table.js";

export function taskStatusWord(status: TaskStatus): string {
  return TaskStatus[status]?.toLowerCase() ?? "unknown";
}

export function healthWord(health: WorkerHealth): string {
  return WorkerHealth[health]?.toLowerCase() ?? "unknown";
}

/** `owners`: an OWNER column after the id (an admin's view of a router with several identities). */
export function tasksTable(tasks: readonly Task[], now: number, width = Infinity, owners = false): string {
  const rows = tasks.map((t) => [
    t.id,
    ...(owners ? [t.owner || "-"] : []),
    t.pendingPermissions.length > 0 ? "waiting for approval" : taskStatusWord(t.status),
    t.workerId || "-",
    t.createdAt ? formatAge(now - timestampMs(t.createdAt)) : "-",
    changesText(t.exit?.changes),
    (t.mode === RunMode.INTERACTIVE ? "[interactive] " : "") + oneLine(t.promptSummary),
  ]);
  return formatTable(["ID", ...(owners ? ["OWNER"] : []), "STATUS", "WORKER", "AGE", "CHANGES", "PROMPT"], rows, width);
}

/** Canonical protobuf JSON of each task, as an array (one document, easy for jq). */
export function tasksJson(tasks: readonly Task[]): string {
  return JSON.stringify(tasks.map((t) => toJson(TaskSchema, t)), null, 2) + "\n";
}

export function workersTable(workers: readonly WorkerRecord[], now: number, width = Infinity): string {
  const rows = workers.map((w) => {
    const capacity = w.poolCapacity || w.info?.capacity || 0;
    const labels = Object.entries(w.info?.labels ?? {})
      .map(([k, v]) => `${k}=${v}`)
      .join(",");
    return [
      w.id,
      healthWord(w.health),
      `${w.assigned}/${capacity || "?"}`,
      // `claude --version` prints e.g. "2.1.330 (Claude Code)"; the number is enough here.
      w.info?.claudeVersion.split(" ")[0] || "-",
      warmPool(w),
      w.lastSeen ? formatAge(now - timestampMs(w.lastSeen)) : "-",
      w.url + (labels ? `  ${labels}` : "") + (w.problem ? `  (${w.problem})` : ""),
    ];
  });
  return formatTable(["ID", "HEALTH", "TASKS", "CLAUDE", "WARM", "SEEN", "URL"], rows, width);
}

/** Warm claudes started up out of the pool's size, and those still starting ("1/2+1"); "-" without a pool. */
function warmPool(w: WorkerRecord): string {
  const pool = w.info?.warmPool;
  if (!pool || pool.size === 0) return "-";
  return `${pool.ready}/${pool.size}${pool.starting ? `+${pool.starting}` : ""}`;
}

export function workersJson(workers: readonly WorkerRecord[]): string {
  return JSON.stringify(workers.map((w) => toJson(WorkerRecordSchema, w)), null, 2) + "\n";
}
