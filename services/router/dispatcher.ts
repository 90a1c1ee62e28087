// Placement and forwarding. A submitted task is placed on the least-loaded matching worker, or waits in a bounded
// queue (with `status` events giving its position) for at most CC_QUEUE_TIMEOUT. Its worker stream is copied into
// the task's log no faster than the task's live followers read it (task-log.ts), so a slow reader slows claude
// instead of losing output.
//
// At most once: a worker acknowledges a task with its first event, before it clones or starts claude. A worker
// that refused the task, or was never reached, has it placed elsewhere (up to CC_MAX_ATTEMPTS); a worker whose
// stream broke before any answer may have the task, so only that worker is asked again, and it answers
// ALREADY_EXISTS if it has it; a task a worker accepted is never placed again, and losing that worker ends it.
//
// Every ending the router decides (cancel, queue timeout, a lost worker, no worker left, a full log, shutdown, a
// caller that never came back) appends an `exited` of the router's own: `exited` is always a task's last event.
//
// A router that starts carries on with the tasks its store says have not ended (resume): a queued one is queued
// again, one whose placement had no answer yet is asked of the same worker only, and one a worker accepted is
// re-attached to on that worker (WorkerService.Attach) from the last event stored, so that the events of the gap
// arrive once and nothing runs twice. The worker keeps such a task for its CC_ROUTER_GRACE.
import { Code, ConnectError } from "@connectrpc/connect";
import { ExitReason, Phase, StatusSchema, type RunRequest } from "../../gen/claudecluster/v1/run_pb.js";
import { create } from "@bufbuild/protobuf";
import { describe, notFound, resourceExhausted, unavailable } from "../common/errors.js";
import type { Logger } from "../common/logger.js";
import { markReceived } from "../common/metrics.js";
import { requestIdHeaders } from "../common/rpc-log.js";
import { validateRunRequest } from "../common/validate-run.js";
import { classifyPlacementFailure, workerSideRefusal } from "./placement-failure.js";
import { type Task, WorkerHealth } from "../../gen/claudecluster/v1/router_pb.js";
import { type Identity, visibleTo } from "./identity/index.js";
import type { OwnerCounts } from "./quotas/index.js";
import type { Registry, WorkerEntry } from "./registry.js";
import type { SessionHandoff } from "./sessions/index.js";
import { durationText } from "../common/settings.js";
import type { RouterSettings } from "./settings.js";
import { isExited } from "./store/event-bytes.js";
import type { StoredTask } from "./store/interface.js";
import { type EndRequest, type TaskEntry, type Tasks } from "./tasks.js";
import { TaskLogFull } from "./task-log.js";
import { trackPermissionEvent } from "./permissions.js";
import { SpreadGroups } from "./spread-groups.js";
import { adoptWorkerEvent, workerSeqOf } from "./undecoded-events.js";
import { holdsEnvironmentOf } from "./environment-placement.js";

/**
 * A Run repeating a request id joins the task it started, if the caller may see that task; another caller's request
 * id is refused without naming the task (request ids are one namespace, and ids must not leak).
 */
function sameCaller(earlier: Task, caller: Identity | undefined): string {
  if (caller && !visibleTo(caller, earlier)) {
    throw new ConnectError("request_id is already used by a task of another caller; choose another (a fresh UUID)", Code.AlreadyExists);
  }
  return earlier.id;
}

/** The quotas of identities (quotas/), as placement needs them. */
export interface PlacementQuotas {
  /** Checks (and fits) a new task of `caller`; throws RESOURCE_EXHAUSTED past a quota or budget. */
  admit(req: RunRequest, caller: Identity, counts: OwnerCounts, willWait: boolean): Promise<void>;
  /** Whether a queued task of `owner` must wait for one of its own to end (its running quota). */
  heldBack(owner: string, counts: OwnerCounts): boolean;
  /** Words for a task so held, for its queue status. */
  heldBackDetail(owner: string): string;
}

/** Longest the router waits for a worker to answer Cancel (the worker answers once the task's processes are gone). */
const CANCEL_TIMEOUT_MS = 30_000;
/** After a worker confirmed it stopped a task, how long the task's `exited` may take to come down its stream. */
const EXITED_AFTER_STOP_MS = 10_000;
/** How often a task waiting to be re-attached looks for its worker in the registry. */
const REATTACH_POLL_MS = 200;

