// Task records: one entry per task with its record (the Task message), its event log and its place in the
// cluster. The store keeps ended tasks within a count, an age and a total of log bytes, and indexes request ids for
// idempotency.
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate, timestampNow } from "@bufbuild/protobuf/wkt";
import type { ConnectError } from "@connectrpc/connect";
import { type Task, TaskSchema, TaskStatus } from "../../gen/claudecluster/v1/router_pb.js";
import { ExitReason, type Exited, type RunEvent, RunEventSchema, type RunRequest } from "../../gen/claudecluster/v1/run_pb.js";
import { invalidArgument, notFound } from "../common/errors.js";
import { isValidTaskId } from "../common/ids.js";
import type { WorkerEntry } from "./registry.js";
import { TaskLog, type TaskLogOptions } from "./task-log.js";

const PROMPT_SUMMARY_CHARS = 200;

export class TaskEntry {
  readonly record: Task;
  readonly log: TaskLog;
  /** Aborts the forwarded worker stream. */
  readonly abort = new AbortController();
  worker: WorkerEntry | undefined;
  /** The worker reported `started`: from here on the task is never placed again. */
  started = false;
  /** Workers that failed this task before it started. */
  readonly excluded = new Set<string>();
  /** Cancelled while queued or before claude started. */
  cancelRequested: string | undefined;
  graceTimer: NodeJS.Timeout | undefined;
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
    });
  }

  get ended(): boolean {
    return this.log.isClosed;
  }

  /** Appends an event under this task's own numbering. */
  append(event: RunEvent): void {
    this.seq += 1n;
    event.seq = this.seq;
    event.taskId = this.id;
    this.record.lastSeq = this.seq;
    this.log.append(event);
    this.changed?.(this, event);
  }

  /** Appends a new event from the router itself. */
  emit(body: MessageInitShape<typeof RunEventSchema>["event"]): void {
    this.append(create(RunEventSchema, { time: timestampNow(), event: body }));
  }

  /** Ends the task with claude's (or the router's) `exited`. */
  finish(exited: Exited): void {
    if (this.ended) return;
    this.record.exit = exited;
    this.record.status = statusOf(exited);
    this.record.endedAt = timestampNow();
    this.log.close();
    this.ended_();
  }

  /** Ends the task with an error that attached callers receive after the events (e.g. the worker was lost). */
  fail(error: ConnectError, exited: Exited): void {
    if (this.ended) return;
    this.record.exit = exited;
    this.record.status = TaskStatus.FAILED;
    this.record.endedAt = timestampNow();
    this.log.close(error);
    this.ended_();
  }

  onEnd(listener: () => void): void {
    if (this.ended) listener();
    else this.endListeners.push(listener);
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

  private ended_(): void {
    clearTimeout(this.graceTimer);
    this.record.pendingPermissions = [];
    this.changed?.(this);
    for (const l of this.endListeners.splice(0)) l();
  }
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

  constructor(private readonly options: TaskStoreOptions) {}

  add(entry: TaskEntry): void {
    this.tasks.set(entry.id, entry);
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

  /** Newest first; `where` narrows further. */
  list(statuses: TaskStatus[], limit: number, where?: (task: Task) => boolean): Task[] {
    const out: Task[] = [];
    const ids = [...this.tasks.keys()].sort().reverse();
    for (const id of ids) {
      const entry = this.tasks.get(id)!;
      if ((statuses.length === 0 || statuses.includes(entry.record.status)) && (!where || where(entry.record))) out.push(entry.snapshot());
      if (out.length >= limit) break;
    }
    return out;
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
    const ended = [...this.tasks.values()].filter((t) => t.ended).sort((a, b) => (a.id < b.id ? -1 : 1));
    let excess = ended.length - this.options.retainTasks;
    let logBytes = 0;
    for (const t of ended) logBytes += t.log.retainedBytes;
    for (const t of ended) {
      const endedMs = t.record.endedAt ? Number(t.record.endedAt.seconds) * 1000 : now;
      if (excess > 0 || logBytes > this.options.retainLogBytes || now - endedMs > this.options.retainAgeMs) {
        this.tasks.delete(t.id);
        if (this.byRequestId.get(t.request.requestId) === t) this.byRequestId.delete(t.request.requestId);
        for (const l of this.listeners) l.removed(t);
        excess -= 1;
        logBytes -= t.log.retainedBytes;
      }
    }
  }
}
