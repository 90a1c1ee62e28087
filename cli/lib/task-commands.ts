// The logic of the task commands (attach, cancel, workers; ps is ps.ts, logs logs.ts), kept out of the command classes so it can
// be tested against a fake router client.
import { UsageError } from "clipanion";
import { TaskStatus } from "../../gen/claudecluster/v1/router_pb.js";
import { RunMode } from "../../gen/claudecluster/v1/run_pb.js";
import { ExitCode } from "../exit-codes.js";
import type { RouterClient } from "./client.js";
import type { CommandIO, SignalSource } from "./io.js";
import { outputWidth } from "./io.js";
import { taskStatusWord, workersJson, workersTable } from "./listings.js";
import { followTask, interactiveSession } from "./run-task.js";
import type { Format } from "./task-output.js";

export interface TaskCommandContext {
  io: CommandIO;
  client: RouterClient;
  router: string;
  signals?: SignalSource;
  now?: () => number;
}

export async function attachTask(c: TaskCommandContext, taskId: string, format: Format, includePartials: boolean): Promise<number> {
  const task = await c.client.getTask({ taskId });
  if (task.mode === RunMode.INTERACTIVE) {
    if (format !== "pretty") throw new UsageError("--output-format applies to headless tasks; this one is interactive");
    if (!(c.io.stdin as { isTTY?: boolean }).isTTY || !c.io.stdout.isTTY) throw new UsageError(`task ${taskId} is interactive: attach from a terminal (or read it with \`cc logs ${taskId}\`)`);
    return interactiveSession(c.io, c.client, { attach: taskId }, task.status === TaskStatus.RUNNING);
  }
  const ask = (c.io.stdin as { isTTY?: boolean }).isTTY === true && c.io.stderr.isTTY === true;
  return followTask({
    io: c.io,
    client: c.client,
    router: c.router,
    start: { attach: taskId },
    format,
    includePartials,
    onInterrupt: "leave",
    ...(task.agent ? { agent: task.agent } : {}),
    // Requests the replay shows that are no longer pending were settled: only the pending ones are asked again.
    ...(task.agent?.askPermissions
      ? { permissions: { rules: [], ask, otherwise: "leave" as const, replay: { untilSeq: task.lastSeq, pending: new Set(task.pendingPermissions.map((p) => p.requestId)) } } }
      : {}),
    ...(c.signals ? { signals: c.signals } : {}),
  });
}

export async function cancelTasks(c: TaskCommandContext, taskIds: readonly string[], reason: string | undefined, onTask: (id: string) => void): Promise<number> {
  for (const taskId of taskIds) {
    onTask(taskId);
    const task = await c.client.cancelTask({ taskId, reason: reason ?? "cancelled with cc cancel" });
    c.io.stdout.write(`${taskId} ${taskStatusWord(task.status)}\n`);
  }
  return ExitCode.Ok;
}

export async function listWorkers(c: TaskCommandContext, json: boolean): Promise<number> {
  const res = await c.client.listWorkers({});
  if (json) {
    c.io.stdout.write(workersJson(res.workers));
    return ExitCode.Ok;
  }
  if (res.workers.length === 0) {
    c.io.stdout.write("no workers: start a local cluster with `cc up`, or start workers with CC_ROUTER_URL pointing at this router\n");
    return ExitCode.Ok;
  }
  c.io.stdout.write(workersTable(res.workers, (c.now ?? Date.now)(), c.io.stdout.isTTY ? outputWidth(c.io.stdout) : Infinity));
  return ExitCode.Ok;
}