export class Dispatcher {
  private readonly queue: TaskEntry[] = [];
  /** How many of the queue's tasks each owner has. */
  private readonly queuedBy = new Map<string, number>();
  private draining = false;
  /** Takes over what no router holds now (ownership.ts): a cancel for a dead router's task waits for it. */
  onTakeOver: (() => Promise<unknown>) | undefined;
  /** The x-request-id of the Run that submitted each task, passed on to its worker. */
  private readonly requestIds = new WeakMap<TaskEntry, string>();
  private readonly spread = new SpreadGroups();
  /** Quotas and budgets per identity; none: no limits. */
  quotas: PlacementQuotas | undefined;

  constructor(
    private readonly settings: RouterSettings,
    private readonly registry: Registry,
    private readonly tasks: Tasks,
    private readonly logger: Logger,
    /** This router's id, sent to workers with each placement (`placed_by`). */
    private readonly routerId = "router",
    /** What a task resuming a session takes to its worker besides its request: the transcript (sessions/). */
    private readonly sessions?: Pick<SessionHandoff, "forWorker">,
  ) {}

  /**
   * Accepts a task (or finds the earlier one with the same request id) and places or queues it; returns its id.
   * `rpcRequestId`: the submitting call's x-request-id, sent on to the worker.
   */
  async submit(req: RunRequest, rpcRequestId = "", caller?: Identity): Promise<string> {
    if (this.draining) throw unavailable("the router is shutting down; try again shortly");
    if (req.requestId) {
      const earlier = await this.tasks.byRequestId(req.requestId);
      if (earlier) return sameCaller(earlier, caller);
    }
    validateRunRequest(req, { maxPromptBytes: this.settings.maxPromptBytes, maxTimeoutMs: this.settings.maxTaskTimeoutMs });
    // The router sets it; whatever a caller sent is not the router's.
    req.placedBy = "";
    const candidates = this.candidatesFor(req);
    const free = candidates.length > 0 && this.registry.pick(candidates) !== undefined;
    // The caller's own limits first: a spent budget is the answer whatever the workers are doing.
    if (caller && this.quotas) await this.quotas.admit(req, caller, this.countsOf(caller.name), !free);
    if (candidates.length === 0) throw this.noWorkerError(req);
    if (!free && this.queue.length >= this.settings.queueLimit) {
      throw resourceExhausted(`every worker is busy and ${this.queue.length} tasks are already waiting (CC_QUEUE_LIMIT); try again later`);
    }
    const entry = this.tasks.newEntry(req, caller?.name ?? "");
    const outcome = await this.tasks.add(entry);
    // Another Run with the same request id was first.
    if (!outcome.created) return sameCaller(outcome.existing, caller);
    if (rpcRequestId) this.requestIds.set(entry, rpcRequestId);
    if (this.draining) {
      entry.end({ reason: ExitReason.SHUTDOWN, message: "the router shut down before the task was placed on a worker; run it again" });
      return entry.id;
    }
    this.enqueue(entry);
    this.logger.info({ taskId: entry.id, workerTarget: req.workerId || undefined }, "task accepted");
    this.pump();
    return entry.id;
  }

  /**
   * Carries on with a task the store says has not ended and whose lease this router just took (ownership.ts): run
   * here again, and queued, asked of its worker again, or re-attached to on its worker.
   */
  async resume(stored: StoredTask): Promise<void> {
    const entry = this.tasks.adopt(stored, await this.tasks.store.logBytes(stored.record.id));
    const placement = entry.placement;
    this.logger.info({ taskId: entry.id, workerId: placement?.workerId, accepted: placement?.accepted, afterSeq: placement?.workerSeq.toString() }, "carrying on with a task after a restart");
    if (stored.cancelReason !== undefined) {
      void this.cancel(entry, stored.cancelReason);
      return;
    }
    if (!placement) {
      this.enqueue(entry);
      return;
    }
    if (!placement.accepted) {
      // Sent to that worker, with no answer heard: only it may have the task (it says ALREADY_EXISTS if it has).
      entry.pinnedTo = placement.workerId;
      this.enqueue(entry, true);
      return;
    }
    void this.reattach(entry, placement.workerId, Date.now() + this.settings.reattachWaitMs);
  }

