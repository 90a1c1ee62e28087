// Placement and forwarding. A submitted task is placed on the least-loaded matching worker, or waits in a bounded
// queue (with `status` events giving its position). Its worker stream is read at full speed into the task's log.
// A worker that fails before claude started gets the task placed elsewhere (a bounded number of times); once it
// started, the task is never run twice: losing its worker fails it with UNAVAILABLE.
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { ExitReason, ExitedSchema, Phase, StatusSchema, type RunRequest } from "../../gen/claudecluster/v1/run_pb.js";
import { describe, notFound, resourceExhausted, unavailable } from "../common/errors.js";
import { newTaskId } from "../common/ids.js";
import type { Logger } from "../common/logger.js";
import { markReceived } from "../common/metrics.js";
import { requestIdHeaders } from "../common/rpc-log.js";
import { validateRunRequest } from "../common/validate-run.js";
import type { Registry, WorkerEntry } from "./registry.js";
import type { RouterSettings } from "./settings.js";
import { SpreadGroups } from "./spread-groups.js";
import { TaskEntry, type TaskStore } from "./tasks.js";
import { adoptWorkerEvent } from "./undecoded-events.js";

/** Worker errors before claude started that mean "try another worker". */
const RETRYABLE = new Set([Code.Unavailable, Code.ResourceExhausted, Code.FailedPrecondition, Code.Unknown, Code.Internal, Code.DeadlineExceeded, Code.Aborted, Code.Canceled]);

export class Dispatcher {
  private readonly queue: TaskEntry[] = [];
  private draining = false;
  /** The x-request-id of the Run that submitted each task, passed on to its worker. */
  private readonly requestIds = new WeakMap<TaskEntry, string>();
  private readonly spread = new SpreadGroups();

  constructor(
    private readonly settings: RouterSettings,
    private readonly registry: Registry,
    private readonly tasks: TaskStore,
    private readonly logger: Logger,
  ) {}

  /**
   * Accepts a task (or returns the earlier one with the same request id) and places or queues it. `rpcRequestId`:
   * the submitting call's x-request-id, sent on to the worker.
   */
  submit(req: RunRequest, rpcRequestId = ""): TaskEntry {
    if (this.draining) throw unavailable("the router is shutting down; try again shortly");
    const earlier = this.tasks.byRequest(req.requestId);
    if (earlier) return earlier;
    validateRunRequest(req, { maxPromptBytes: this.settings.maxPromptBytes, maxTimeoutMs: this.settings.maxTaskTimeoutMs });
    const candidates = this.candidatesFor(req, new Set());
    if (candidates.length === 0) throw this.noWorkerError(req);
    if (!this.registry.pick(candidates) && this.queue.length >= this.settings.queueLimit) {
      throw resourceExhausted(`every worker is busy and ${this.queue.length} tasks are already waiting (CC_QUEUE_LIMIT); try again later`);
    }
    const entry = new TaskEntry(newTaskId(), req, { maxBytes: this.settings.logBytes, maxLagBytes: this.settings.subscriberLagBytes });
    if (rpcRequestId) this.requestIds.set(entry, rpcRequestId);
    this.tasks.add(entry);
    this.queue.push(entry);
    this.logger.info({ taskId: entry.id, workerTarget: req.workerId || undefined }, "task accepted");
    this.pump();
    return entry;
  }

  /** Places queued tasks, in order, on workers with free slots; tells the rest their position. */
  pump(): void {
    for (let i = 0; i < this.queue.length; ) {
      const entry = this.queue[i]!;
      const worker = this.registry.pick(this.candidatesFor(entry.request, entry.excluded), this.spread.workersOf(entry.request.spreadGroup));
      if (!worker) {
        i += 1;
        continue;
      }
      this.queue.splice(i, 1);
      entry.queuePosition = 0;
      void this.forward(entry, worker);
    }
    this.queue.forEach((entry, index) => {
      const position = index + 1;
      if (entry.queuePosition === position) return;
      entry.queuePosition = position;
      const busy = this.registry.candidates(entry.request.labels).length;
      entry.emit({ case: "status", value: create(StatusSchema, { phase: Phase.QUEUED, queuePosition: position, detail: `waiting for a free slot on ${busy} busy worker(s)` }) });
    });
  }

  /** Stops a task wherever it is. Resolves when it has ended (bounded by the worker's kill grace). */
  async cancel(entry: TaskEntry, reason: string, rpcRequestId = ""): Promise<void> {
    if (entry.ended) return;
    const message = reason ? `cancelled: ${reason}` : "cancelled";
    const queued = this.queue.indexOf(entry);
    if (queued >= 0) {
      this.queue.splice(queued, 1);
      entry.finish(create(ExitedSchema, { exitCode: -1, reason: ExitReason.CANCELLED, message }));
      this.pump();
      return;
    }
    if (!entry.started || !entry.worker) {
      // Between placement and `started`: the forwarder sees this and ends the task once the worker answers.
      entry.cancelRequested = message;
      entry.abort.abort();
      return;
    }
    try {
      await entry.worker.client.cancel({ taskId: entry.id, reason }, { timeoutMs: 30_000, headers: requestIdHeaders(rpcRequestId) });
    } catch (err) {
      // The worker is unreachable: stop following it, and record the cancel.
      this.logger.warn({ taskId: entry.id, err: describe(err) }, "cancel on worker failed");
      entry.cancelRequested = message;
      entry.abort.abort();
    }
    await new Promise<void>((resolve) => entry.onEnd(resolve));
  }

