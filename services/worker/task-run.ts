// One task's claude process and its event stream. The lifecycle, spelled out:
//   start → `started` → output/messages/status … → claude exits → leftover processes of the task are killed →
//   `exited` (always the last event) → the stream closes.
// Anything that ends a task early (cancel, timeout, idle, client gone, shutdown) records the reason once, sends
// SIGTERM to claude and every process of the task, and SIGKILL after the kill grace if anything is still alive.
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import {
  type ConnectionBlockedSchema,
  ExitReason,
  type Exited,
  ExitedSchema,
  OutputStream,
  Phase,
  type ResultSummary,
  ResultSummarySchema,
  RunEventSchema,
  RunMode,
  type RunEvent,
  type RunRequest,
  type ClaudeMessage,
} from "../../gen/claudecluster/v1/run_pb.js";
import type { AnswerPermissionRequest, PermissionResolved } from "../../gen/claudecluster/v1/permissions_pb.js";
import { EventQueue } from "../common/event-queue.js";
import { eventSize } from "../common/event-size.js";
import type { Logger } from "../common/logger.js";
import { failedPrecondition } from "../common/errors.js";
import { PermissionRelay, parseControlMessage } from "./permissions.js";
import { TaskFeed } from "./reattach.js";
import { signalTask, whenTaskProcessesGone } from "./process-tree.js";
import { StreamRedactor, type Secrets } from "./redact.js";
import { parseStreamJsonLine } from "./stream-json.js";

export interface TaskRunConfig {
  workerId: string;
  claudeVersion: string;
  /** SIGTERM → SIGKILL delay. */
  killGraceMs: number;
  /** Interactive: how long claude may wait for input before the task ends. 0 = never. */
  idleTimeoutMs: number;
  /** Queue high-water mark in bytes; the source is paused above it and resumed below half of it. */
  bufferBytes: number;
  /** Output (message and raw output bytes) the task may print before it is stopped; 0 = no limit. */
  maxOutputBytes: number;
  /** The tag its processes are found by, when it is not the task id (a warm process started before its task). */
  processTag?: string;
  /** Values redacted from the task's messages and output. */
  secrets?: Secrets;
  /** Headless with `ask_permissions`: claude's permission prompts are relayed, and denied after this long unanswered. */
  permissionTimeoutMs?: number;
  /** How long the task outlives a caller that went away (CC_DISCONNECT_GRACE); for a router's task, `routerGraceMs`. */
  disconnectGraceMs: number;
  /** How long a task a router placed (`placed_by`) outlives the router's stream (CC_ROUTER_GRACE). */
  routerGraceMs: number;
  /** Bytes of the latest events kept for a caller that re-attaches (CC_REPLAY_BYTES). */
  replayBytes: number;
  /**
   * Runs once the task has ended and its processes are gone, before `exited` is sent; what it resolves with is added
   * to `exited` (the recorded changes: services/worker/changes).
   */
  beforeExit?: () => Promise<Partial<Pick<Exited, "changes">>>;
  logger: Logger;
}

/** Output held back because it might be the start of a secret goes out after this long without more output. */
const REDACTION_HOLD_MS = 50;

/** What a running claude looks like to its task run, whichever way it was started. */
export interface ClaudeProcess {
  readonly pid: number;
  pause(): void;
  resume(): void;
  write?(data: Buffer): void;
  resize?(cols: number, rows: number): void;
}

export interface ProcessExit {
  exitCode: number | null;
  signal: string | null;
}

/** The part of a task run that mode-specific launchers call. */
export interface TaskRunSink {
  emit(event: EventBody): void;
  setPhase(phase: Phase, detail?: string): void;
  setResult(result: ResultSummary): void;
  noteSessionId(sessionId: string): void;
  exited(exit: ProcessExit): void;
  endBeforeLaunch(message: string, exitCode?: number): void;
  /** A control-protocol line claude printed (headless with `--permission-prompt-tool stdio`). */
  control(message: ClaudeMessage): void;
}