  /**
   * Re-attaches to a task on the worker that accepted it, once that worker is known again (it re-registers, or is
   * probed), from the last event stored. It ends the task FAILED when the worker does not come back in time.
   */
  private async reattach(entry: TaskEntry, workerId: string, deadline: number, lost?: string): Promise<void> {
    for (;;) {
      if (entry.ended) return;
      if (entry.endRequest) {
        entry.end({ reason: entry.endRequest.reason, message: entry.endRequest.message });
        return;
      }
      const worker = this.registry.byId(workerId);
      if (worker && !worker.problem && worker.info) {
        void this.forward(entry, worker, entry.placement!.workerSeq);
        return;
      }
      if (Date.now() > deadline || this.draining) {
        const wait = this.draining ? "before the router shut down" : `within ${durationText(this.settings.reattachWaitMs)} (CC_REATTACH_WAIT)`;
        let message: string;
        if (!lost) {
          message =
            `worker ${workerId} ran task ${entry.id}, and did not come back ${wait} for the router to re-attach to it; ` +
            "if it is still running there, it ends after the worker's CC_ROUTER_GRACE";
        } else if (entry.started) {
          message = `worker ${workerId} was lost while running task ${entry.id} (${lost}), and did not come back ${wait} for the router to re-attach to it; the task is marked failed and was not run again`;
        } else {
          message = `worker ${workerId} accepted task ${entry.id}, then its stream was lost before claude started (${lost}), and the worker did not come back ${wait}; the task was not placed again, so that it cannot run twice — run it again`;
        }
        // A worker that is there after all should not go on with a task no one follows.
        if (lost && worker) void this.stopOnWorker(entry, worker, "the router gave up re-attaching to the task");
        entry.end({ reason: ExitReason.FAILED, message });
        return;
      }
      await delay(REATTACH_POLL_MS);
    }
  }

  /** Places queued tasks, in order, on workers with free slots; tells the rest their position. */
  pump(): void {
    // While no worker has a free slot, no queued task can be placed: only the pinned ones need looking at.
    let placeable = this.anyWorkerFree();
    for (let i = 0; i < this.queue.length; ) {
      const entry = this.queue[i]!;
      if (entry.pinnedTo && !this.registry.byId(entry.pinnedTo)) {
        this.dequeue(entry);
        const message =
          `the stream from worker ${entry.pinnedTo} broke before it answered, so it may have started task ${entry.id}; that worker is gone now, ` +
          "and the task was not placed elsewhere so that it cannot run twice — run it again";
        entry.end({ reason: ExitReason.FAILED, message });
        continue;
      }
      if (!placeable || this.quotas?.heldBack(entry.record.owner, this.countsOf(entry.record.owner))) {
        i += 1;
        continue;
      }
      const worker = this.registry.pick(this.candidatesFor(entry.request, entry), this.spread.workersOf(entry.request.spreadGroup), holdsEnvironmentOf(entry.request));
      if (!worker) {
        i += 1;
        continue;
      }
      this.dequeue(entry);
      void this.forward(entry, worker);
      placeable = this.anyWorkerFree();
    }
    this.queue.forEach((entry, index) => {
      const position = index + 1;
      if (entry.queuePosition === position) return;
      entry.queuePosition = position;
      const detail = entry.pinnedTo
        ? `waiting for worker ${entry.pinnedTo}, which may already have the task`
        : this.quotas?.heldBack(entry.record.owner, this.countsOf(entry.record.owner))
          ? this.quotas.heldBackDetail(entry.record.owner)
          : `waiting for a free slot on ${this.candidatesFor(entry.request, entry).length} busy worker(s)`;
      entry.emit({ case: "status", value: create(StatusSchema, { phase: Phase.QUEUED, queuePosition: position, detail }) });
    });
  }

