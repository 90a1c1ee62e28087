// Words and numbers as the pages show them. Pure, so they are unit-tested (test/web/format.test.ts).
import { TaskStatus, WorkerHealth, type Task } from "../../../gen/claudecluster/v1/router_pb.js";
import { ExitReason, Phase, RunMode } from "../../../gen/claudecluster/v1/run_pb.js";

export const STATUS_LABEL: Record<TaskStatus, string> = {
  [TaskStatus.UNSPECIFIED]: "unknown",
  [TaskStatus.QUEUED]: "queued",
  [TaskStatus.RUNNING]: "running",
  [TaskStatus.SUCCEEDED]: "succeeded",
  [TaskStatus.FAILED]: "failed",
  [TaskStatus.CANCELLED]: "cancelled",
};

export const HEALTH_LABEL: Record<WorkerHealth, string> = {
  [WorkerHealth.UNSPECIFIED]: "unknown",
  [WorkerHealth.ONLINE]: "online",
  [WorkerHealth.FULL]: "full",
  [WorkerHealth.DRAINING]: "draining",
  [WorkerHealth.OFFLINE]: "offline",
};

export const EXIT_REASON_LABEL: Record<ExitReason, string> = {
  [ExitReason.UNSPECIFIED]: "ended",
  [ExitReason.COMPLETED]: "completed",
  [ExitReason.CANCELLED]: "cancelled",
  [ExitReason.TIMED_OUT]: "timed out",
  [ExitReason.IDLE]: "idle too long",
  [ExitReason.CLIENT_GONE]: "abandoned by its caller",
  [ExitReason.SHUTDOWN]: "stopped by a worker shutdown",
  [ExitReason.FAILED]: "failed",
  [ExitReason.OUTPUT_LIMIT]: "stopped at the output limit",
};

/** What a task is doing, in a few words: "queued (#2)", "working", "waiting for approval", or its status. */
export function taskPhase(task: Pick<Task, "status" | "phase" | "queuePosition">): string {
  if (task.status !== TaskStatus.QUEUED && task.status !== TaskStatus.RUNNING) return STATUS_LABEL[task.status] ?? "unknown";
  switch (task.phase) {
    case Phase.QUEUED:
      return task.queuePosition > 0 ? `queued (#${task.queuePosition})` : "queued";
    case Phase.STARTING:
      return "starting";
    case Phase.SETTING_UP:
      return "setting up";
    case Phase.RUNNING:
      return "working";
    case Phase.WAITING_FOR_INPUT:
      return "waiting for input";
    case Phase.WAITING_FOR_APPROVAL:
      return "waiting for approval";
    default:
      return STATUS_LABEL[task.status];
  }
}

export function isActive(status: TaskStatus): boolean {
  return status === TaskStatus.QUEUED || status === TaskStatus.RUNNING;
}

export function modeLabel(mode: RunMode): string {
  return mode === RunMode.INTERACTIVE ? "interactive" : "headless";
}

/** 0.00172 → "$0.0017"; 1.5 → "$1.50"; 0 → "". */
export function cost(usd: number): string {
  if (!usd) return "";
  if (usd >= 1) return `$${usd.toFixed(2)}`;
  return `$${usd.toPrecision(2).replace(/0+$/, "")}`;
}

/** 950 → "950 ms"; 61_000 → "1m 1s"; 3_700_000 → "1h 1m". */
export function duration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${(ms / 1000).toFixed(s < 10 ? 1 : 0)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  const hours = Math.floor(m / 60);
  if (hours < 48) return `${hours}h ${m % 60}m`;
  return `${Math.floor(hours / 24)}d ${hours % 24}h`;
}

/** 1234 → "1.2k"; 999 → "999". */
export function count(n: number | bigint): string {
  const v = Number(n);
  if (v < 1000) return String(v);
  if (v < 1_000_000) return `${(v / 1000).toFixed(v < 10_000 ? 1 : 0)}k`;
  return `${(v / 1_000_000).toFixed(1)}M`;
}

/** A protobuf Timestamp as milliseconds since the epoch; undefined when unset. */
export function millis(ts: { seconds: bigint; nanos: number } | undefined): number | undefined {
  return ts ? Number(ts.seconds) * 1000 + Math.floor(ts.nanos / 1e6) : undefined;
}

/** How long a task has run (or ran): from start (or creation, while queued) to its end or `now`. */
export function elapsed(task: Pick<Task, "createdAt" | "startedAt" | "endedAt">, now: number): number {
  const from = millis(task.startedAt) ?? millis(task.createdAt) ?? now;
  return (millis(task.endedAt) ?? now) - from;
}

/** "region=eu, gpu=true". */
export function labelList(labels: Record<string, string>): string {
  return Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(", ");
}

/** Parses "region=eu, gpu=true" (commas or spaces between pairs); returns the first bad entry as an error. */
export function parseLabels(text: string): { labels: Record<string, string> } | { error: string } {
  const labels: Record<string, string> = {};
  for (const pair of text.split(/[,\s]+/).filter(Boolean)) {
    const eq = pair.indexOf("=");
    if (eq <= 0) return { error: `"${pair}" is not key=value` };
    labels[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return { labels };
}

/** "Bash, Edit Write" → ["Bash", "Edit", "Write"]; a pattern such as `Bash(git *)` stays whole. */
export function parseTools(text: string): string[] {
  const out: string[] = [];
  let current = "";
  let depth = 0;
  for (const ch of text) {
    if (ch === "(") depth += 1;
    if (ch === ")") depth = Math.max(0, depth - 1);
    if (depth === 0 && (ch === "," || /\s/.test(ch))) {
      if (current) out.push(current);
      current = "";
      continue;
    }
    current += ch;
  }
  if (current) out.push(current);
  return out;
}