/** An event's body, as a plain object or a message. */
export type EventBody = MessageInitShape<typeof RunEventSchema>["event"];

/**
 * One run of a task on this worker: its claude process (bound once it starts), its numbered events and how it ended.
 * Named a run, not a session, because claude's own session (its `session_id`, a transcript to resume) is another thing.
 */
export class TaskRun implements TaskRunSink {
  readonly mode: RunMode;
  private seq = 0n;
  private readonly queue: EventQueue<RunEvent>;
  private process: ClaudeProcess | undefined;
  private end: { reason: ExitReason; message: string } | undefined;
  private result: ResultSummary | undefined;
  private sessionId = "";
  private phase = Phase.UNSPECIFIED;
  private readonly timers = new Set<NodeJS.Timeout>();
  /** Aborted when the task is stopped before claude runs: ends the workspace preparation (a clone) in progress. */
  private readonly preparation = new AbortController();
  private idleTimer: NodeJS.Timeout | undefined;
  /** Ends the task when no caller came back within the grace period. */
  private callerTimer: NodeJS.Timeout | undefined;
  private finished = false;
  /** The task's events, to one caller at a time, with the latest kept for a re-attach. */
  readonly feed: TaskFeed;
  /** Ended, with `exited` waiting for beforeExit. */
  private finishing = false;
  private outputBytes = 0;
  private readonly redactors = new Map<OutputStream, StreamRedactor>();
  private redactionTimer: NodeJS.Timeout | undefined;
  /** Output bytes printed after the task was told to stop, past the buffer: not kept. */
  private droppedWhileStopping = 0;
  /** What every process of this task carries as CC_TASK_ID: how they are found and ended. */
  readonly processTag: string;
  /** claude's permission prompts waiting for an answer; only for a headless task with `ask_permissions`. */
  readonly permissions: PermissionRelay | undefined;
  private resolveDone!: () => void;
  /** Resolves once `exited` has been queued and every process of the task is gone (or at most the kill grace later). */
  readonly done = new Promise<void>((resolve) => (this.resolveDone = resolve));

  constructor(
    readonly taskId: string,
    readonly request: RunRequest,
    readonly workspace: string,
    private readonly config: TaskRunConfig,
  ) {
    this.mode = request.mode === RunMode.INTERACTIVE ? RunMode.INTERACTIVE : RunMode.HEADLESS;
    this.processTag = config.processTag ?? taskId;
    this.queue = new EventQueue<RunEvent>({
      highWaterBytes: config.bufferBytes,
      lowWaterBytes: config.bufferBytes / 2,
      sizeOf: eventSize,
      onPressure: (pause) => (pause ? this.process?.pause() : this.process?.resume()),
    });
    this.feed = new TaskFeed(this.queue, config.replayBytes, {
      callerGone: () => this.callerDisconnected(),
      callerBack: () => clearTimeout(this.callerTimer),
    });
    if (config.permissionTimeoutMs !== undefined) {
      this.permissions = new PermissionRelay({
        taskId,
        sink: this,
        write: (line) => this.process?.write?.(Buffer.from(line)),
        timeoutMs: config.permissionTimeoutMs,
      });
    }
  }

  get pid(): number | undefined {
    return this.process?.pid;
  }

  get ended(): boolean {
    return this.finished;
  }

  /** Aborts once the task is stopped (cancel, caller gone, shutdown) before claude started. */
  get stopSignal(): AbortSignal {
    return this.preparation.signal;
  }

  /** Bytes of events waiting for the caller to read them. */
  get bufferedBytes(): number {
    return this.queue.queuedBytes;
  }