  /** Some worker is online with a free slot (not full, draining or offline). */
  private anyWorkerFree(): boolean {
    return this.registry.list().some((w) => this.registry.health(w) === WorkerHealth.ONLINE);
  }

  /** Stops a task wherever it is (CancelTask). Resolves once it has ended, its processes on the worker gone. */
  cancel(entry: TaskEntry, reason: string, rpcRequestId = ""): Promise<void> {
    return this.stop(entry, { reason: ExitReason.CANCELLED, message: reason ? `cancelled: ${reason}` : "cancelled" }, reason, rpcRequestId);
  }

  /**
   * Stops a task that another router runs (a shared store): that router is asked to, and this resolves once the task
   * has ended (or `signal` aborts). UNAVAILABLE when no router runs it now (its owner died and no router has taken
   * it over yet: that takes up to the lease's time).
   */
  async cancelElsewhere(stored: StoredTask, reason: string, signal: AbortSignal, takeOver = this.onTakeOver): Promise<void> {
    const taskId = stored.record.id;
    // Its owner may have died: then this router, or another, takes the task over within the lease's time.
    const deadline = Date.now() + 2 * this.settings.leaseTtlMs + EXITED_AFTER_STOP_MS;
    for (;;) {
      const live = this.tasks.live(taskId);
      if (live) return this.cancel(live, reason);
      if (await this.tasks.store.signalCancel(taskId, reason)) break;
      const now = await this.tasks.store.get(taskId);
      if (!now || now.record.endedAt) return;
      if (Date.now() > deadline || signal.aborted) {
        const holder = await this.tasks.store.leaseHolder(taskId);
        throw unavailable(`task ${taskId} is run by ${holder ? `router ${holder}, which` : "no router now; its router"} did not answer the cancel; try again shortly`);
      }
      await takeOver?.();
      await delay(REATTACH_POLL_MS);
    }
    const wait = AbortSignal.any([signal, AbortSignal.timeout(CANCEL_TIMEOUT_MS + EXITED_AFTER_STOP_MS)]);
    for await (const event of this.tasks.store.follow(taskId, stored.record.lastSeq, wait)) if (isExited(event)) return;
  }

  /** A caller left; with no one attached and no detach, the task is ended after the grace period. */
  subscriberLeft(entry: TaskEntry): void {
    // A task waiting for approval waits for someone to answer (until its requests time out on the worker).
    const waiting = () => entry.record.pendingPermissions.length > 0;
    if (entry.ended || entry.request.detach || entry.log.subscriberCount > 0 || waiting()) return;
    clearTimeout(entry.graceTimer);
    entry.graceTimer = setTimeout(() => {
      if (entry.log.subscriberCount > 0 || entry.ended || waiting()) return;
      this.logger.info({ taskId: entry.id }, "no caller came back; ending the task");
      const message = `no caller was attached for ${durationText(this.settings.callerGraceMs)} (CC_CALLER_GRACE) and the task was not detached; start it with \`cc run --detach\` to keep it running alone`;
      void this.stop(entry, { reason: ExitReason.CLIENT_GONE, message }, "the caller went away");
    }, this.settings.callerGraceMs);
    entry.graceTimer.unref();
  }

  subscriberJoined(entry: TaskEntry): void {
    clearTimeout(entry.graceTimer);
  }

  get queued(): number {
    return this.queue.length;
  }

  /**
   * Refuses new tasks and ends the queued ones (SHUTDOWN); running ones may finish within `graceMs`, then the rest
   * are stopped (SHUTDOWN). Resolves when every task has ended.
   */
  async drain(graceMs: number): Promise<void> {
    this.draining = true;
    for (const entry of [...this.queue]) {
      void this.stop(entry, { reason: ExitReason.SHUTDOWN, message: "the router shut down before the task was placed on a worker; run it again" }, "");
    }
    const all = Promise.all(this.tasks.active().map((t) => t.whenEnded().then(() => t.log.whenStored())));
    const timer = setTimeout(() => {
      const message = `the router shut down, and the task had not ended within its ${durationText(graceMs)} grace (CC_SHUTDOWN_GRACE)`;
      for (const t of this.tasks.active()) void this.stop(t, { reason: ExitReason.SHUTDOWN, message }, "the router shut down");
    }, graceMs);
    await all;
    clearTimeout(timer);
  }

