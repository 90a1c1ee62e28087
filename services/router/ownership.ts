// Which router runs which task. A task is run by one router at a time, the holder of its lease in the task store
// (CC_LEASE_TTL): the router that creates a task takes the lease first, and renews the leases of every task it runs
// a third of the way through their time. A router that starts, and every router now and then (takeOver), takes the
// leases no one holds of the tasks that have not ended — its own after a restart, a dead router's on a shared store —
// and carries on with them (Dispatcher.resume: queue, ask the same worker again, or re-attach to the worker). A lease
// lost (Redis was away, another router took the task) means letting the task go without ending it; should two
// routers ever both write a task's log, the store refuses the second one's seq (SeqConflict), so a log never forks.
// Cancels asked through another router arrive here (TaskStore.onCancel) for the tasks this router runs.
import type { Logger } from "../common/logger.js";
import type { Dispatcher } from "./dispatcher.js";
import type { Tasks } from "./tasks.js";

export interface OwnershipOptions {
  /** This router (CC_ROUTER_ID). */
  routerId: string;
  /** How long a lease lasts without renewal (CC_LEASE_TTL). */
  leaseTtlMs: number;
  logger: Logger;
}

export class Ownership {
  private renewTimer: NodeJS.Timeout | undefined;
  private takeOverTimer: NodeJS.Timeout | undefined;
  private stopCancels: (() => void) | undefined;
  private passing: Promise<number> | undefined;

  constructor(
    private readonly tasks: Tasks,
    private readonly dispatcher: Dispatcher,
    private readonly options: OwnershipOptions,
  ) {}

  /** Takes over what it can now (a router that starts), then renews and takes over on timers. */
  async start(): Promise<number> {
    const taken = await this.takeOver();
    this.stopCancels = this.tasks.store.onCancel((taskId, reason) => {
      const entry = this.tasks.live(taskId);
      if (entry) void this.dispatcher.cancel(entry, reason);
    });
    const every = Math.max(100, Math.floor(this.options.leaseTtlMs / 3));
    this.renewTimer = setInterval(() => void this.renew(), every);
    this.renewTimer.unref();
    this.takeOverTimer = setInterval(() => void this.takeOver().catch(() => undefined), every);
    this.takeOverTimer.unref();
    return taken;
  }

  stop(): void {
    clearInterval(this.renewTimer);
    clearInterval(this.takeOverTimer);
    this.stopCancels?.();
  }

  /** Takes the lease of a task this router is about to create. False when another router holds it (it cannot). */
  claimNew(taskId: string): Promise<boolean> {
    return this.tasks.store.claim(taskId, this.options.routerId, this.options.leaseTtlMs);
  }

  /** Lets the lease of an ended task go, so the store does not keep it for its whole time. */
  async ended(taskId: string): Promise<void> {
    await this.tasks.store.release(taskId, this.options.routerId).catch(() => undefined);
  }

  /**
   * Takes the lease of every unfinished task that no router holds, and carries on with each here. One pass at a
   * time; resolves with how many it took.
   */
  takeOver(): Promise<number> {
    this.passing ??= this.pass().finally(() => (this.passing = undefined));
    return this.passing;
  }

  private async pass(): Promise<number> {
    const { store } = this.tasks;
    let taken = 0;
    for (const stored of await store.unfinished()) {
      const id = stored.record.id;
      if (this.tasks.live(id)) continue;
      if (!(await store.claim(id, this.options.routerId, this.options.leaseTtlMs))) continue;
      // Read again now that it is ours: its last owner may have written more before it let go.
      const current = await store.get(id);
      if (!current || current.record.endedAt) {
        await store.release(id, this.options.routerId);
        continue;
      }
      this.options.logger.info({ taskId: id, lastSeq: current.record.lastSeq.toString() }, "took the task over");
      await this.dispatcher.resume(current);
      taken += 1;
    }
    if (taken > 0) this.dispatcher.pump();
    return taken;
  }

  /** Renews the leases of the tasks run here; a task whose lease was lost is let go of, not ended. */
  private async renew(): Promise<void> {
    const live = this.tasks.active();
    if (live.length === 0) return;
    let lost: string[];
    try {
      lost = await this.tasks.store.renew(
        this.options.routerId,
        live.map((e) => e.id),
        this.options.leaseTtlMs,
      );
    } catch (err) {
      this.options.logger.warn({ err: String(err) }, "could not renew the task leases; trying again");
      return;
    }
    for (const id of lost) {
      const entry = this.tasks.live(id);
      if (!entry || entry.ended) continue;
      this.options.logger.warn({ taskId: id }, "lost the task's lease to another router; letting the task go");
      this.tasks.release(entry);
    }
  }
}
