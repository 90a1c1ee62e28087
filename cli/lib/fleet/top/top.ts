// `cc top`: which tasks to watch (the flags as a WatchTasks request, filtered by the router as `cc ps`'s are), and
// the three ways to show them: the live screen on a terminal, one snapshot (`--once`), or without a terminal the
// snapshot and then a line each time a task's state, worker or changes change (as `kubectl get -w` does).
import { UsageError } from "clipanion";
import type { WatchTasksRequest } from "../../../../gen/claudecluster/v1/router_pb.js";
import { ExitCode } from "../../../exit-codes.js";
import { outputWidth, processSignals, type SignalSource } from "../../io.js";
import { psQuery } from "../../ps.js";
import { styleFor } from "../../style.js";
import { attachTask, type TaskCommandContext } from "../../task-commands.js";
import { FleetFeed, watchRequest } from "./feed.js";
import { changeKey, changeLine, removedLine, snapshotText } from "./rows.js";
import { runScreen } from "./screen.js";
import { MAX_TOP_TASKS } from "./state.js";

export interface TopFlags {
  statuses?: string[] | undefined;
  labels?: string[] | undefined;
  worker?: string | undefined;
  limit?: string | undefined;
  once: boolean;
}

/** Tasks a view holds unless --limit says otherwise. */
export const DEFAULT_TOP_TASKS = 100;
/** How often the workers are read again: ListWorkers has no stream. */
const WORKERS_EVERY_MS = 2000;

/** The WatchTasks request for the flags; every status unless --status names some. Mistakes are UsageErrors. */
export function topQuery(flags: TopFlags): WatchTasksRequest {
  const { request } = psQuery({ all: true, statuses: flags.statuses, labels: flags.labels, worker: flags.worker }, 0);
  let limit = DEFAULT_TOP_TASKS;
  if (flags.limit !== undefined) {
    limit = Number(flags.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_TOP_TASKS) throw new UsageError(`--limit expects a whole number from 1 to ${MAX_TOP_TASKS}, got "${flags.limit}"`);
  }
  return watchRequest({ statuses: request.statuses, labels: request.labels, workerId: request.workerId, limit });
}

export interface TopOptions {
  /** Attaches to a task from the screen; cc attach's by default. */
  attach?(taskId: string): Promise<number>;
  signals?: SignalSource;
}

export async function topCommand(c: TaskCommandContext, flags: TopFlags, request: WatchTasksRequest, o: TopOptions = {}): Promise<number> {
  const now = c.now ?? Date.now;
  const stdin = c.io.stdin as { isTTY?: boolean };
  const live = !flags.once && c.io.stdout.isTTY === true && stdin.isTTY === true;
  const feed = new FleetFeed({ client: c.client, request, workersEveryMs: WORKERS_EVERY_MS, reconnect: live });
  try {
    await feed.start();
    if (live) {
      return await runScreen(c, feed, {
        style: styleFor(c.io.stdout, c.io.env),
        attach: o.attach ?? ((id) => attachTask(c, id, "pretty", false)),
        ...(o.signals ? { signals: o.signals } : {}),
        now,
      });
    }
    const width = c.io.stdout.isTTY ? outputWidth(c.io.stdout) : Infinity;
    c.io.stdout.write(snapshotText(feed.state.list(), feed.state.workers, now(), width));
    if (flags.once) return ExitCode.Ok;
    return await followLines(c, feed, width, o.signals ?? processSignals);
  } finally {
    feed.close();
  }
}

/** Without a terminal: a line each time a task's state, worker or changes change, until a signal or a failure. */
async function followLines(c: TaskCommandContext, feed: FleetFeed, width: number, signals: SignalSource): Promise<number> {
  const now = c.now ?? Date.now;
  // What was printed last per task: bounded as the view is (ids the view no longer holds are dropped).
  const printed = new Map<string, string>();
  for (const t of feed.state.list()) printed.set(t.id, changeKey(t));
  feed.listener = {
    update: ({ change, afterSync }) => {
      if (!change || !afterSync) return;
      if (change.change.case === "task") {
        const t = change.change.value;
        const key = changeKey(t);
        if (printed.get(t.id) === key) return;
        printed.set(t.id, key);
        if (printed.size > feed.state.cap) for (const id of printed.keys()) if (!feed.state.get(id)) printed.delete(id);
        c.io.stdout.write(changeLine(t, now(), width));
      } else if (change.change.case === "removed" && printed.delete(change.change.value)) {
        c.io.stdout.write(removedLine(change.change.value, now()));
      }
    },
    trouble: (message) => {
      if (message) c.io.stderr.write(`cc: ${message}\n`);
    },
  };
  let stop!: () => void;
  const stopped = new Promise<void>((resolve) => (stop = resolve));
  signals.on("SIGINT", stop);
  signals.on("SIGTERM", stop);
  try {
    await Promise.race([stopped, feed.done]);
    return ExitCode.Ok;
  } finally {
    signals.off("SIGINT", stop);
    signals.off("SIGTERM", stop);
  }
}
