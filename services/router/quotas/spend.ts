// What an identity has spent, in claude's own cost estimate (ResultSummary.total_cost_usd, kept in each task's
// record as cost_usd), read from the task store's records: it survives a router restart and is the same for every
// router sharing a store. It counts the tasks the store still keeps (CC_RETAIN_TASKS, CC_RETAIN_AGE): a monthly
// budget needs CC_RETAIN_AGE of a month to see the whole month.
import type { Task } from "../../../gen/claudecluster/v1/router_pb.js";
import type { TaskPage, TaskQuery } from "../store/interface.js";

const PAGE = 1000;

/** claude's cost of one task: its result's, or the latest it reported while running. */
export function costOf(task: Task): number {
  return task.exit?.result?.totalCostUsd || task.costUsd || 0;
}

export class Spend {
  constructor(private readonly list: (query: TaskQuery) => Promise<TaskPage>) {}

  /** US dollars the tasks of `owner` created at or after `sinceMs` have cost. */
  async since(owner: string, sinceMs: number): Promise<number> {
    let total = 0;
    for (let olderThan: string | undefined; ; ) {
      const page = await this.list({ owner, createdAfterMs: sinceMs, limit: PAGE, ...(olderThan !== undefined ? { olderThan } : {}) });
      for (const task of page.tasks) total += costOf(task);
      if (!page.more) return total;
      olderThan = page.tasks.at(-1)!.id;
    }
  }
}
