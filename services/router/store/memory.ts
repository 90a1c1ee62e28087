// The task store in this process's memory: real, not a mock. Tests use it, and so does the embedded cluster of a
// `cc run` (whose workers live and die with it, so there is nothing a file would save). Records are copied in and
// out, as a database would, so what a caller changes after saving is not saved; events are kept as they were
// appended (the router never changes an event once it is in a log).
import { clone } from "@bufbuild/protobuf";
import { TaskSchema, type Task } from "../../../gen/claudecluster/v1/router_pb.js";
import { RunRequestSchema, type RunEvent } from "../../../gen/claudecluster/v1/run_pb.js";
import { eventSize } from "../../common/event-size.js";
import { type RetentionLimits, SeqConflict, type SharedWorker, type StoredTask, type StoreListener, type TaskPage, type TaskQuery, type TaskStore } from "./interface.js";
import { Leases } from "./leases.js";
import { LocalFeed } from "./local-follow.js";
import { endedMs, matchesQuery, pastCreatedAfter, retentionVictims } from "./query.js";

interface Entry {
  task: StoredTask;
  events: RunEvent[];
  bytes: number;
}

export function copyTask(task: StoredTask): StoredTask {
  return {
    record: clone(TaskSchema, task.record),
    request: clone(RunRequestSchema, task.request),
    placement: task.placement ? { ...task.placement } : undefined,
    ...(task.cancelReason !== undefined ? { cancelReason: task.cancelReason } : {}),
  };
}

export class MemoryTaskStore implements TaskStore {
  readonly kind = "memory";
  readonly where = "memory";
  private readonly tasks = new Map<string, Entry>();
  private readonly byRequestId_ = new Map<string, string>();
  private readonly listeners = new Set<StoreListener>();
  private readonly feed = new LocalFeed();
  private readonly leases = new Leases();

  async open(): Promise<void> {}

  async close(): Promise<void> {
    this.feed.wakeAll();
  }

  async create(task: StoredTask): Promise<{ created: true } | { created: false; existing: Task }> {
    const requestId = task.record.requestId;
    const earlier = requestId ? this.byRequestId_.get(requestId) : undefined;
    if (earlier !== undefined) {
      const existing = this.tasks.get(earlier);
      if (existing) return { created: false, existing: clone(TaskSchema, existing.task.record) };
    }
    if (this.tasks.has(task.record.id)) throw new Error(`task ${task.record.id} is already stored`);
    this.tasks.set(task.record.id, { task: copyTask(task), events: [], bytes: 0 });
    if (requestId) this.byRequestId_.set(requestId, task.record.id);
    this.changed(task.record);
    return { created: true };
  }

  async get(taskId: string): Promise<StoredTask | undefined> {
    const entry = this.tasks.get(taskId);
    return entry ? copyTask(entry.task) : undefined;
  }

  async byRequestId(requestId: string): Promise<Task | undefined> {
    const id = requestId ? this.byRequestId_.get(requestId) : undefined;
    const entry = id === undefined ? undefined : this.tasks.get(id);
    return entry ? clone(TaskSchema, entry.task.record) : undefined;
  }

  async save(task: StoredTask): Promise<void> {
    const entry = this.tasks.get(task.record.id);
    if (!entry) throw new Error(`task ${task.record.id} is not stored`);
    if (task.record.lastSeq !== BigInt(entry.events.length)) throw new SeqConflict(task.record.id, BigInt(entry.events.length), task.record.lastSeq);
    entry.task = copyTask(task);
    this.changed(task.record);
  }

