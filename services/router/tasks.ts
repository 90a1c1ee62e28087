// The tasks a router runs: one entry per task it owns with its record (the Task message), its event log and its
// place in the cluster, kept in the task store (store/interface.ts) as they change. Every task's log ends with
// `exited`, whoever ended it (TaskEntry.endWith for the worker's, TaskEntry.end for the router's own). Tasks looks a
// task up here first and in the store next (ended tasks, and a shared store's tasks that another router owns), and
// applies the store's retention: ended tasks kept within a count, an age and a total of log bytes.
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate, timestampNow } from "@bufbuild/protobuf/wkt";
import { type Task, TaskSchema, TaskStatus } from "../../gen/claudecluster/v1/router_pb.js";
import { ExitReason, type Exited, ExitedSchema, type RunEvent, RunEventSchema, type RunRequest } from "../../gen/claudecluster/v1/run_pb.js";
import { ConnectError, Code, invalidArgument, notFound } from "../common/errors.js";
import { isValidTaskId, newTaskId } from "../common/ids.js";
import type { Logger } from "../common/logger.js";
import { type Identity, visibleTo } from "./identity/index.js";
import type { WorkerEntry } from "./registry.js";
import type { Placement, RetentionLimits, StoredTask, StoreListener, TaskPage, TaskQuery, TaskStore } from "./store/interface.js";

export type { TaskPage, TaskQuery } from "./store/interface.js";
import { StoreUnavailable } from "./store/interface.js";
import { type LogBacking, TaskLog, TaskLogFull, type TaskLogOptions } from "./task-log.js";

const PROMPT_SUMMARY_CHARS = 200;
/** Retention runs this long after a task ends, for every task that ended in between. */
const EVICT_AFTER_END_MS = 250;
/**
 * The reason an ending task's signal carries (only `aborted` is read). Without one, abort() makes a DOMException and
 * captures its stack, once per task: a visible part of the router's time per task (figure 13).
 */
const ENDING = "the task is ending";

/** Why the router itself ends a task, once it has decided to: what its `exited` will say. */
export interface EndRequest {
  reason: ExitReason;
  /** What happened, in words a user can act on. */
  message: string;
  /** What the worker's `exited` says when it stopped the task for the router's Cancel. */
  workerMessage?: string;
}

export class TaskEntry {
  readonly record: Task;
  readonly log: TaskLog;
  /** Which worker has the task, and how far its events are stored: kept in the store for a router that restarts. */
  placement: Placement | undefined;
  /** Aborts the forwarded worker stream. */
  readonly abort = new AbortController();
  worker: WorkerEntry | undefined;
  /**
   * The worker's first event arrived: it accepted the task (workers acknowledge before they clone or start claude).
   * From here on the task is never placed on another worker.
   */
  get accepted(): boolean {
    return this.placement?.accepted === true;
  }
  /** The worker reported `started`. */
  started = false;
  /** Placements that failed before the worker answered, or were refused (CC_MAX_ATTEMPTS bounds them). */
  placementFailures = 0;
  /** Workers that refused this task or could not be reached. */
  readonly excluded = new Set<string>();
  /**
   * A placement on this worker broke before any answer, so the worker may have accepted the task: only this worker
   * may take it now, and it answers ALREADY_EXISTS if it has it.
   */
  pinnedTo: string | undefined;
  /**
   * The task's stream from its worker broke: until when the router keeps trying to re-attach (CC_REATTACH_WAIT from
   * the first break; an event read on a new stream clears it), and what broke, for the message if it gives up.
   */
  reattaching: { until: number; why: string } | undefined;
  /** Set once the router decided to end the task (cancel, shutdown, caller gone, full log). */
  endRequest: EndRequest | undefined;
  /** Aborted with endRequest or the end: an ending task no longer waits for slow followers. */
  private readonly ending = new AbortController();
  graceTimer: NodeJS.Timeout | undefined;
  /** Ends the task if it waits in the queue too long (CC_QUEUE_TIMEOUT). */
  queueTimer: NodeJS.Timeout | undefined;
  /** This router let go of the task without ending it (another router took it over). */
  released = false;
  /** Takes the task out of its owner's count of active tasks (Tasks.activeOf): at its end, or when let go of. */
  uncount: (() => void) | undefined;
  /** Called when another router turns out to have written the task's log. */
  lost: (() => void) | undefined;
  /** Position in the queue last reported to callers; 0 when not queued. */
  queuePosition = 0;
  /** Told of every change to the record or the log (TaskStore.watch); `event` when one was appended. */
  changed: ((entry: TaskEntry, event?: RunEvent) => void) | undefined;
  private seq = 0n;
  private readonly endListeners: (() => void)[] = [];