  /** Called by the launcher once claude runs. */
  bindProcess(process: ClaudeProcess, timeoutMs: number): void {
    this.process = process;
    this.emit({
      case: "started",
      value: { workerId: this.config.workerId, pid: process.pid, mode: this.mode, workspace: this.workspace, claudeVersion: this.config.claudeVersion, attempt: 1 },
    });
    this.setPhase(Phase.RUNNING);
    this.schedule(timeoutMs, () => this.stop(ExitReason.TIMED_OUT, `the task ran longer than its timeout of ${Math.round(timeoutMs / 1000)}s`));
    // A stop requested while claude was starting takes effect now.
    if (this.end) this.terminate();
  }

  /** The task's events, for the caller of Run. Ends after `exited`, or early if `signal` aborts. */
  events(signal: AbortSignal = new AbortController().signal): AsyncGenerator<RunEvent> {
    return this.feed.stream(0n, signal);
  }

  /** The events after `afterSeq` (those kept, then new ones), for a caller that re-attaches (Attach). */
  attach(afterSeq: bigint, signal: AbortSignal): AsyncGenerator<RunEvent> {
    return this.feed.stream(afterSeq, signal);
  }

  /** Who placed the task: a router's id (its task outlives the router's stream for CC_ROUTER_GRACE), or "". */
  get placedBy(): string {
    return this.request.placedBy;
  }

  /** Ends the task early for `reason`. Only the first reason counts. */
  stop(reason: ExitReason, message: string): void {
    if (this.end || this.finished || this.finishing) return;
    this.end = { reason, message };
    this.config.logger.info({ taskId: this.taskId, reason: ExitReason[reason] }, "stopping task");
    if (this.process) this.terminate();
    else this.preparation.abort();
  }

  /**
   * The caller went away: the task ends unless it finishes on its own, or a caller attaches again, within the grace
   * period (CC_ROUTER_GRACE for a task a router placed, CC_DISCONNECT_GRACE otherwise).
   */
  callerDisconnected(): void {
    if (this.finished) return;
    clearTimeout(this.callerTimer);
    const router = this.request.placedBy;
    const graceMs = router ? this.config.routerGraceMs : this.config.disconnectGraceMs;
    const message = router
      ? `the router that placed the task (${router}) lost its stream and no router re-attached within ${Math.round(graceMs / 1000)}s (the worker's CC_ROUTER_GRACE)`
      : "the caller went away and did not come back";
    this.callerTimer = setTimeout(() => this.stop(ExitReason.CLIENT_GONE, message), graceMs);
    this.callerTimer.unref();
  }

  write(data: Buffer): void {
    this.process?.write?.(data);
  }

  resize(cols: number, rows: number): void {
    this.process?.resize?.(cols, rows);
  }

  /** Answers one of claude's permission prompts (AnswerPermission). */
  answerPermission(req: AnswerPermissionRequest): PermissionResolved {
    if (!this.permissions) throw failedPrecondition(`task ${this.taskId} was not started with agent.ask_permissions, so it never waits for approval`);
    return this.permissions.answer(req);
  }

  // TaskRunSink: called by the launchers.

  emit(event: EventBody): void {
    if (this.finished) return;
    const redacted = this.redacted(event);
    if (redacted !== undefined) this.push(redacted);
  }

  /** Numbers an event and queues it. */
  private push(event: EventBody): void {
    if (this.finished) return;
    // While a stopping task's source is resumed so it can exit, surplus output is dropped, not buffered; `exited`
    // says how much.
    if (this.end && event?.case === "output" && this.queue.queuedBytes > this.config.bufferBytes) {
      this.droppedWhileStopping += event.value.data?.length ?? 0;
      return;
    }
    this.seq += 1n;
    const ev = create(RunEventSchema, { taskId: this.taskId, seq: this.seq, time: timestampNow(), event });
    this.queue.push(ev);
    if (event?.case === "output" || event?.case === "message" || event?.case === "permissionRequest") this.countOutput(outputBytes(ev));
  }

