// Routines at run time: saving them (checked, in the routine store), firing them (a prompt rendered from the
// template, a task submitted to the dispatcher), their schedules (one timer each, on the injected clock), their
// retries (each attempt a new task, the run's task list linking it to the first) and their webhooks. What a routine
// did last (next and last run, last delivery) is kept on its record in the store, so `cc routine ls` shows it after
// a restart too.
//
// A router that starts again reads each schedule's `next_run_at`: when that time passed while it was down, the
// routine's missed-run policy decides: skip (the default; the next run is the next time from now) or run once (one
// run now, however many times were missed, then the schedule as usual).
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { clone, create } from "@bufbuild/protobuf";
import { timestampDate, timestampFromMs } from "@bufbuild/protobuf/wkt";
import { type Task, TaskStatus } from "../../../gen/claudecluster/v1/router_pb.js";
import { Phase, RunRequestSchema, type RunRequest } from "../../../gen/claudecluster/v1/run_pb.js";
import {
  MissedRunPolicy,
  OverlapPolicy,
  RoutineRunSchema,
  RoutineSchema,
  type Routine,
  type RoutineRun,
  type SaveRoutineRequest,
  type Webhook,
} from "../../../gen/claudecluster/v1/routines_pb.js";
import { ConnectError, Code, invalidArgument, notFound } from "../../common/errors.js";
import type { Logger } from "../../common/logger.js";
import type { Identity } from "../identity/identities.js";
import type { Clock } from "./clock.js";
import { nextRun } from "./schedule.js";
import type { RoutineStore, StoredRoutine } from "./store.js";
import { MissingValues, render } from "./template.js";
import { checkName, checkRoutine } from "./validate.js";
import { deliver, fetchPost, type Post } from "./webhook.js";

export const DEFAULT_RETRY_BACKOFF_MS = 10_000;
/** Routines a router keeps: each has a timer and a row; beyond this a save is RESOURCE_EXHAUSTED. */
export const MAX_ROUTINES = 1000;
const MAX_RETRY_WAIT_MS = 3_600_000;
/** A scheduled task no worker can take yet is tried again this often, this many times (a minute). */
const SUBMIT_RETRY_MS = 1000;
const SUBMIT_TRIES = 60;

/** What started a run. */
export type Trigger = "manual" | "schedule" | "missed" | "http" | "watch";

export interface RoutinesDeps {
  store: RoutineStore;
  /**
   * Submits a task (the dispatcher); returns its id. `caller`: who fired the run (its tasks are theirs: they see
   * them, and their quotas and budgets count them); none for a schedule or the fire URL.
   */
  submit(request: RunRequest, caller?: Identity): Promise<string>;
  /** Resolves with the task's record once it has ended. */
  ended(taskId: string): Promise<Task>;
  clock: Clock;
  logger: Logger;
  post?: Post;
  /** CC_WEBHOOK_URL: told of every task's end and waits, routine or not. */
  globalWebhook?: Webhook | undefined;
}

const statusWord = (s: TaskStatus) => (TaskStatus[s] ?? "unknown").toLowerCase();
const hashToken = (token: string) => createHash("sha256").update(token).digest("hex");
const notFoundRoutine = (name: string) => notFound(`routine ${name}`, "list routines with `cc routine ls`");

export class Routines {
  private readonly timers = new Map<string, () => void>();
  /** Runs going, per routine. */
  private readonly running = new Map<string, number>();
  /** Routines with a scheduled fire waiting for the running one (overlap: queue). */
  private readonly queued = new Set<string>();
  /** One state update at a time per routine (read, change, write). */
  private readonly chains = new Map<string, Promise<unknown>>();
  private stopped = false;
  /** Background work (runs, retries, deliveries), awaited by `idle()` in tests and by stop(). */
  private readonly pending = new Set<Promise<unknown>>();

  constructor(private readonly deps: RoutinesDeps) {}

  /** The phase each routine task was last seen in (waiting ones notified once per wait); gone at the task's end. */
  private readonly phases = new Map<string, Phase>();