  /**
   * A new task, or (`stored`) one a router carries on with after a restart. With a store, every event and change of
   * record goes there; without one (unit tests) the log stays in memory.
   */
  constructor(
    readonly id: string,
    readonly request: RunRequest,
    logOptions: TaskLogOptions,
    store?: { store: TaskStore; stored?: StoredTask; logBytes?: number; logger?: Logger; owner?: string },
  ) {
    const stored = store?.stored;
    this.record =
      stored?.record ??
      create(TaskSchema, {
        id,
        requestId: request.requestId,
        status: TaskStatus.QUEUED,
        promptSummary: [...request.prompt].slice(0, PROMPT_SUMMARY_CHARS).join(""),
        mode: request.mode,
        agent: request.agent,
        labels: request.labels,
        createdAt: timestampNow(),
        detach: request.detach,
        owner: store?.owner ?? "",
        ...recordedOptions(request),
      });
    this.placement = stored?.placement;
    this.seq = this.record.lastSeq;
    if (stored?.record.startedAt) this.started = true;
    const backing = store ? this.backing(store.store, store.logger) : undefined;
    this.log = new TaskLog(logOptions, backing, { lastSeq: this.record.lastSeq, bytes: store?.logBytes ?? 0 });
  }

  /**
   * The task as the store keeps it: the record as of the last event appended, and the request without its
   * environment variables' values. Those are for claude alone: they stay in this router's memory, never on disk or
   * in Redis (a router that carries on with a task the store holds cannot launch it again if it had some; see
   * `lostEnv`).
   */
  stored(): StoredTask {
    const request = Object.keys(this.request.env).length > 0 ? { ...this.request, env: {} } : this.request;
    return { record: this.record, request, placement: this.placement };
  }

  /**
   * The task asked for environment variables whose values this router does not have: it was accepted by a router
   * that stopped (or by another router) before a worker took it, and the store keeps the names only.
   */
  get lostEnv(): boolean {
    return this.record.envNames.length > 0 && Object.keys(this.request.env).length === 0;
  }

  /** The record or placement changed with no event: saved with the log's next write. */
  touch(): void {
    this.log.touch();
  }

  /** A worker has the task: its repository token is of no more use, and the store no longer keeps it. */
  accept(placement: Placement): void {
    this.placement = placement;
    const repo = this.request.workspace?.source.case === "repository" ? this.request.workspace.source.value : undefined;
    if (repo && repo.token) repo.token = "";
  }

  private backing(store: TaskStore, logger: Logger | undefined): LogBacking {
    return {
      commit: (events) => (events.length > 0 ? store.append(this.stored(), events) : store.save(this.stored())),
      read: (afterSeq, limit) => store.read(this.id, afterSeq, limit),
      onRetry: (err, attempt) => {
        if (attempt === 1 || attempt % 20 === 0) logger?.error({ taskId: this.id, store: store.where, err: String(err), attempt }, "the task store refused a write; holding the task until it takes it");
      },
      onLost: (err) => {
        logger?.warn({ taskId: this.id, err: err.message }, "another router wrote this task's log; letting it go");
        this.lost?.();
      },
    };
  }

