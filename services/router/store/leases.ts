// Leases held in this process, for the stores one router uses at a time (memory, SQLite): the same rules as the
// shared store's (one owner at a time, until it expires or is released), with no one else to contend.
export class Leases {
  private readonly held = new Map<string, { owner: string; expiresAt: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  claim(taskId: string, owner: string, ttlMs: number): boolean {
    const lease = this.held.get(taskId);
    if (lease && lease.owner !== owner && lease.expiresAt > this.now()) return false;
    this.held.set(taskId, { owner, expiresAt: this.now() + ttlMs });
    return true;
  }

  renew(owner: string, taskIds: readonly string[], ttlMs: number): string[] {
    const lost: string[] = [];
    for (const id of taskIds) {
      const lease = this.held.get(id);
      // Expired, and no one took it: it is the owner's again.
      if (lease && lease.owner !== owner && lease.expiresAt > this.now()) lost.push(id);
      else this.held.set(id, { owner, expiresAt: this.now() + ttlMs });
    }
    return lost;
  }

  release(taskId: string, owner: string): void {
    if (this.held.get(taskId)?.owner === owner) this.held.delete(taskId);
  }

  holder(taskId: string): string | undefined {
    const lease = this.held.get(taskId);
    return lease && lease.expiresAt > this.now() ? lease.owner : undefined;
  }
}
