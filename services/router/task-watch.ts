// RouterService.WatchTasks: the task list as a stream, for live views. A watcher is a set of task ids changed since
// it last sent, fed by the task store's change notification (Tasks.watchStore: every change the store takes, this
// router's and, with a shared store, other routers'), not a queue of events: a task that changes a hundred times
// while the watcher waits is sent once, with its latest record. The set holds each id at most once, so it is bounded
// by the tasks the store keeps, and a slow reader costs no more than a fast one.
import { setTimeout as delay } from "node:timers/promises";
import { create } from "@bufbuild/protobuf";
import { TaskChangeSchema, type Task, type TaskChange, type WatchTasksRequest } from "../../gen/claudecluster/v1/router_pb.js";
import { invalidArgument, resourceExhausted } from "../common/errors.js";
import { waitForWake } from "../common/wake.js";
import { type Identity, visibleTo } from "./identity/index.js";
import type { Tasks } from "./tasks.js";

const DEFAULT_LIMIT = 50;
const MAX_LIMIT = 1000;
const MAX_LABELS = 64;

export interface TaskWatchOptions {
  /** A task is sent at most once per this many ms (CC_WATCH_INTERVAL); 0 sends every change at once. */
  intervalMs: number;
  /** Watchers at once (CC_MAX_WATCHERS). */
  maxWatchers: number;
}

/** Whether `task` passes the request's filters. */
export function watchFilter(req: WatchTasksRequest, caller?: Identity): (task: Task) => boolean {
  const labels = Object.entries(req.labels);
  return (task) =>
    (!caller || visibleTo(caller, task)) &&
    (req.statuses.length === 0 || req.statuses.includes(task.status)) &&
    (req.workerId === "" || task.workerId === req.workerId) &&
    labels.every(([k, v]) => task.labels[k] === v);
}

export class TaskWatchers {
  private active = 0;

  constructor(
    private readonly tasks: Tasks,
    private readonly options: TaskWatchOptions,
  ) {}

  get count(): number {
    return this.active;
  }

  /** The snapshot, `synced`, then changes until `signal` aborts. */
  /** `caller`: a `user` watches its own tasks only. */
  async *watch(req: WatchTasksRequest, signal: AbortSignal, caller?: Identity): AsyncGenerator<TaskChange> {
    if (req.limit > MAX_LIMIT) throw invalidArgument("limit", `must be at most ${MAX_LIMIT}`);
    if (Object.keys(req.labels).length > MAX_LABELS) throw invalidArgument("labels", `at most ${MAX_LABELS}`);
    if (this.active >= this.options.maxWatchers) {
      throw resourceExhausted(`the router already has ${this.options.maxWatchers} task watchers (CC_MAX_WATCHERS); close one or try again later`);
    }
    const matches = watchFilter(req, caller);
    /** Changed since last sent: true, or false once the store forgot it. */
    const changed = new Map<string, boolean>();
    let wake: (() => void) | undefined;
    // Listening before the snapshot is taken, so that nothing changing in between is missed.
    const stop = this.tasks.watchStore({
      changed(taskId) {
        changed.set(taskId, true);
        wake?.();
      },
      removed(taskId) {
        changed.set(taskId, false);
        wake?.();
      },
    });
    this.active += 1;
    try {
      const sent = new Set<string>();
      const snapshot = await this.snapshot(req, req.limit || DEFAULT_LIMIT, matches);
      for (const task of snapshot) {
        sent.add(task.id);
        yield create(TaskChangeSchema, { change: { case: "task", value: task } });
      }
      yield create(TaskChangeSchema, { change: { case: "synced", value: { count: snapshot.length } } });
      while (!signal.aborted) {
        if (changed.size === 0) {
          await waitForWake(signal, (w) => (wake = w));
          continue;
        }
        const batch = [...changed];
        changed.clear();
        for (const [id, present] of batch) {
          // The latest record, read now: what changed meanwhile is in it.
          const task = present ? await this.tasks.record(id).catch(() => undefined) : undefined;
          if (task && matches(task)) {
            sent.add(id);
            yield create(TaskChangeSchema, { change: { case: "task", value: task } });
          } else if (sent.delete(id)) {
            yield create(TaskChangeSchema, { change: { case: "removed", value: id } });
          }
        }
        if (this.options.intervalMs > 0) await delay(this.options.intervalMs, undefined, { signal }).catch(() => undefined);
      }
    } finally {
      this.active -= 1;
      stop();
    }
  }

  /** The newest `limit` tasks that match (the store filters by status, worker and labels; `matches` by the rest). */
  private async snapshot(req: WatchTasksRequest, limit: number, matches: (task: Task) => boolean): Promise<Task[]> {
    const page = await this.tasks.list({ statuses: req.statuses, ...(req.workerId ? { workerId: req.workerId } : {}), labels: req.labels, limit, where: matches });
    return page.tasks;
  }
}