  get ended(): boolean {
    return this.log.isClosed;
  }

  /**
   * Appends an event under this task's own numbering. Resolves when the log is ready for the next one (its live
   * followers have caught up); throws TaskLogFull, appending nothing, when the log is full.
   */
  append(event: RunEvent): Promise<void> {
    const seq = this.seq + 1n;
    event.seq = seq;
    event.taskId = this.id;
    const ready = this.log.append(event, this.ending.signal);
    this.seq = seq;
    this.record.lastSeq = seq;
    // The log is never trimmed while the task is kept: it holds every event from the first (stored with the record).
    this.record.firstSeq = 1n;
    this.changed?.(this, event);
    return ready;
  }

  /** Appends a new event from the router itself (a queue position). It does not wait for followers. */
  emit(body: MessageInitShape<typeof RunEventSchema>["event"]): void {
    try {
      void this.append(create(RunEventSchema, { time: timestampNow(), event: body }));
    } catch (err) {
      if (!(err instanceof TaskLogFull)) throw err;
    }
  }

  /** Records why the router ends the task; the first reason counts. Returns false when one was already given. */
  requestEnd(end: EndRequest): boolean {
    if (this.endRequest || this.ended) return false;
    this.endRequest = end;
    this.ending.abort(ENDING);
    return true;
  }

  /**
   * Ends the task with the worker's `exited` event. When the router had asked the worker to stop it, the reason and
   * message are the router's (the worker only knows it was cancelled).
   */
  endWith(event: RunEvent): void {
    if (this.ended || event.event.case !== "exited") return;
    const exited = event.event.value;
    if (this.endRequest && exited.reason === ExitReason.CANCELLED) {
      // What the worker added to its own words (output it did not keep while stopping) stays.
      const own = this.endRequest.workerMessage;
      const added = own !== undefined && exited.message.startsWith(own) ? exited.message.slice(own.length) : "";
      exited.reason = this.endRequest.reason;
      exited.message = this.endRequest.message + added;
    }
    this.close(event, exited);
  }

  /** Ends the task with an `exited` the router makes: claude did not run here, or the router lost sight of it. */
  end(exited: MessageInitShape<typeof ExitedSchema>): void {
    if (this.ended) return;
    const value = create(ExitedSchema, { exitCode: -1, ...exited });
    this.close(create(RunEventSchema, { time: timestampNow(), event: { case: "exited", value } }), value);
  }

  onEnd(listener: () => void): void {
    if (this.ended) listener();
    else this.endListeners.push(listener);
  }

  /** Resolves once the task has ended. */
  whenEnded(): Promise<void> {
    return new Promise((resolve) => this.onEnd(resolve));
  }

  snapshot(): Task {
    this.record.subscribers = this.log.subscriberCount;
    return this.record;
  }

  markStarted(worker: WorkerEntry, at = new Date()): void {
    this.started = true;
    this.record.status = TaskStatus.RUNNING;
    this.record.startedAt = timestampFromDate(at);
    this.record.workerId = worker.id;
  }

  /** `exited` is the last event of every task: appended (it always fits in the log), then the log closes. */
  private close(event: RunEvent, exited: Exited): void {
    this.ending.abort(ENDING);
    void this.append(event);
    this.record.exit = exited;
    this.record.status = statusOf(exited);
    this.record.endedAt = timestampNow();
    this.log.close();
    clearTimeout(this.graceTimer);
    clearTimeout(this.queueTimer);
    this.record.pendingPermissions = [];
    this.changed?.(this);
    // The variables were for claude; an ended task's entry holds none of them.
    this.request.env = {};
    for (const l of this.endListeners.splice(0)) l();
  }
}