  private countOutput(bytes: number): void {
    const limit = this.config.maxOutputBytes;
    this.outputBytes += bytes;
    if (limit > 0 && this.outputBytes > limit) {
      this.stop(ExitReason.OUTPUT_LIMIT, `the task printed more than ${limit} bytes, the worker's limit per task (CC_MAX_OUTPUT_BYTES); ask for less output or raise the limit`);
    }
  }

  setPhase(phase: Phase, detail = ""): void {
    if (phase === this.phase) return;
    this.phase = phase;
    this.emit({ case: "status", value: { phase, detail } });
    clearTimeout(this.idleTimer);
    if (phase === Phase.WAITING_FOR_INPUT && this.config.idleTimeoutMs > 0) {
      const idleMs = this.config.idleTimeoutMs;
      this.idleTimer = setTimeout(() => this.stop(ExitReason.IDLE, `claude waited for input longer than ${Math.round(idleMs / 1000)}s`), idleMs);
      this.idleTimer.unref();
    }
  }

  /** A status event in the current phase with new detail, e.g. a clone's progress. */
  progress(detail: string): void {
    this.emit({ case: "status", value: { phase: this.phase, detail } });
  }

  control(message: ClaudeMessage): void {
    // Without a relay claude has no reason to speak the protocol; whatever it printed is kept as output.
    if (!this.permissions) return this.emit({ case: "message", value: message });
    this.permissions.onControl(parseControlMessage(JSON.parse(message.json) as Record<string, unknown>));
  }

  setResult(result: ResultSummary): void {
    const secrets = this.config.secrets;
    if (secrets?.contains(result.result)) result.result = secrets.redact(result.result);
    this.result = result;
  }

  noteSessionId(sessionId: string): void {
    if (sessionId) this.sessionId = sessionId;
  }

  /** The task's egress policy refused a connection. */
  blocked(connection: MessageInitShape<typeof ConnectionBlockedSchema>): void {
    this.emit({ case: "blocked", value: connection });
  }

  exited(exit: ProcessExit): void {
    if (this.finished || this.finishing) return;
    // claude is gone; anything it left behind goes with it.
    signalTask(this.processTag, this.process?.pid, "SIGKILL");
    const result = this.result ?? (this.sessionId ? create(ResultSummarySchema, { sessionId: this.sessionId }) : undefined);
    this.finish({
      exitCode: exit.exitCode ?? -1,
      signal: exit.signal ?? "",
      reason: this.end?.reason ?? ExitReason.COMPLETED,
      message: this.end?.message ?? "",
      result,
    });
  }

  /** claude never ran: it could not start, or the preparation failed, or the task was stopped first (that reason wins). */
  endBeforeLaunch(message: string, exitCode = -1): void {
    this.finish({ exitCode, signal: "", reason: this.end?.reason ?? ExitReason.FAILED, message: this.end?.message ?? message, result: undefined });
  }

  private finish(exited: { exitCode: number; signal: string; reason: ExitReason; message: string; result: ResultSummary | undefined }): void {
    if (this.finished || this.finishing) return;
    this.finishing = true;
    this.flushRedactors();
    // Requests still waiting are withdrawn before `exited`, which is always last.
    this.permissions?.close();
    if (this.droppedWhileStopping > 0) {
      const note = `${this.droppedWhileStopping} bytes of output printed while the task was being stopped were not kept`;
      exited = { ...exited, message: exited.message ? `${exited.message} (${note})` : note };
    }
    // No timeout, idle or grace timer may stop a task that has ended.
    for (const t of this.timers) clearTimeout(t);
    clearTimeout(this.idleTimer);
    const before = this.config.beforeExit;
    if (!before) return this.sendExited(exited);
    before().then(
      (extra) => this.sendExited({ ...exited, ...extra }),
      (err: unknown) => {
        this.config.logger.error({ taskId: this.taskId, err }, "before the end of the task");
        this.sendExited(exited);
      },
    );
  }