  /**
   * A task changed (Tasks' listener): a routine's task that starts waiting for input or for a permission answer is
   * posted to the routine's webhook (`task.waiting_for_input`, `task.waiting_for_approval`), once per wait.
   */
  taskChanged(task: Task): void {
    if (!task.routine && !this.deps.globalWebhook) return;
    const before = this.phases.get(task.id);
    if (before === task.phase) return;
    if (task.endedAt) {
      this.phases.delete(task.id);
      return;
    }
    this.phases.set(task.id, task.phase);
    const event = task.phase === Phase.WAITING_FOR_INPUT ? "task.waiting_for_input" : task.phase === Phase.WAITING_FOR_APPROVAL ? "task.waiting_for_approval" : undefined;
    if (!event || this.stopped) return;
    this.background(
      (async () => {
        const stored = task.routine ? await this.deps.store.get(task.routine) : undefined;
        const payload = {
          event,
          routine: task.routine,
          task_id: task.id,
          first_task_id: task.retryOf || task.id,
          pending_permissions: task.pendingPermissions.map((p) => ({ request_id: p.requestId, tool: p.toolName })),
          latest_line: task.latestLine,
        };
        await this.post(stored?.routine.webhook, event, payload, task.routine);
      })(),
    );
  }

  /** A task left this router (ended, or released to another): forget its phase; CC_WEBHOOK_URL hears of an end. */
  taskLeft(task: Task): void {
    this.phases.delete(task.id);
    if (!this.deps.globalWebhook || !task.endedAt || this.stopped) return;
    this.background(this.post(undefined, "task.ended", this.endPayload(task, task.routine, task.retryOf || task.id, 0, false, ""), ""));
  }

  /** Delivers to the routine's webhook (its delivery recorded on it) and to CC_WEBHOOK_URL (logged when it fails). */
  private async post(hook: Webhook | undefined, event: string, payload: object, routine: string): Promise<void> {
    const deps = { clock: this.deps.clock, post: this.deps.post ?? fetchPost };
    const global = this.deps.globalWebhook;
    await Promise.all([
      hook
        ? deliver(hook, event, payload, deps).then((delivery) => this.updateState(routine, (s) => (s.lastDelivery = delivery)))
        : undefined,
      global
        ? deliver(global, event, payload, deps).then((delivery) => {
            if (delivery.outcome !== "delivered") this.deps.logger.warn({ url: global.url, event, outcome: delivery.outcome }, "CC_WEBHOOK_URL delivery failed");
          })
        : undefined,
    ]);
  }

  private endPayload(task: Task, routine: string, firstTaskId: string, attempt: number, willRetry: boolean, trigger: string) {
    return {
      event: "task.ended",
      routine,
      task_id: task.id,
      first_task_id: firstTaskId,
      attempt: attempt + 1,
      will_retry: willRetry,
      trigger,
      status: statusWord(task.status),
      message: task.exit?.message ?? "",
      result: task.exit?.result?.result ?? "",
      cost_usd: task.costUsd,
    };
  }

  /** Opens the store and arms every schedule, applying the missed-run policy to times passed while the router was down. */
  async start(): Promise<void> {
    await this.deps.store.open();
    for (const stored of await this.deps.store.list()) {
      const r = stored.routine;
      if (!r.schedule) continue;
      const due = r.nextRunAt ? timestampDate(r.nextRunAt).getTime() : undefined;
      if (due !== undefined && due <= this.deps.clock.now() && r.schedule.missed === MissedRunPolicy.RUN_ONCE) {
        this.deps.logger.info({ routine: r.name, missed: new Date(due).toISOString() }, "running a routine once for the times missed while the router was down");
        this.background(this.fireScheduled(r.name, "missed", due));
      } else {
        await this.arm(r.name);
      }
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const cancel of this.timers.values()) cancel();
    this.timers.clear();
    await this.deps.store.close();
  }