/** What the record keeps of the request's options beyond the agent's: never env values or a repository token. */
function recordedOptions(request: RunRequest): MessageInitShape<typeof TaskSchema> {
  const source = request.workspace?.source;
  const workspace =
    source?.case === "repository"
      ? { source: { case: "repository" as const, value: { url: source.value.url, ref: source.value.ref } } }
      : source?.case === "directory"
        ? { source: { case: "directory" as const, value: source.value } }
        : undefined;
  return {
    ...(workspace ? { workspace } : {}),
    ...(request.timeout ? { timeout: request.timeout } : {}),
    envNames: Object.keys(request.env).sort(),
    requestedWorkerId: request.workerId,
    spreadGroup: request.spreadGroup,
    routine: request.routine,
    retryOf: request.retryOf,
  };
}

export function statusOf(exited: Exited): TaskStatus {
  switch (exited.reason) {
    case ExitReason.COMPLETED:
      return exited.exitCode === 0 && !exited.result?.isError ? TaskStatus.SUCCEEDED : TaskStatus.FAILED;
    case ExitReason.CANCELLED:
    case ExitReason.CLIENT_GONE:
      return TaskStatus.CANCELLED;
    default:
      return TaskStatus.FAILED;
  }
}

export interface TasksOptions {
  retention: RetentionLimits;
  log: TaskLogOptions;
  /** This router and its leases' time: a task is run by the router that holds its lease (ownership.ts). */
  lease?: { routerId: string; ttlMs: number };
  logger?: Logger;
  now?: () => number;
}

/** Told when a task this router runs is added or changes (`event`: the one appended, if any), and when it lets go of it. */
export interface TaskListener {
  changed(entry: TaskEntry, event?: RunEvent): void;
  removed(entry: TaskEntry): void;
}

/** A task looked up: run here (`entry`), or only in the store (ended, or another router's). */
export type FoundTask = { entry: TaskEntry; stored?: undefined } | { entry?: undefined; stored: StoredTask };

/** Ended tasks whose worker the router's log lines still name (a GetTask right after the end). */
const RECENT_WORKERS = 10_000;

export class Tasks {
  /** The tasks this router runs (not ended), by id. */
  private readonly live_ = new Map<string, TaskEntry>();
  /** How many tasks each owner has running here, not ended: kept as tasks start and end, for the quotas (activeOf). */
  private readonly activeByOwner = new Map<string, number>();
  private readonly recentWorkers = new Map<string, string>();
  private readonly listeners = new Set<TaskListener>();
  private timer: NodeJS.Timeout | undefined;
  private evicting: Promise<void> | undefined;
  private evictTimer: NodeJS.Timeout | undefined;
  private evictAgain = false;

  constructor(
    readonly store: TaskStore,
    private readonly options: TasksOptions,
  ) {}

  /**
   * Applies the retention limits on a timer too, not only when a task ends: an idle router forgets tasks older than
   * CC_RETAIN_AGE within a tenth of it (at least every minute, at most every second).
   */
  start(): void {
    clearInterval(this.timer);
    this.timer = setInterval(() => void this.evict(), Math.min(60_000, Math.max(1000, this.options.retention.ageMs / 10)));
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    clearTimeout(this.evictTimer);
    this.evictTimer = undefined;
  }

  /**
   * Applies retention shortly after a task ends, once for all the tasks that end meanwhile: a pass reads every ended
   * task, and one pass per end cost a router completing 70 tasks a second 14% of its CPU (bench figure 13).
   */
  private evictSoon(): void {
    if (this.evictTimer) return;
    this.evictTimer = setTimeout(() => {
      this.evictTimer = undefined;
      void this.evict();
    }, EVICT_AFTER_END_MS);
  }

  /** A new task of `owner` (the caller's name), not stored yet (add stores it). */
  newEntry(request: RunRequest, owner = ""): TaskEntry {
    return new TaskEntry(newTaskId(), request, this.options.log, { store: this.store, owner, ...(this.options.logger ? { logger: this.options.logger } : {}) });
  }