  private sendExited(exited: { exitCode: number; signal: string; reason: ExitReason; message: string; result: ResultSummary | undefined } & Partial<Pick<Exited, "changes">>): void {
    this.emit({ case: "exited", value: create(ExitedSchema, exited) });
    this.finished = true;
    this.queue.close();
    this.feed.end();
    clearTimeout(this.callerTimer);
    for (const t of this.timers) clearTimeout(t);
    clearTimeout(this.idleTimer);
    this.config.logger.info(
      { taskId: this.taskId, exitCode: exited.exitCode, signal: exited.signal || undefined, reason: ExitReason[exited.reason] },
      "task ended",
    );
    void whenTaskProcessesGone(this.processTag, this.process?.pid, this.config.killGraceMs + 1000).then((left) => {
      if (left.length > 0) this.config.logger.error({ taskId: this.taskId, pids: left }, "processes of the task outlived SIGKILL");
      this.resolveDone();
    });
  }

  /** SIGTERM to every process of the task now; SIGKILL after the grace period if claude has not exited. */
  private terminate(): void {
    const pid = this.process?.pid;
    if (pid === undefined) return;
    // A paused source could keep claude blocked on a full pipe; let it drain so it can see the signal and exit.
    this.process?.resume();
    signalTask(this.processTag, pid, "SIGTERM");
    this.schedule(this.config.killGraceMs, () => signalTask(this.processTag, pid, "SIGKILL"));
  }

  /**
   * The event with known secrets replaced, or undefined when all its bytes are held back for now. A message is
   * parsed again from its redacted line, so its typed fields match it.
   */
  private redacted(event: EventBody): EventBody | undefined {
    const secrets = this.config.secrets;
    if (!secrets || secrets.size === 0 || !event) return event;
    if (event.case === "message") {
      const json = event.value.json ?? "";
      if (!secrets.contains(json)) return event;
      const message = parseStreamJsonLine(secrets.redact(json));
      return message ? { case: "message", value: message } : event;
    }
    if (event.case === "output") {
      const stream = event.value.stream ?? OutputStream.UNSPECIFIED;
      let redactor = this.redactors.get(stream);
      if (!redactor) this.redactors.set(stream, (redactor = new StreamRedactor(secrets)));
      const data = redactor.push(Buffer.from(event.value.data ?? new Uint8Array()));
      if (redactor.holding) this.scheduleRedactionFlush();
      return data.length > 0 ? { case: "output", value: { ...event.value, data } } : undefined;
    }
    // A setup script's output (status details) and the end message quoting its last lines may carry a setup secret.
    if (event.case === "status" && secrets.contains(event.value.detail ?? "")) return { case: "status", value: { ...event.value, detail: secrets.redact(event.value.detail ?? "") } };
    if (event.case === "exited" && secrets.contains(event.value.message ?? "")) return { case: "exited", value: { ...event.value, message: secrets.redact(event.value.message ?? "") } };
    return event;
  }

  private scheduleRedactionFlush(): void {
    clearTimeout(this.redactionTimer);
    this.redactionTimer = setTimeout(() => this.flushRedactors(), REDACTION_HOLD_MS);
    this.redactionTimer.unref();
  }

  /** Sends what the redactors held back (it was not a secret after all, or the stream ends). */
  private flushRedactors(): void {
    clearTimeout(this.redactionTimer);
    for (const [stream, redactor] of this.redactors) {
      const data = redactor.flush();
      if (data.length > 0) this.push({ case: "output", value: { data, stream } });
    }
  }

  private schedule(ms: number, fn: () => void): void {
    if (this.finished || this.finishing) return;
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    t.unref();
    this.timers.add(t);
  }
}

/** Bytes of output an event carries, as CC_MAX_OUTPUT_BYTES counts them: a message's JSON line in UTF-8, raw bytes as they are. */
export function outputBytes(event: RunEvent): number {
  const e = event.event;
  if (e.case === "output") return e.value.data.length;
  if (e.case === "message") return Buffer.byteLength(e.value.json, "utf8");
  return 0;
}

export { OutputStream, Phase, ExitReason };