  /**
   * Ends a task for `end` wherever it is: out of the queue at once; on its worker through Cancel, whose answer
   * means claude and its processes are gone; with a broken or unanswered placement, by dropping the stream (the
   * forwarder then makes sure the worker does not have the task). `workerReason` goes to the worker's Cancel.
   */
  private async stop(entry: TaskEntry, end: EndRequest, workerReason: string, rpcRequestId = ""): Promise<void> {
    if (entry.ended) return;
    // The worker's words for a Cancel (services/worker/service.ts).
    entry.requestEnd({ ...end, workerMessage: workerReason ? `cancelled: ${workerReason}` : "cancelled" });
    if (this.dequeue(entry)) {
      entry.end({ reason: entry.endRequest!.reason, message: entry.endRequest!.message });
      this.pump();
      return;
    }
    const worker = entry.worker;
    if (!worker && entry.accepted) {
      // Waiting to be re-attached (resume): it ends once the wait sees the request.
      await entry.whenEnded();
      return;
    }
    if (worker && entry.accepted) {
      const outcome = await this.stopOnWorker(entry, worker, workerReason, rpcRequestId);
      // Stopped there, or already ended: its `exited` is coming down the stream. (Behind an elastic pool's URL, a
      // Cancel may reach an instance that never had the task: then only dropping the stream stops it.)
      if (outcome === "stopped" || (outcome === "not-found" && worker.poolCapacity === 0)) await Promise.race([entry.whenEnded(), delay(EXITED_AFTER_STOP_MS)]);
    }
    if (!entry.ended) entry.abort.abort();
    await entry.whenEnded();
  }

  /**
   * Asks the worker to stop the task, and waits for its answer (which comes once the task's processes are gone):
   * "stopped", "not-found" (the worker does not have the task, or no longer), or what went wrong.
   */
  private async stopOnWorker(entry: TaskEntry, worker: WorkerEntry, reason: string, rpcRequestId = ""): Promise<"stopped" | "not-found" | string> {
    try {
      await worker.client.cancel({ taskId: entry.id, reason }, { timeoutMs: CANCEL_TIMEOUT_MS, headers: requestIdHeaders(rpcRequestId || this.requestIds.get(entry)) });
      return "stopped";
    } catch (err) {
      const e = ConnectError.from(err);
      if (e.code === Code.NotFound) return "not-found";
      this.logger.warn({ taskId: entry.id, workerId: worker.id, err: describe(err) }, "cancel on worker failed");
      return `worker ${worker.id} could not be reached to stop it there: ${e.rawMessage}`;
    }
  }

  /**
   * An identity's tasks run here: placed on workers, and waiting in the queue. Kept as tasks start, queue and end:
   * counting them by walking the queue and every active task, once a pump or a submission, was the largest item of
   * the router's own code in a profile at 2,500 streams (bench figure 5).
   */
  countsOf(owner: string): OwnerCounts {
    const queued = this.queuedBy.get(owner) ?? 0;
    return { running: this.tasks.activeOf(owner) - queued, queued };
  }

  private enqueue(entry: TaskEntry, front = false): void {
    if (front) this.queue.unshift(entry);
    else this.queue.push(entry);
    const owner = entry.record.owner;
    this.queuedBy.set(owner, (this.queuedBy.get(owner) ?? 0) + 1);
    clearTimeout(entry.queueTimer);
    entry.queueTimer = setTimeout(() => this.queueTimedOut(entry), this.settings.queueTimeoutMs);
    entry.queueTimer.unref();
  }

  /** Takes the task out of the queue; false when it was not in it. */
  private dequeue(entry: TaskEntry): boolean {
    const index = this.queue.indexOf(entry);
    if (index < 0) return false;
    this.queue.splice(index, 1);
    const owner = entry.record.owner;
    const left = (this.queuedBy.get(owner) ?? 1) - 1;
    if (left === 0) this.queuedBy.delete(owner);
    else this.queuedBy.set(owner, left);
    clearTimeout(entry.queueTimer);
    entry.queuePosition = 0;
    return true;
  }