  /**
   * Stores a new task and runs it here; when its request id names a task the store has, nothing is added and that
   * task's record comes back instead.
   */
  async add(entry: TaskEntry): Promise<{ created: true } | { created: false; existing: Task }> {
    const lease = this.options.lease;
    try {
      // The lease first: another router taking over unfinished tasks never takes one being created.
      if (lease) await this.store.claim(entry.id, lease.routerId, lease.ttlMs);
      const outcome = await this.store.create(entry.stored());
      if (outcome.created) this.run(entry);
      else if (lease) await this.store.release(entry.id, lease.routerId);
      return outcome;
    } catch (err) {
      throw storeError(err);
    }
  }

  /** Runs a task the store has here again (a router carrying on after a restart). */
  adopt(stored: StoredTask, logBytes: number): TaskEntry {
    const entry = new TaskEntry(stored.record.id, stored.request, this.options.log, {
      store: this.store,
      stored,
      logBytes,
      ...(this.options.logger ? { logger: this.options.logger } : {}),
    });
    this.run(entry);
    return entry;
  }

  private run(entry: TaskEntry): void {
    this.live_.set(entry.id, entry);
    if (!entry.ended) {
      const owner = entry.record.owner;
      this.countActive(owner, 1);
      // Once, at its end or when let go of, whichever comes first.
      entry.uncount = () => {
        entry.uncount = undefined;
        this.countActive(owner, -1);
      };
      entry.onEnd(() => entry.uncount?.());
    }
    // Another router wrote the task's log: it runs the task now.
    entry.lost = () => this.release(entry);
    entry.changed = (e, event) => {
      for (const l of this.listeners) l.changed(e, event);
    };
    entry.changed(entry);
    entry.onEnd(() => {
      // Looked up here until the store has its end, then in the store.
      void entry.log.whenStored().then(() => {
        if (this.live_.get(entry.id) !== entry) return;
        this.live_.delete(entry.id);
        if (entry.record.workerId) {
          this.recentWorkers.set(entry.id, entry.record.workerId);
          if (this.recentWorkers.size > RECENT_WORKERS) this.recentWorkers.delete(this.recentWorkers.keys().next().value!);
        }
        for (const l of this.listeners) l.removed(entry);
        if (this.options.lease) void this.store.release(entry.id, this.options.lease.routerId).catch(() => undefined);
        this.evictSoon();
      });
    });
  }

  /** Stops running a task here without ending it (another router took it over). */
  release(entry: TaskEntry): void {
    if (this.live_.get(entry.id) !== entry) return;
    entry.released = true;
    entry.abort.abort();
    this.live_.delete(entry.id);
    entry.uncount?.();
    for (const l of this.listeners) l.removed(entry);
  }