  /** A caller left; with no one attached and no detach, the task is cancelled after the grace period. */
  subscriberLeft(entry: TaskEntry): void {
    if (entry.ended || entry.request.detach || entry.log.subscriberCount > 0) return;
    clearTimeout(entry.graceTimer);
    entry.graceTimer = setTimeout(() => {
      if (entry.log.subscriberCount > 0 || entry.ended) return;
      this.logger.info({ taskId: entry.id }, "no caller came back; cancelling");
      void this.cancel(entry, "the caller went away and no one attached within the grace period");
    }, this.settings.callerGraceMs);
    entry.graceTimer.unref();
  }

  subscriberJoined(entry: TaskEntry): void {
    clearTimeout(entry.graceTimer);
  }

  get queued(): number {
    return this.queue.length;
  }

  /** Refuses new tasks; running ones may finish within `graceMs`, then everything left is cancelled. */
  async drain(graceMs: number): Promise<void> {
    this.draining = true;
    const active = this.tasks.active();
    const all = Promise.all(active.map((t) => new Promise<void>((resolve) => t.onEnd(resolve))));
    const timer = setTimeout(() => {
      for (const t of this.tasks.active()) void this.cancel(t, "the router shut down");
    }, graceMs);
    await all;
    clearTimeout(timer);
  }

  private candidatesFor(req: RunRequest, excluded: ReadonlySet<string>): WorkerEntry[] {
    const all = this.registry.candidates(req.labels, excluded);
    return req.workerId ? all.filter((w) => w.id === req.workerId) : all;
  }

  private noWorkerError(req: RunRequest): ConnectError {
    if (req.workerId) {
      const target = this.registry.byId(req.workerId);
      if (!target) return notFound(`worker ${req.workerId}`, "list workers with `cc workers`");
      return unavailable(`worker ${req.workerId} is ${target.problem || "not taking tasks"}; pick another worker or none`);
    }
    const labels = Object.entries(req.labels).map(([k, v]) => `${k}=${v}`);
    if (labels.length > 0) return unavailable(`no online worker has the labels ${labels.join(", ")}; check \`cc workers\``);
    return unavailable("no workers are online; start one with `npm run worker` (CC_ROUTER_URL pointing here) or list workers in CC_WORKERS");
  }

  /** Runs the task on `worker`, copying its events, undecoded but for `started` and `exited`, into the task's log. */
  private async forward(entry: TaskEntry, worker: WorkerEntry): Promise<void> {
    entry.worker = worker;
    worker.assigned += 1;
    this.spread.placed(entry.request.spreadGroup, worker.id);
    entry.record.attempts += 1;
    entry.record.workerId = worker.id;
    let failure: unknown;
    try {
      const headers = requestIdHeaders(this.requestIds.get(entry));
      const stream = worker.events.run({ ...entry.request, taskId: entry.id }, { signal: entry.abort.signal, headers });
      for await (const raw of stream) {
        const event = adoptWorkerEvent(raw);
        // Router-added latency is measured from here to the event leaving for a caller (metrics).
        if (entry.log.subscriberCount > 0) markReceived(event);
        if (event.event.case === "started") {
          entry.markStarted(worker);
          event.event.value.attempt = entry.record.attempts;
        }
        if (event.event.case === "exited") {
          entry.append(event);
          entry.finish(event.event.value);
          return;
        }
        entry.append(event);
      }
      failure = new ConnectError("the worker ended the stream without an exit event", Code.Unavailable);
    } catch (err) {
      failure = err;
    } finally {
      worker.assigned -= 1;
      this.spread.released(entry.request.spreadGroup, worker.id);
      // A freed slot may let a queued task run.
      setImmediate(() => this.pump());
    }
    this.afterFailure(entry, worker, failure);
  }

  private afterFailure(entry: TaskEntry, worker: WorkerEntry, failure: unknown): void {
    const err = ConnectError.from(failure);
    if (entry.cancelRequested) {
      entry.finish(create(ExitedSchema, { exitCode: -1, reason: ExitReason.CANCELLED, message: entry.cancelRequested }));
      return;
    }
    if (entry.started) {
      this.registry.markFailed(worker, `lost while running a task: ${err.rawMessage}`);
      const message = `worker ${worker.id} was lost while running task ${entry.id} (${err.rawMessage}); the task is marked failed`;
      entry.fail(new ConnectError(message, Code.Unavailable), create(ExitedSchema, { exitCode: -1, reason: ExitReason.FAILED, message }));
      return;
    }
    const retryable = RETRYABLE.has(err.code);
    if (retryable && err.code !== Code.ResourceExhausted) this.registry.markFailed(worker, `failed to start a task: ${err.rawMessage}`);
    if (retryable && entry.record.attempts < this.settings.maxAttempts && !this.draining) {
      this.logger.warn({ taskId: entry.id, workerId: worker.id, err: err.rawMessage }, "placing the task again");
      entry.excluded.add(worker.id);
      if (this.candidatesFor(entry.request, entry.excluded).length > 0) {
        this.queue.unshift(entry);
        return;
      }
    }
    // Not retryable, out of attempts, or nowhere else to go: the worker's error, re-wrapped (no worker headers).
    const message = `worker ${worker.id} could not run the task: ${err.rawMessage}`;
    entry.fail(new ConnectError(message, retryable ? Code.Unavailable : err.code), create(ExitedSchema, { exitCode: -1, reason: ExitReason.FAILED, message }));
  }
}

