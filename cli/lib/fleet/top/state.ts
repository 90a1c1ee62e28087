// What `cc top` holds: the tasks WatchTasks has sent (a snapshot, then each task's latest record as it changes) and
// the workers ListWorkers last returned. Bounded: at most `cap` tasks; past it the oldest ended task goes first, then
// the oldest. Pure: changes in, rows out, so it is tested without a router.
import { TaskStatus, type Task, type TaskChange, type WorkerRecord } from "../../../../gen/claudecluster/v1/router_pb.js";

/** The most tasks a view may hold (WatchTasks' own limit for a snapshot). */
export const MAX_TOP_TASKS = 1000;

export const isEnded = (t: Task): boolean => t.status === TaskStatus.SUCCEEDED || t.status === TaskStatus.FAILED || t.status === TaskStatus.CANCELLED;

export class TopState {
  private readonly tasks = new Map<string, Task>();
  /** Ids seen since a (re)connected stream began, until its `synced`: what is not among them was forgotten meanwhile. */
  private resyncing: Set<string> | undefined;
  workers: WorkerRecord[] = [];
  /** Whether the first snapshot has arrived. */
  synced = false;

  constructor(readonly cap: number) {}

  /** A new stream begins: its snapshot replaces what is held once it is complete. */
  restart(): void {
    this.resyncing = new Set();
  }

  /** Applies one change; true when a task's status changed or a task came or went (worth a workers refresh). */
  apply(change: TaskChange): boolean {
    switch (change.change.case) {
      case "task": {
        const task = change.change.value;
        this.resyncing?.add(task.id);
        const before = this.tasks.get(task.id);
        this.tasks.set(task.id, task);
        if (!before) this.evict();
        return !before || before.status !== task.status || before.workerId !== task.workerId;
      }
      case "removed":
        return this.tasks.delete(change.change.value);
      case "synced": {
        this.synced = true;
        const seen = this.resyncing;
        this.resyncing = undefined;
        if (!seen) return false;
        let gone = false;
        for (const id of [...this.tasks.keys()]) if (!seen.has(id)) gone = this.tasks.delete(id) || gone;
        return gone;
      }
      default:
        return false;
    }
  }

  get(id: string): Task | undefined {
    return this.tasks.get(id);
  }

  /** Newest first (task ids sort by creation time), so rows keep their place as tasks change. */
  list(): Task[] {
    return [...this.tasks.values()].sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
  }

  get size(): number {
    return this.tasks.size;
  }

  private evict(): void {
    while (this.tasks.size > this.cap) {
      const oldestFirst = this.list().reverse();
      const victim = oldestFirst.find(isEnded) ?? oldestFirst[0]!;
      this.tasks.delete(victim.id);
    }
  }
}