  /** Tells `listener` of every change to the tasks run here from now on; returns the function that stops it. */
  watch(listener: TaskListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Tells `listener` of every change in the store (this router's tasks and, with a shared store, others'). */
  watchStore(listener: StoreListener): () => void {
    return this.store.watch(listener);
  }

  /** A task this router runs; NOT_FOUND otherwise. */
  get(id: string): TaskEntry {
    checkTaskId(id);
    const entry = this.live_.get(id);
    if (!entry) throw notFound(`task ${id}`, "list tasks with `cc ps --all`; ended tasks are kept only for a while");
    return entry;
  }

  /** The worker of a task run here, or that ended here lately, for log lines; undefined when not known at once. */
  workerOf(id: string): string | undefined {
    return this.live_.get(id)?.record.workerId || this.recentWorkers.get(id) || undefined;
  }

  /** A task this router runs, if it does. */
  live(id: string): TaskEntry | undefined {
    return this.live_.get(id);
  }

  /**
   * A task run here, or else as the store has it; NOT_FOUND when neither has it, or when `caller` (a `user`) does
   * not own it: the same answer as for an unknown id, so that another's ids do not leak.
   */
  async find(id: string, caller?: Identity): Promise<FoundTask> {
    const found = await this.findAny(id);
    const record = found.entry ? found.entry.record : found.stored.record;
    if (caller && !visibleTo(caller, record)) throw notFound(`task ${id}`, "list tasks with `cc ps --all`; ended tasks are kept only for a while");
    return found;
  }

  private async findAny(id: string): Promise<FoundTask> {
    checkTaskId(id);
    const entry = this.live_.get(id);
    if (entry) return { entry };
    const stored = await this.store.get(id).catch((err: unknown) => {
      throw storeError(err);
    });
    // Ended meanwhile (and let go of once stored): the store has it now.
    if (stored) return { stored };
    const late = this.live_.get(id);
    if (late) return { entry: late };
    throw notFound(`task ${id}`, "list tasks with `cc ps --all`; ended tasks are kept only for a while");
  }

  /** The task a request id names, if there is one. */
  async byRequestId(requestId: string): Promise<Task | undefined> {
    for (const entry of this.live_.values()) if (entry.request.requestId === requestId) return entry.snapshot();
    return this.store.byRequestId(requestId).catch((err: unknown) => {
      throw storeError(err);
    });
  }

  /** A task's current record. */
  async record(id: string, caller?: Identity): Promise<Task> {
    const found = await this.find(id, caller);
    return found.entry ? found.entry.snapshot() : found.stored.record;
  }

  /** Records newest first; the tasks run here as they are now (the store may be a write behind). */
  async list(query: TaskQuery): Promise<TaskPage> {
    const page = await this.store.list(query).catch((err: unknown) => {
      throw storeError(err);
    });
    return { ...page, tasks: page.tasks.map((t) => this.live_.get(t.id)?.snapshot() ?? t) };
  }

  /** How many tasks of `owner` this router runs that have not ended (queued ones too). */
  activeOf(owner: string): number {
    return this.activeByOwner.get(owner) ?? 0;
  }

  private countActive(owner: string, by: number): void {
    const n = (this.activeByOwner.get(owner) ?? 0) + by;
    if (n === 0) this.activeByOwner.delete(owner);
    else this.activeByOwner.set(owner, n);
  }

  /** The tasks this router runs that have not ended. */
  active(): TaskEntry[] {
    return [...this.live_.values()].filter((t) => !t.ended);
  }

  /**
   * Forgets the oldest ended tasks past the count, age and log-bytes limits (in the store). Callers still reading a
   * forgotten task's log read what they are given and stop. One pass at a time; a call meanwhile runs another after.
   */
  evict(): Promise<void> {
    if (this.evicting) {
      this.evictAgain = true;
      return this.evicting;
    }
    this.evicting = (async () => {
      do {
        this.evictAgain = false;
        try {
          await this.store.applyRetention(this.options.retention, this.options.now?.() ?? Date.now());
        } catch (err) {
          this.options.logger?.warn({ err: String(err) }, "could not apply the retention limits to the task store; trying again later");
        }
      } while (this.evictAgain);
      this.evicting = undefined;
    })();
    return this.evicting;
  }
}

function checkTaskId(id: string): void {
  if (id === "") throw invalidArgument("task_id", "is required; list tasks with `cc ps --all`");
  // Checked before the lookup so that a malformed id (overlong, control characters) is never echoed back.
  if (!isValidTaskId(id)) throw invalidArgument("task_id", "must be 1-64 letters, digits, '-' or '_'; list tasks with `cc ps --all`");
}

/** A store that cannot answer is UNAVAILABLE to the caller, with the store's words. */
export function storeError(err: unknown): unknown {
  if (err instanceof StoreUnavailable) return new ConnectError(`the task store is unavailable: ${err.message}`, Code.Unavailable, undefined, undefined, err);
  if (err instanceof RangeError) return invalidArgument("page_token", err.message.replace(/^page_token /, ""));
  return err;
}