  async append(task: StoredTask, events: readonly RunEvent[]): Promise<void> {
    const entry = this.tasks.get(task.record.id);
    if (!entry) throw new Error(`task ${task.record.id} is not stored`);
    const expected = BigInt(entry.events.length) + 1n;
    for (let i = 0; i < events.length; i++) {
      const seq = events[i]!.seq;
      if (seq !== expected + BigInt(i)) throw new SeqConflict(task.record.id, expected + BigInt(i), seq);
    }
    if (task.record.lastSeq !== expected - 1n + BigInt(events.length)) throw new SeqConflict(task.record.id, expected - 1n + BigInt(events.length), task.record.lastSeq);
    for (const event of events) {
      entry.events.push(event);
      entry.bytes += eventSize(event);
    }
    entry.task = copyTask(task);
    this.changed(task.record);
    this.feed.wake(task.record.id);
  }

  async read(taskId: string, afterSeq: bigint, limit: number): Promise<RunEvent[]> {
    const events = this.tasks.get(taskId)?.events ?? [];
    const from = Number(afterSeq < 0n ? 0n : afterSeq);
    return events.slice(from, from + limit);
  }

  follow(taskId: string, afterSeq: bigint, signal?: AbortSignal): AsyncGenerator<RunEvent> {
    return this.feed.follow(
      taskId,
      afterSeq,
      signal,
      (after, limit) => this.read(taskId, after, limit),
      () => this.tasks.has(taskId),
    );
  }

  async list(query: TaskQuery): Promise<TaskPage> {
    const below = query.olderThan;
    const ids = [...this.tasks.keys()].sort().reverse();
    const tasks: Task[] = [];
    for (const id of ids) {
      if (below !== undefined && id >= below) continue;
      const record = this.tasks.get(id)!.task.record;
      if (pastCreatedAfter(record, query)) break;
      if (!matchesQuery(record, query)) continue;
      if (tasks.length >= query.limit) return { tasks, more: true };
      tasks.push(clone(TaskSchema, record));
    }
    return { tasks, more: false };
  }

  async unfinished(): Promise<StoredTask[]> {
    return [...this.tasks.values()].filter((e) => !e.task.record.endedAt).map((e) => copyTask(e.task));
  }

  async logBytes(taskId: string): Promise<number> {
    return this.tasks.get(taskId)?.bytes ?? 0;
  }

  async applyRetention(limits: RetentionLimits, nowMs: number): Promise<string[]> {
    const ended = [...this.tasks.values()].filter((e) => e.task.record.endedAt).sort((a, b) => (a.task.record.id < b.task.record.id ? -1 : 1));
    const remove = retentionVictims(
      ended.map((e) => ({ id: e.task.record.id, bytes: e.bytes, endedMs: endedMs(e.task.record) ?? nowMs })),
      limits,
      nowMs,
    );
    for (const id of remove) {
      const requestId = this.tasks.get(id)!.task.record.requestId;
      this.tasks.delete(id);
      if (requestId && this.byRequestId_.get(requestId) === id) this.byRequestId_.delete(requestId);
      this.feed.wake(id);
      for (const l of this.listeners) l.removed(id);
    }
    return remove;
  }

  watch(listener: StoreListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async claim(taskId: string, owner: string, ttlMs: number): Promise<boolean> {
    return this.leases.claim(taskId, owner, ttlMs);
  }

  async renew(owner: string, taskIds: readonly string[], ttlMs: number): Promise<string[]> {
    return this.leases.renew(owner, taskIds, ttlMs);
  }

  async release(taskId: string, owner: string): Promise<void> {
    this.leases.release(taskId, owner);
  }

  async leaseHolder(taskId: string): Promise<string | undefined> {
    return this.leases.holder(taskId);
  }

  /** One process, one router: there is no other owner to tell. */
  async signalCancel(): Promise<boolean> {
    return false;
  }

  onCancel(): () => void {
    return () => undefined;
  }

  /** One router: its registry is the only one. */
  async shareWorker(): Promise<void> {}

  async sharedWorkers(): Promise<SharedWorker[]> {
    return [];
  }

  private changed(record: Task): void {
    if (this.listeners.size === 0) return;
    const copy = clone(TaskSchema, record);
    for (const l of this.listeners) l.changed(record.id, copy);
  }
}
