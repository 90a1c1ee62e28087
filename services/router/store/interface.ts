// The task store: where a router keeps every task's record and event log, so that a router that restarts (or
// another router sharing the store) carries on where the last one stopped. One small interface in the domain's words —
// create a task, save it, append its events, read or follow them from a seq, list, forget old ones, lease a task —
// and three implementations that pass one contract suite (contract.ts): in memory (memory.ts), a SQLite file
// (sqlite.ts) and Redis (redis.ts). What each backend does with its keys, rows and transactions stays in its file.
import type { Task, TaskStatus } from "../../../gen/claudecluster/v1/router_pb.js";
import type { RunEvent, RunRequest } from "../../../gen/claudecluster/v1/run_pb.js";
import type { WorkerInfo } from "../../../gen/claudecluster/v1/worker_pb.js";

/** A worker's registration as routers sharing a store see it. */
export interface SharedWorker {
  url: string;
  info: WorkerInfo;
  /** When a router last heard from it (ms since the epoch). */
  seenMs: number;
}

/** Where a task stands with its worker: what a router needs to carry on with it after a restart. */
export interface Placement {
  /** The worker the task was sent to. */
  workerId: string;
  /**
   * The worker acknowledged the task (its first event arrived). Before that, the worker may or may not have it: only
   * it may be asked again (it answers ALREADY_EXISTS when it has it), so that the task never runs twice.
   */
  accepted: boolean;
  /** The seq, in the worker's numbering, of the last worker event stored: a router re-attaching asks for what follows. */
  workerSeq: bigint;
}

/** A task as the store keeps it. */
export interface StoredTask {
  /** The record RouterService returns (GetTask, ListTasks); `last_seq` is the last event stored. */
  record: Task;
  /** The Run request, to place the task (again) after a restart. Its repository token is dropped once a worker accepted it. */
  request: RunRequest;
  /** Unset while the task waits to be placed. */
  placement: Placement | undefined;
  /** A cancel asked for through a router that does not own the task: the owner carries it out. */
  cancelReason?: string | undefined;
}

/** ListTasks' filters. Every filter set must hold; newest first. */
export interface TaskQuery {
  /** Only these statuses; empty or unset for all. */
  statuses?: readonly TaskStatus[];
  /** Only tasks asking for all of these worker labels. */
  labels?: Readonly<Record<string, string>>;
  /** Only tasks placed on this worker. */
  workerId?: string;
  /** Only tasks of this owner (Task.owner). */
  owner?: string;
  /** Only tasks created at or after this time (ms since the epoch). */
  createdAfterMs?: number;
  /** Paging: only tasks older than this one (the last task of the previous page). */
  olderThan?: string;
  /** At most this many. */
  limit: number;
  /** A further test of each record (WatchTasks' filter), applied after the others. */
  where?: (task: Task) => boolean;
}

export interface TaskPage {
  /** Newest first. */
  tasks: Task[];
  /** More tasks match after the last one: ask again with `olderThan` its id. */
  more: boolean;
}

/** How much of the ended tasks the store keeps (CC_RETAIN_TASKS, CC_RETAIN_AGE, CC_RETAIN_LOG_BYTES). */
export interface RetentionLimits {
  tasks: number;
  ageMs: number;
  /** Event-log bytes (as eventSize counts them) all ended tasks may hold together. */
  logBytes: number;
}

/** Told when a task is created or changes (`record`, when at hand), and when the store forgets one. */
export interface StoreListener {
  changed(taskId: string, record?: Task): void;
  removed(taskId: string): void;
}

/** An append that does not continue the stored log: another router wrote it, or the caller lost count. */
export class SeqConflict extends Error {
  constructor(
    readonly taskId: string,
    readonly expected: bigint,
    readonly got: bigint,
  ) {
    super(`task ${taskId}: the store expected event ${expected} next, not ${got}; another router may own the task now`);
  }
}

/** The store cannot be used: unreachable, unreadable, or not what it should be. The message says what to do. */
export class StoreUnavailable extends Error {
  override readonly name = "StoreUnavailable";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export interface TaskStore {
  /** `memory`, `sqlite` or `redis`, for logs and the docs. */
  readonly kind: string;
  /** Where it is, for messages (a path, a URL without credentials). */
  readonly where: string;
  /** Opens (and checks) the store; throws StoreUnavailable with what to do. */
  open(): Promise<void>;
  close(): Promise<void>;

  /**
   * Adds a task, unless its request id names a task the store has: then nothing is added and that task's record
   * comes back (idempotency: a Run sent again joins the first one).
   */
  create(task: StoredTask): Promise<{ created: true } | { created: false; existing: Task }>;
  get(taskId: string): Promise<StoredTask | undefined>;
  /** The task a request id names, if the store has it. */
  byRequestId(requestId: string): Promise<Task | undefined>;
  /** Saves a task's record and placement, with no new event. */
  save(task: StoredTask): Promise<void>;
  /**
   * Appends events (numbered record.last_seq - events.length + 1 … record.last_seq, in order) and saves the record and
   * placement as of them, all or nothing. Throws SeqConflict, storing nothing, when the first does not follow the
   * last event stored.
   */
  append(task: StoredTask, events: readonly RunEvent[]): Promise<void>;
  /** Up to `limit` events after `afterSeq`, in order. */
  read(taskId: string, afterSeq: bigint, limit: number): Promise<RunEvent[]>;
  /**
   * Events after `afterSeq`: those stored, then new ones as they are appended (by any router), until the task's
   * `exited` or `signal` aborts. Ends at once for a task the store does not have.
   */
  follow(taskId: string, afterSeq: bigint, signal?: AbortSignal): AsyncGenerator<RunEvent>;
  /** Task records, newest first, filtered and paged. */
  list(query: TaskQuery): Promise<TaskPage>;
  /** Every task that has not ended: a router that starts carries on with these. */
  unfinished(): Promise<StoredTask[]>;
  /** Event-log bytes a task holds (as eventSize counts them). */
  logBytes(taskId: string): Promise<number>;
  /**
   * Forgets the oldest ended tasks past the limits (never one that has not ended), records and logs, and returns
   * their ids.
   */
  applyRetention(limits: RetentionLimits, nowMs: number): Promise<string[]>;
  /** Tells `listener` of every change from now on, made through this store or (shared stores) another router's. */
  watch(listener: StoreListener): () => void;

  /**
   * Takes the lease on a task for `owner` (a router id) for `ttlMs`, unless another owner holds one that has not
   * expired. True when `owner` holds it now.
   */
  claim(taskId: string, owner: string, ttlMs: number): Promise<boolean>;
  /**
   * Extends `owner`'s leases (taking again one that expired and that no one took); returns the ids of those another
   * owner holds now.
   */
  renew(owner: string, taskIds: readonly string[], ttlMs: number): Promise<string[]>;
  release(taskId: string, owner: string): Promise<void>;
  /** Who holds a task's lease now; undefined when no one does. */
  leaseHolder(taskId: string): Promise<string | undefined>;
  /** Asks the owner of a task to cancel it (a shared store's routers hear it); false when no one heard. */
  signalCancel(taskId: string, reason: string): Promise<boolean>;
  /** Tells `listener` of cancels asked for tasks through other routers. */
  onCancel(listener: (taskId: string, reason: string) => void): () => void;

  /** Shares a worker's registration (or heartbeat) with the other routers of a shared store; a no-op otherwise. */
  shareWorker(worker: SharedWorker): Promise<void>;
  /** The workers registered with any router sharing the store; none for a store one router uses. */
  sharedWorkers(): Promise<SharedWorker[]>;
}