  private queueTimedOut(entry: TaskEntry): void {
    if (!this.dequeue(entry)) return;
    const waited = `the task waited ${durationText(this.settings.queueTimeoutMs)} in the queue (CC_QUEUE_TIMEOUT)`;
    const candidates = this.candidatesFor(entry.request, entry);
    let why: string;
    if (entry.pinnedTo) why = `for worker ${entry.pinnedTo}, whose stream broke before it answered (it may have started the task, so it was not placed elsewhere); run it again`;
    else if (this.quotas?.heldBack(entry.record.owner, this.countsOf(entry.record.owner))) why = `because ${entry.record.owner || "its owner"}'s own tasks filled its quota "running" all that time; run it again once one of them ends`;
    else if (candidates.length > 0) why = `and none of the ${candidates.length} matching worker(s) had a free slot; add workers or raise their CC_MAX_SESSIONS, or try again later`;
    else why = `and ${this.noWorkerError(entry.request).rawMessage}`;
    entry.end({ reason: ExitReason.FAILED, message: `${waited} ${why}` });
    this.pump();
  }

  /** Online workers that may take the task: its target or its pinned worker only, else all with its labels. */
  private candidatesFor(req: RunRequest, entry?: TaskEntry): WorkerEntry[] {
    const pinned = entry?.pinnedTo;
    const all = this.registry.candidates(req.labels, pinned ? new Set() : entry?.excluded);
    const only = pinned || req.workerId;
    return only ? all.filter((w) => w.id === only) : all;
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

  /**
   * Runs the task on `worker` (or, with `attachFrom`, re-attaches to it there after that worker seq), copying its
   * events (undecoded but for `started` and `exited`) into the task's log, each once the log is ready for it: while a
   * live follower lags, the worker's stream is not read.
   */
  private async forward(entry: TaskEntry, worker: WorkerEntry, attachFrom?: bigint): Promise<void> {
    if (attachFrom === undefined && entry.lostEnv) {
      if (entry.pinnedTo !== worker.id) {
        const message =
          `task ${entry.id} asked for environment variables (${entry.record.envNames.join(", ")}), and the router that accepted it stopped before a worker took it; ` +
          "their values are never written to the task store, so it cannot be started without them — run it again";
        entry.end({ reason: ExitReason.FAILED, message });
        return;
      }
      // It may have reached this worker before the router stopped: follow it there if it did (NOT_FOUND ends it).
      attachFrom = 0n;
    }
    entry.worker = worker;
    this.registry.place(worker, entry.id);
    this.spread.placed(entry.request.spreadGroup, worker.id);
    let failure: unknown;
    let logFull = false;
    try {
      const headers = requestIdHeaders(this.requestIds.get(entry));
      let stream: AsyncIterable<Parameters<typeof adoptWorkerEvent>[0]>;
      if (attachFrom === undefined) {
        entry.record.attempts += 1;
        entry.record.workerId = worker.id;
        // Stored before the worker hears of it: a router that restarts then asks this worker only.
        entry.placement = { workerId: worker.id, accepted: false, workerSeq: 0n };
        entry.touch();
        await entry.log.whenStored();
        if (entry.endRequest) throw new ConnectError("the router ended the task before placing it", Code.Canceled);
        const run = { ...entry.request, taskId: entry.id, placedBy: this.routerId, ...this.sessions?.forWorker(entry.request) };
        stream = worker.events.run(run, { signal: entry.abort.signal, headers });
      } else {
        stream = worker.events.attach({ taskId: entry.id, afterSeq: attachFrom }, { signal: entry.abort.signal, headers });
        this.logger.info({ taskId: entry.id, workerId: worker.id, afterSeq: attachFrom.toString() }, "re-attached to the task on its worker");
      }
      for await (const raw of stream) {
        const event = adoptWorkerEvent(raw);
        const seq = event.event.case === undefined ? workerSeqOf(raw) : event.seq;
        // Already stored (a re-attach asks for what follows, so this is only a guard).
        if (entry.placement?.accepted && seq <= entry.placement.workerSeq) continue;
        // The first event, whatever it is, is the worker's acknowledgement.
        entry.accept({ workerId: worker.id, accepted: true, workerSeq: seq });
        entry.reattaching = undefined;
        entry.pinnedTo = undefined;
        // Router-added latency is measured from here to the event leaving for a caller (metrics).
        if (entry.log.subscriberCount > 0) markReceived(event);
        if (event.event.case === "exited") {
          entry.endWith(event);
          return;
        }
        if (event.event.case === "started") {
          entry.markStarted(worker);
          event.event.value.attempt = entry.record.attempts;
        }
        // Being stopped for a full log: what it prints until it ends has no room.
        if (logFull) continue;
        try {
          await entry.append(event);
        } catch (err) {
          if (!(err instanceof TaskLogFull)) throw err;
          logFull = true;
          const message =
            `the task printed more than the router keeps for one task (CC_TASK_LOG_BYTES, ${err.maxBytes} bytes) and was stopped; ` +
            "ask for less output, or raise CC_TASK_LOG_BYTES together with the worker's CC_MAX_OUTPUT_BYTES";
          void this.stop(entry, { reason: ExitReason.OUTPUT_LIMIT, message }, "its output filled the router's log for the task");
        }
        // The caller-gone grace period pauses while the task waits for approval, and starts again after.
        const permissions = trackPermissionEvent(entry, event);
        if (permissions === "asked") clearTimeout(entry.graceTimer);
        if (permissions === "settled") this.subscriberLeft(entry);
      }
      failure = new ConnectError("the worker ended the stream without an exit event", Code.Unavailable);
    } catch (err) {
      failure = err;
    } finally {
      this.registry.release(worker, entry.id);
      this.spread.released(entry.request.spreadGroup, worker.id);
      // A freed slot may let a queued task run.
      setImmediate(() => this.pump());
    }
    if (entry.released) return;
    if (attachFrom !== undefined) await this.afterAttachFailure(entry, worker, ConnectError.from(failure));
    else await this.afterFailure(entry, worker, ConnectError.from(failure));
  }

  /** A re-attach failed: the worker does not have the task, no longer has its events, or could not be reached. */
  private async afterAttachFailure(entry: TaskEntry, worker: WorkerEntry, err: ConnectError): Promise<void> {
    if (entry.ended) return;
    if (entry.endRequest) {
      const outcome = await this.stopOnWorker(entry, worker, "the router ended the task");
      const problem = outcome === "stopped" || outcome === "not-found" ? "" : ` (${outcome})`;
      entry.end({ reason: entry.endRequest.reason, message: entry.endRequest.message + problem });
      return;
    }
    if (err.code === Code.NotFound) {
      entry.end({
        reason: ExitReason.FAILED,
        message: `worker ${worker.id} no longer has task ${entry.id} (it restarted, or the task ended there longer ago than its CC_ROUTER_GRACE), so its end is not known; run it again`,
      });
      return;
    }
    if (err.code === Code.OutOfRange) {
      void this.stopOnWorker(entry, worker, "the router could not re-attach without losing events");
      entry.end({ reason: ExitReason.FAILED, message: `worker ${worker.id} no longer keeps the events of task ${entry.id} that the router had not stored (${err.rawMessage}); the task was stopped rather than go on with a gap` });
      return;
    }
    // A stream that broke or was never made: the worker may be restarting; try again while the wait lasts (from the
    // first break on: a worker that takes each attach and breaks it again does not keep the task waiting forever).
    this.logger.warn({ taskId: entry.id, workerId: worker.id, err: err.rawMessage }, "re-attaching to the task failed; trying again");
    this.registry.markFailed(worker, `re-attaching to a task failed: ${err.rawMessage}`);
    entry.reattaching ??= { until: Date.now() + this.settings.reattachWaitMs, why: err.rawMessage };
    void this.reattach(entry, worker.id, entry.reattaching.until, entry.reattaching.why);
  }

  /** The worker's stream failed before `exited`: place the task again, wait for its worker, or end it. */
  private async afterFailure(entry: TaskEntry, worker: WorkerEntry, err: ConnectError): Promise<void> {
    if (entry.ended) return;
    const kind = entry.accepted ? "accepted" : classifyPlacementFailure(err);
    if (entry.endRequest) {
      // The router dropped the stream to end the task: make sure the worker does not go on with it.
      const outcome = kind === "refused" || kind === "busy" || kind === "unreached" ? "not-found" : await this.stopOnWorker(entry, worker, "the router ended the task");
      const problem = outcome === "stopped" || outcome === "not-found" ? "" : ` (${outcome})`;
      entry.end({ reason: entry.endRequest.reason, message: entry.endRequest.message + problem });
      return;
    }
    if (kind === "has-it") {
      // An earlier placement did reach the worker: follow the task there instead of giving up on it.
      this.logger.info({ taskId: entry.id, workerId: worker.id }, "the worker already has the task; re-attaching to it");
      entry.accept({ workerId: worker.id, accepted: true, workerSeq: 0n });
      entry.touch();
      entry.pinnedTo = undefined;
      void this.forward(entry, worker, 0n);
      return;
    }
    if (kind === "accepted") {
      this.registry.markFailed(worker, `lost while running a task: ${err.rawMessage}`);
      // A worker keeps a task its router placed running when the stream drops (CC_ROUTER_GRACE), with its latest
      // events: a stream lost to a network blip, or to a worker or router too loaded to answer a PING in time, is
      // re-attached to from the last stored event once the worker is seen again, and the task goes on.
      this.logger.warn({ taskId: entry.id, workerId: worker.id, err: err.rawMessage }, "lost the task's stream; re-attaching once its worker is back");
      entry.reattaching ??= { until: Date.now() + this.settings.reattachWaitMs, why: err.rawMessage };
      void this.reattach(entry, worker.id, entry.reattaching.until, entry.reattaching.why);
      return;
    }
    if (this.draining) {
      entry.end({ reason: ExitReason.SHUTDOWN, message: `the router shut down before the task could be placed again (worker ${worker.id}: ${err.rawMessage}); run it again` });
      return;
    }
    // Any refusal but ALREADY_EXISTS means the worker does not have the task (it checks the task id first).
    if (kind === "refused" || kind === "busy") entry.pinnedTo = undefined;
    if (kind === "busy") {
      // Its slots are taken by tasks this router does not know of yet: wait for one, like any full worker.
      this.registry.markFull(worker);
      this.enqueue(entry, true);
      this.pump();
      return;
    }
    entry.placementFailures += 1;
    const attemptsLeft = entry.placementFailures < this.settings.maxAttempts;
    // A broken placement, or a worker that may have the task and cannot be reached now: ask that worker again.
    if (kind === "unknown" || (kind === "unreached" && entry.pinnedTo)) {
      this.registry.markFailed(worker, `a task's stream broke before the worker answered: ${err.rawMessage}`);
      this.logger.warn({ taskId: entry.id, workerId: worker.id, err: err.rawMessage }, "placement broke before the worker answered; asking that worker again");
      if (attemptsLeft) {
        entry.pinnedTo = worker.id;
        this.enqueue(entry, true);
        this.pump();
        return;
      }
      void this.stopOnWorker(entry, worker, "the router gave up placing the task");
      entry.end({ reason: ExitReason.FAILED, message: `the stream from worker ${worker.id} broke before it answered, ${entry.placementFailures} times (CC_MAX_ATTEMPTS): ${err.rawMessage}` });
      return;
    }
    const aboutWorker = kind === "unreached" || workerSideRefusal(err);
    if (aboutWorker) this.registry.markFailed(worker, `could not take a task: ${err.rawMessage}`);
    if (aboutWorker && attemptsLeft) {
      this.logger.warn({ taskId: entry.id, workerId: worker.id, err: err.rawMessage }, "placing the task again");
      entry.excluded.add(worker.id);
      if (this.candidatesFor(entry.request, entry).length > 0) {
        this.enqueue(entry, true);
        this.pump();
        return;
      }
    }
    // About the task itself, out of attempts, or nowhere else to go: the worker's error, in the router's words.
    const tried = entry.excluded.size > 1 ? ` (tried ${[...entry.excluded].join(", ")})` : "";
    entry.end({ reason: ExitReason.FAILED, message: `worker ${worker.id} could not run the task: ${err.rawMessage}${tried}` });
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