  /** Resolves once no run, retry wait or delivery is in progress that was started before (tests). */
  async idle(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  async save(req: SaveRoutineRequest): Promise<{ routine: Routine; fireToken: string; created: boolean }> {
    if (!req.routine) throw invalidArgument("routine", "is required");
    const r = clone(RoutineSchema, req.routine);
    checkRoutine(r);
    if (req.newFireToken && req.clearFireToken) throw invalidArgument("clear_fire_token", "and new_fire_token both set; choose one");
    const fireToken = req.newFireToken ? `ccr_${randomBytes(24).toString("base64url")}` : "";
    const now = timestampFromMs(this.deps.clock.now());
    const saved = await this.serial(r.name, async () => {
      const existing = await this.deps.store.get(r.name);
      if (!existing && (await this.deps.store.list()).length >= MAX_ROUTINES) {
        throw new ConnectError(`the router keeps at most ${MAX_ROUTINES} routines; remove some with \`cc routine rm\``, Code.ResourceExhausted);
      }
      if (existing && !req.replace) throw new ConnectError(`routine ${r.name} already exists; change it with \`cc routine apply -f FILE\`, or remove it first with \`cc routine rm ${r.name}\``, Code.AlreadyExists);
      const old = existing?.routine;
      // Output-only fields are the router's: kept from the stored routine, never taken from the caller.
      r.createdAt = old?.createdAt ?? now;
      r.updatedAt = now;
      r.lastRun = old?.lastRun;
      r.lastDelivery = old?.lastDelivery;
      r.nextRunAt = undefined;
      r.hasFireToken = false;
      if (r.webhook) {
        // An empty secret on a replace keeps the one saved (GetRoutine never returns it).
        if (!r.webhook.secret && old?.webhook && old.webhook.url === r.webhook.url) r.webhook.secret = old.webhook.secret;
        r.webhook.hasSecret = false;
      }
      const hash = fireToken ? hashToken(fireToken) : req.clearFireToken ? "" : (existing?.fireTokenHash ?? "");
      const stored: StoredRoutine = { routine: r, fireTokenHash: hash };
      if (r.schedule) r.nextRunAt = this.nextAfter(r, this.deps.clock.now());
      if (existing) await this.deps.store.put(stored);
      else if (!(await this.deps.store.create(stored))) throw new ConnectError(`routine ${r.name} already exists`, Code.AlreadyExists);
      return { stored, created: !existing };
    });
    await this.arm(r.name);
    return { routine: this.outward(saved.stored), fireToken, created: saved.created };
  }

  async get(name: string): Promise<Routine> {
    checkName(name);
    const stored = await this.deps.store.get(name);
    if (!stored) throw notFoundRoutine(name);
    return this.outward(stored);
  }

  async list(): Promise<Routine[]> {
    return (await this.deps.store.list()).map((s) => this.outward(s));
  }

  async delete(name: string): Promise<void> {
    checkName(name);
    await this.serial(name, async () => {
      if (!(await this.deps.store.delete(name))) throw notFoundRoutine(name);
    });
    this.timers.get(name)?.();
    this.timers.delete(name);
    this.queued.delete(name);
  }

  /** Whether `token` is the routine's fire token (constant time); false when it has none. */
  async checkFireToken(name: string, token: string): Promise<"ok" | "no-routine" | "no-token" | "wrong"> {
    const stored = NAME_OK(name) ? await this.deps.store.get(name) : undefined;
    if (!stored) return "no-routine";
    if (!stored.fireTokenHash) return "no-token";
    const a = Buffer.from(hashToken(token), "hex");
    const b = Buffer.from(stored.fireTokenHash, "hex");
    return a.length === b.length && timingSafeEqual(a, b) ? "ok" : "wrong";
  }

  /** Starts a run now; its first task's id. INVALID_ARGUMENT when a placeholder has no value. */
  async fire(name: string, trigger: Trigger, values: Readonly<Record<string, string>> = {}, append = "", caller?: Identity): Promise<string> {
    checkName(name);
    const stored = await this.deps.store.get(name);
    if (!stored) throw notFoundRoutine(name);
    return this.startRun(stored.routine, trigger, values, append, undefined, caller);
  }

  private async startRun(r: Routine, trigger: Trigger, values: Readonly<Record<string, string>>, append: string, scheduledMs: number | undefined, caller?: Identity): Promise<string> {
    let prompt: string;
    try {
      prompt = render(r.prompt, values, r.defaults);
    } catch (err) {
      if (err instanceof MissingValues) throw invalidArgument("values", err.message);
      throw err;
    }
    if (append.trim() !== "") prompt = `${prompt}\n\n${append}`;
    const request = (attempt: number, firstTaskId: string) => {
      const req = r.task ? clone(RunRequestSchema, r.task) : create(RunRequestSchema, {});
      req.prompt = prompt;
      // Nobody follows a routine's task while it runs: it must not end when no caller is attached.
      req.detach = true;
      // The record names the routine, and a retry the run's first task (Task.routine, Task.retry_of).
      req.routine = r.name;
      req.retryOf = attempt > 0 ? firstTaskId : "";
      // A scheduled fire has an id of its own: a router that restarts mid-submit never runs it twice.
      req.requestId = scheduledMs !== undefined ? `routine/${r.name}/${scheduledMs}/${attempt}` : attempt > 0 ? `routine/${firstTaskId}/retry/${attempt}` : "";
      return req;
    };
    const firstTaskId = await this.submitWhenPossible(request(0, ""), trigger === "schedule" || trigger === "missed", caller);
    this.running.set(r.name, (this.running.get(r.name) ?? 0) + 1);
    const run = create(RoutineRunSchema, { firstTaskId, taskIds: [firstTaskId], startedAt: timestampFromMs(this.deps.clock.now()), trigger, outcome: "running" });
    await this.updateState(r.name, (s) => (s.lastRun = clone(RoutineRunSchema, run)));
    this.deps.logger.info({ routine: r.name, taskId: firstTaskId, trigger }, "routine run started");
    this.background(this.follow(r, run, request, caller));
    return firstTaskId;
  }

  /**
   * Submits a task. A scheduled one, refused because no worker is there yet (a router just started, workers
   * registering again), is tried again every SUBMIT_RETRY_MS for a while instead of being lost.
   */
  private async submitWhenPossible(req: RunRequest, patient: boolean, caller: Identity | undefined): Promise<string> {
    for (let tries = 1; ; tries++) {
      try {
        return await this.deps.submit(req, caller);
      } catch (err) {
        const code = ConnectError.from(err).code;
        if (!patient || this.stopped || tries >= SUBMIT_TRIES || (code !== Code.Unavailable && code !== Code.FailedPrecondition)) throw err;
        await new Promise<void>((resolve) => this.deps.clock.after(SUBMIT_RETRY_MS, resolve));
      }
    }
  }

  /** Waits for each attempt to end, retries failures as the routine says, and tells the webhook of each end. */
  private async follow(r: Routine, run: RoutineRun, request: (attempt: number, firstTaskId: string) => RunRequest, caller: Identity | undefined): Promise<void> {
    try {
      for (let attempt = 0; ; attempt++) {
        const taskId = run.taskIds[attempt]!;
        const task = await this.deps.ended(taskId);
        const retries = r.retry?.maxRetries ?? 0;
        const willRetry = task.status === TaskStatus.FAILED && attempt < retries && !this.stopped;
        if (r.webhook) this.background(this.notify(r, run, task, attempt, willRetry));
        if (!willRetry) {
          run.status = task.status;
          run.outcome = statusWord(task.status);
          run.endedAt = timestampFromMs(this.deps.clock.now());
          await this.updateState(r.name, (s) => (s.lastRun = clone(RoutineRunSchema, run)));
          this.deps.logger.info({ routine: r.name, taskId, attempts: attempt + 1, outcome: run.outcome }, "routine run ended");
          return;
        }
        const base = r.retry?.backoff ? Number(r.retry.backoff.seconds) * 1000 + r.retry.backoff.nanos / 1e6 : 0;
        const waitMs = Math.min(MAX_RETRY_WAIT_MS, (base || DEFAULT_RETRY_BACKOFF_MS) * 2 ** attempt);
        this.deps.logger.info({ routine: r.name, taskId, attempt: attempt + 1, waitMs }, "routine task failed; retrying");
        await new Promise<void>((resolve) => this.deps.clock.after(waitMs, resolve));
        if (this.stopped) return;
        const next = await this.submitWhenPossible(request(attempt + 1, run.firstTaskId), true, caller);
        run.taskIds.push(next);
        await this.updateState(r.name, (s) => (s.lastRun = clone(RoutineRunSchema, run)));
      }
    } catch (err) {
      run.outcome = `error: ${err instanceof Error ? err.message : String(err)}`;
      run.endedAt = timestampFromMs(this.deps.clock.now());
      await this.updateState(r.name, (s) => (s.lastRun = clone(RoutineRunSchema, run))).catch(() => undefined);
      this.deps.logger.warn({ routine: r.name, err: String(err) }, "routine run could not go on");
    } finally {
      this.running.set(r.name, Math.max(0, (this.running.get(r.name) ?? 1) - 1));
      if (this.queued.delete(r.name) && !this.stopped) this.background(this.fireScheduled(r.name, "schedule", this.deps.clock.now()));
    }
  }

  private async notify(r: Routine, run: RoutineRun, task: Task, attempt: number, willRetry: boolean): Promise<void> {
    const payload = this.endPayload(task, r.name, run.firstTaskId, attempt, willRetry, run.trigger);
    const delivery = await deliver(r.webhook!, "task.ended", payload, { clock: this.deps.clock, post: this.deps.post ?? fetchPost });
    if (delivery.outcome !== "delivered") this.deps.logger.warn({ routine: r.name, taskId: task.id, outcome: delivery.outcome }, "webhook not delivered");
    await this.updateState(r.name, (s) => (s.lastDelivery = delivery));
  }

  /** A scheduled (or missed) time came: fires under the overlap policy, then arms the next time. */
  private async fireScheduled(name: string, trigger: Trigger, scheduledMs: number): Promise<void> {
    this.timers.delete(name);
    const stored = await this.deps.store.get(name);
    if (!stored?.routine.schedule || this.stopped) return;
    const r = stored.routine;
    const overlap = r.schedule!.overlap;
    const busy = (this.running.get(name) ?? 0) > 0;
    try {
      if (busy && overlap === OverlapPolicy.QUEUE) {
        this.queued.add(name);
        this.deps.logger.info({ routine: name }, "scheduled run queued behind the running one");
      } else if (busy && overlap !== OverlapPolicy.ALLOW) {
        // The running run stays the routine's last run: a skip is logged and counted on the routine's record.
        this.deps.logger.info({ routine: name, running: r.lastRun?.firstTaskId }, "scheduled run skipped: the last run has not ended (overlap: skip)");
        await this.updateState(name, (s) => (s.skippedRuns += 1));
      } else {
        await this.startRun(r, trigger, {}, "", scheduledMs);
      }
    } catch (err) {
      const outcome = `not started: ${err instanceof ConnectError ? err.rawMessage : String(err)}`;
      this.deps.logger.warn({ routine: name, err: outcome }, "scheduled run could not start");
      await this.updateState(name, (s) => (s.lastRun = create(RoutineRunSchema, { startedAt: timestampFromMs(this.deps.clock.now()), trigger, outcome }))).catch(() => undefined);
    }
    await this.arm(name);
  }

  /** Sets (or clears) the routine's timer for its next scheduled time, and records that time on the routine. */
  private async arm(name: string): Promise<void> {
    this.timers.get(name)?.();
    this.timers.delete(name);
    if (this.stopped) return;
    const next = await this.updateState(name, (s) => {
      s.nextRunAt = s.schedule ? this.nextAfter(s, this.deps.clock.now()) : undefined;
      return s.nextRunAt ? timestampDate(s.nextRunAt).getTime() : undefined;
    });
    if (next === undefined) return;
    this.timers.set(
      name,
      this.deps.clock.after(next - this.deps.clock.now(), () => this.background(this.fireScheduled(name, "schedule", next))),
    );
  }

  private nextAfter(r: Routine, ms: number) {
    const next = nextRun(r.schedule!.cron, r.schedule!.timeZone, ms);
    return next === undefined ? undefined : timestampFromMs(next);
  }

  /** Reads the routine, lets `change` alter its state, writes it back; undefined when the routine is gone. */
  private updateState<T>(name: string, change: (r: Routine) => T): Promise<T | undefined> {
    return this.serial(name, async () => {
      const stored = await this.deps.store.get(name);
      if (!stored) return undefined;
      const out = change(stored.routine);
      await this.deps.store.put(stored);
      return out;
    });
  }

  private serial<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.chains.get(name) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const settled = next.catch(() => undefined);
    this.chains.set(name, settled);
    void settled.then(() => {
      if (this.chains.get(name) === settled) this.chains.delete(name);
    });
    return next;
  }

  private background(p: Promise<unknown>): void {
    const tracked = p.catch((err) => this.deps.logger.warn({ err: String(err) }, "routine background work failed"));
    this.pending.add(tracked);
    void tracked.finally(() => this.pending.delete(tracked));
  }

  /** The routine as callers see it: no secrets, `has_*` set. */
  private outward(stored: StoredRoutine): Routine {
    const r = clone(RoutineSchema, stored.routine);
    r.hasFireToken = stored.fireTokenHash !== "";
    if (r.webhook) {
      r.webhook.hasSecret = r.webhook.secret !== "";
      r.webhook.secret = "";
    }
    return r;
  }
}

const NAME_OK = (name: string) => /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(name);
