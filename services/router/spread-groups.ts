// Which workers run tasks of each spread group (RunRequest.spread_group), so placement can put the tasks of one
// group (the attempts of a `cc run -n`) on different workers while there are workers to spare.

export class SpreadGroups {
  /** group → worker id → tasks of the group placed there and not ended. */
  private readonly groups = new Map<string, Map<string, number>>();

  placed(group: string, workerId: string): void {
    if (!group) return;
    const workers = this.groups.get(group) ?? new Map<string, number>();
    workers.set(workerId, (workers.get(workerId) ?? 0) + 1);
    this.groups.set(group, workers);
  }

  released(group: string, workerId: string): void {
    const workers = this.groups.get(group);
    const n = workers?.get(workerId);
    if (!workers || n === undefined) return;
    if (n > 1) workers.set(workerId, n - 1);
    else workers.delete(workerId);
    if (workers.size === 0) this.groups.delete(group);
  }

  /** Workers running a task of `group` now. */
  workersOf(group: string): ReadonlySet<string> {
    return new Set(group ? this.groups.get(group)?.keys() : undefined);
  }
}
