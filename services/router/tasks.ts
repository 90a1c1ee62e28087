// Task records: one entry per task with its record (the Task message), its event log and its place in the
// cluster. Every task's log ends with `exited`, whoever ended it (TaskEntry.endWith for the worker's, TaskEntry.end
// for the router's own). The store keeps ended tasks within a count, an age and a total of log bytes, and indexes
// request ids for idempotency.
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate, timestampMs, timestampNow } from "@bufbuild/protobuf/wkt";
import { type Task, TaskSchema, TaskStatus } from "../../gen/claudecluster/v1/router_pb.js";
import { ExitReason, type Exited, ExitedSchema, type RunEvent, RunEventSchema, type RunRequest } from "../../gen/claudecluster/v1/run_pb.js";
import { invalidArgument, notFound } from "../common/errors.js";
import { isValidTaskId } from "../common/ids.js";
import type { WorkerEntry } from "./registry.js";
import { TaskLog, TaskLogFull, type TaskLogOptions } from "./task-log.js";

const PROMPT_SUMMARY_CHARS = 200;

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
  /** Aborts the forwarded worker stream. */
  readonly abort = new AbortController();
  worker: WorkerEntry | undefined;
  /**
   * The worker's first event arrived: it accepted the task (workers acknowledge before they clone or start claude).
   * From here on the task is never placed on another worker.
   */
  accepted = false;
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
  /** Set once the router decided to end the task (cancel, shutdown, caller gone, full log). */
  endRequest: EndRequest | undefined;
  /** Aborted with endRequest: an ending task no longer waits for slow followers. */
  private readonly ending = new AbortController();
  graceTimer: NodeJS.Timeout | undefined;
  /** Ends the task if it waits in the queue too long (CC_QUEUE_TIMEOUT). */
  queueTimer: NodeJS.Timeout | undefined;
  /** Position in the queue last reported to callers; 0 when not queued. */
  queuePosition = 0;
  /** Told of every change to the record or the log (TaskStore.watch); `event` when one was appended. */
  changed: ((entry: TaskEntry, event?: RunEvent) => void) | undefined;
  private seq = 0n;
  private readonly endListeners: (() => void)[] = [];

  constructor(
    readonly id: string,
    readonly request: RunRequest,
    logOptions: TaskLogOptions,
  ) {
    this.log = new TaskLog(logOptions);
    this.record = create(TaskSchema, {
      id,
      requestId: request.requestId,
      status: TaskStatus.QUEUED,
      promptSummary: [...request.prompt].slice(0, PROMPT_SUMMARY_CHARS).join(""),
      mode: request.mode,
      agent: request.agent,
      labels: request.labels,
      createdAt: timestampNow(),
      detach: request.detach,
      ...recordedOptions(request),
    });
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
    this.ending.abort();
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
    this.record.firstSeq = this.log.firstRetainedSeq;
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
    this.ending.abort();
    void this.append(event);
    this.record.exit = exited;
    this.record.status = statusOf(exited);
    this.record.endedAt = timestampNow();
    this.log.close();
    clearTimeout(this.graceTimer);
    clearTimeout(this.queueTimer);
    this.record.pendingPermissions = [];
    this.changed?.(this);
    // The variables were for claude; an ended task's entry (kept for a while) holds none of them.
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

/** Which tasks `TaskStore.list` returns: every filter that is set must pass. */
export interface TaskQuery {
  statuses?: readonly TaskStatus[];
  /** Labels the task must carry, each with the same value. */
  labels?: Readonly<Record<string, string>>;
  /** Placed on this worker. */
  workerId?: string;
  /** Accepted at or after this time (ms since the epoch). */
  createdAfterMs?: number;
  /** Paging: only tasks older than this one (the last task of the previous page). */
  olderThan?: string;
  /** At most this many. */
  limit: number;
  /** A further test of each record (WatchTasks' filter). */
  where?: (task: Task) => boolean;
}

export interface TaskPage {
  /** Newest first. */
  tasks: Task[];
  /** More tasks match after the last one. */
  more: boolean;
}

/** Task ids sort by creation time, but two created within a millisecond of each other may not; this much slack covers that. */
const CREATED_ORDER_SLACK_MS = 1000;

export interface TaskStoreOptions {
  retainTasks: number;
  retainAgeMs: number;
  /** Bytes the event logs of ended tasks may hold together; past it, the oldest ended tasks go. */
  retainLogBytes: number;
  now?: () => number;
}

/** Told when a task is added or changes (`event`: the one appended, if any), and when the store forgets it. */
export interface TaskListener {
  changed(entry: TaskEntry, event?: RunEvent): void;
  removed(entry: TaskEntry): void;
}

export class TaskStore {
  private readonly tasks = new Map<string, TaskEntry>();
  private readonly byRequestId = new Map<string, TaskEntry>();
  private readonly listeners = new Set<TaskListener>();
  private timer: NodeJS.Timeout | undefined;
  /** Every task, oldest first (task ids sort by creation time): listing and eviction walk it without sorting. */
  private order: TaskEntry[] = [];

  constructor(private readonly options: TaskStoreOptions) {}

  /**
   * Applies the retention limits on a timer too, not only when a task ends: an idle router forgets tasks older than
   * CC_RETAIN_AGE within a tenth of it (at least every minute, at most every second).
   */
  start(): void {
    clearInterval(this.timer);
    this.timer = setInterval(() => this.evict(), Math.min(60_000, Math.max(1000, this.options.retainAgeMs / 10)));
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  add(entry: TaskEntry): void {
    this.tasks.set(entry.id, entry);
    // New ids are almost always the largest; a clock step back costs a search.
    const at = this.order.length === 0 || this.order.at(-1)!.id < entry.id ? this.order.length : this.indexAfter(entry.id);
    this.order.splice(at, 0, entry);
    if (entry.request.requestId) this.byRequestId.set(entry.request.requestId, entry);
    entry.changed = (e, event) => {
      for (const l of this.listeners) l.changed(e, event);
    };
    entry.changed(entry);
    entry.onEnd(() => this.evict());
  }

  /** Tells `listener` of every change from now on; returns the function that stops it. */
  watch(listener: TaskListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get(id: string): TaskEntry {
    if (id === "") throw invalidArgument("task_id", "is required; list tasks with `cc ps --all`");
    // Checked before the lookup so that a malformed id (overlong, control characters) is never echoed back.
    if (!isValidTaskId(id)) throw invalidArgument("task_id", "must be 1-64 letters, digits, '-' or '_'; list tasks with `cc ps --all`");
    const entry = this.tasks.get(id);
    if (!entry) throw notFound(`task ${id}`, "list tasks with `cc ps --all`; ended tasks are kept only for a while");
    return entry;
  }

  byRequest(requestId: string): TaskEntry | undefined {
    return requestId ? this.byRequestId.get(requestId) : undefined;
  }

  /**
   * The tasks that pass `query`, newest first, one page of them. Walks the tasks from the newest (or from just
   * below `olderThan`) and stops at the page's end, or at tasks older than `createdAfterMs`.
   */
  list(query: TaskQuery): TaskPage {
    const out: Task[] = [];
    const statuses = query.statuses ?? [];
    const labels = Object.entries(query.labels ?? {});
    const start = query.olderThan === undefined ? this.order.length : this.indexAfter(query.olderThan, true);
    for (let i = start - 1; i >= 0; i--) {
      const entry = this.order[i]!;
      const record = entry.record;
      if (query.createdAfterMs !== undefined) {
        const created = record.createdAt ? timestampMs(record.createdAt) : 0;
        if (created < query.createdAfterMs - CREATED_ORDER_SLACK_MS) break;
        if (created < query.createdAfterMs) continue;
      }
      if (statuses.length > 0 && !statuses.includes(record.status)) continue;
      if (query.workerId && record.workerId !== query.workerId) continue;
      if (labels.some(([k, v]) => record.labels[k] !== v)) continue;
      if (query.where && !query.where(record)) continue;
      if (out.length >= query.limit) return { tasks: out, more: true };
      out.push(entry.snapshot());
    }
    return { tasks: out, more: false };
  }

  active(): TaskEntry[] {
    return [...this.tasks.values()].filter((t) => !t.ended);
  }

  /**
   * Forgets the oldest ended tasks past the count, age and log-bytes limits. Callers still reading a forgotten
   * task's log read it to the end: they hold the log, the store only lets go of it.
   */
  evict(): void {
    const now = this.options.now?.() ?? Date.now();
    const ended = this.order.filter((t) => t.ended);
    let excess = ended.length - this.options.retainTasks;
    let logBytes = 0;
    for (const t of ended) logBytes += t.log.retainedBytes;
    let forgot = false;
    for (const t of ended) {
      const endedMs = t.record.endedAt ? Number(t.record.endedAt.seconds) * 1000 : now;
      if (excess > 0 || logBytes > this.options.retainLogBytes || now - endedMs > this.options.retainAgeMs) {
        this.tasks.delete(t.id);
        if (this.byRequestId.get(t.request.requestId) === t) this.byRequestId.delete(t.request.requestId);
        for (const l of this.listeners) l.removed(t);
        excess -= 1;
        logBytes -= t.log.retainedBytes;
        forgot = true;
      }
    }
    if (forgot) this.order = this.order.filter((t) => this.tasks.get(t.id) === t);
  }

  /** The index of the first task whose id is above `id` (or, with `orEqual`, at or above it). */
  private indexAfter(id: string, orEqual = false): number {
    let lo = 0;
    let hi = this.order.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const other = this.order[mid]!.id;
      if (other < id || (!orEqual && other === id)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
