// The worker's task runs: admission (draining, claude present, valid request, capacity), preparing the workspace,
// launching claude in the right mode, lookup by task id, and shutdown.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { type GitRepository, Phase, RunMode, type RunEvent, type RunRequest, RunRequestSchema, type WorkspaceUpload } from "../../gen/claudecluster/v1/run_pb.js";
import { type WorkerInfo, WorkerInfoSchema, WorkerState } from "../../gen/claudecluster/v1/worker_pb.js";
import { Code, ConnectError, describe, failedPrecondition, fromPlatformError, invalidArgument, notFound, resourceExhausted, unavailable } from "../common/errors.js";
import { isValidTaskId, newTaskId } from "../common/ids.js";
import type { Logger } from "../common/logger.js";
import { SettingsError } from "../common/settings.js";
import { validateRunRequest } from "../common/validate-run.js";
import { VERSION } from "../common/version.js";
import type { ClaudeProbe } from "./claude-bin.js";
import { claudeEnv } from "./claude-env.js";
import { claudeInvocation } from "./claude-args.js";
import { launchHeadless } from "./headless.js";
import { hookSettingsJson } from "./hook-events.js";
import { launchInteractive } from "./interactive.js";
import { signalTask, TASK_ID_ENV, WORKER_PID_ENV } from "./process-tree.js";
import { TaskFiles } from "./task-files.js";
import { cloneRepository, describeRepository, scrub } from "./repo-clone.js";
import { EndedFeeds } from "./reattach.js";
import { ExitReason, TaskRun } from "./task-run.js";
import type { WorkerSettings } from "./settings.js";
import type { SpawnTerminal } from "./terminal.js";
import type { WorkerTransfers } from "./transfers.js";
import type { StagedUpload } from "./upload/staging.js";
import { unpackUpload } from "./upload/unpack.js";
import { WarmPool, type WarmClaude } from "./warm-pool.js";
import { prepareExtraDirectories, prepareWorkspace, removeTaskWorkspace } from "./workspace.js";

const DEFAULT_COLS = 120;
const DEFAULT_ROWS = 40;

export interface RunnerDeps {
  settings: WorkerSettings;
  claude: ClaudeProbe;
  logger: Logger;
  spawnTerminal: SpawnTerminal;
  /** The environment claude's allowlisted variables are taken from. */
  env: NodeJS.ProcessEnv;
  /** Uploads, recorded changes and workspace retention (services/worker/transfers.ts). */
  transfers: WorkerTransfers;
}

/** How many ended task ids a worker remembers (a few bytes each). */
const RECENTLY_ENDED = 10_000;
/** Ended tasks of routers whose last events a worker keeps for a re-attach (CC_ROUTER_GRACE), at most. */
const ENDED_FEEDS = 256;
const ENDED_FEED_BYTES = 256 * 1024 * 1024;

export class Runner {
  private readonly runs = new Map<string, TaskRun>();
  /** Admitted tasks not launched yet, with what `proceed` does for each. */
  private readonly launches = new Map<TaskRun, () => void>();
  /** Oldest first. */
  private readonly recentlyEnded = new Set<string>();
  /** Ended tasks a router placed whose end it may not have heard: their last events, for its re-attach. */
  private readonly endedFeeds: EndedFeeds;
  private draining = false;
  /** Hook event files of interactive tasks; private to this process, removed at close. */
  private readonly hooksDir = mkdtempSync(join(tmpdir(), "cc-hooks-"));
  /** Each task's private files (its MCP config), outside its workspace; see task-files.ts. */
  private readonly files = new TaskFiles();

  /** Headless claude processes started ahead of tasks (CC_WARM_POOL); none when the size is 0 or claude is broken. */
  private readonly pool: WarmPool | undefined;

  constructor(private readonly deps: RunnerDeps) {
    const { settings, claude } = deps;
    this.endedFeeds = new EndedFeeds({ keepMs: settings.routerGraceMs, maxFeeds: ENDED_FEEDS, maxBytes: ENDED_FEED_BYTES });
    if (settings.warmPool > 0 && !claude.problem) {
      this.pool = new WarmPool({
        size: settings.warmPool,
        bin: claude.bin,
        profileArgs: warmProfileArgs(settings, this.files.writeMcpConfig(TaskFiles.WARM, settings.warmProfile?.mcpConfigJson ?? "")),
        newWorkspace: () => {
          const tag = newTaskId();
          return { tag, dir: prepareWorkspace(settings.workspaceRoot, tag, undefined) };
        },
        discardWorkspace: (dir) => removeTaskWorkspace(settings.workspaceRoot, dir),
        env: (tag) => this.claudeEnvFor(tag),
        logger: deps.logger,
      });
      this.pool.start();
    }
  }

  /**
   * Tasks that take a slot: admitted and not ended. A task that sent its `exited` no longer does, though it stays
   * known (ALREADY_EXISTS, Cancel) until its last processes are gone: a router placing the next task at once, on
   * that `exited`, finds the slot free.
   */
  get activeCount(): number {
    return this.active().length;
  }

  private active(): TaskRun[] {
    return [...this.runs.values()].filter((t) => !t.ended);
  }

  /**
   * Admits a task (or refuses it with an error status, having taken nothing) and queues its first event, the
   * acknowledgement that this worker accepted it. Nothing runs yet: `proceed` clones and starts claude, once the
   * acknowledgement is on its way to the caller (services/worker/service.ts), so a router that never received it
   * knows the task cannot have run here unseen.
   */
  start(req: RunRequest): TaskRun {
    const { settings, claude, logger } = this.deps;
    // First, so that any other refusal tells a router retrying a placement that this worker does not have the task.
    if (req.taskId && (this.runs.has(req.taskId) || this.recentlyEnded.has(req.taskId))) {
      const state = this.runs.has(req.taskId) ? "is already running" : "already ran";
      throw new ConnectError(`task ${req.taskId} ${state} on worker ${settings.workerId}; a task runs at most once`, Code.AlreadyExists);
    }
    if (this.draining) throw unavailable(`worker ${settings.workerId} is shutting down; run the task on another worker`);
    if (claude.problem) throw failedPrecondition(claude.problem);
    validateRunRequest(req, { maxPromptBytes: settings.maxPromptBytes, maxTimeoutMs: settings.maxTaskTimeoutMs });
    const active = this.activeCount;
    if (active >= settings.maxSessions) {
      throw resourceExhausted(`worker ${settings.workerId} is running ${active} of ${settings.maxSessions} sessions; try again later or add workers`);
    }
    const taskId = req.taskId || newTaskId();

    // A headless task in a fresh workspace may take a warm process (and its workspace) if its flags match the pool's;
    // one with its own variables or extra directories needs a claude started for it.
    // (Every headless task asks, so the pool's counts say how often it missed.)
    const headless = req.mode !== RunMode.INTERACTIVE;
    const warmable = !req.workspace?.source.case && Object.keys(req.env).length === 0 && !req.agent?.addDirs.length && this.warmMatches(req);
    const warm = headless ? this.pool?.take(warmable ? claudeInvocation(req, { mcpConfigFile: this.files.mcpConfig(TaskFiles.WARM) }).args : undefined) : undefined;
    const source = req.workspace?.source;
    // Taken now (NOT_FOUND refuses the task): an upload serves one task.
    const upload = source?.case === "upload" ? this.deps.transfers.uploads.take(source.value.uploadId) : undefined;
    let workspace: string;
    let addDirs: string[];
    try {
      workspace = warm?.workspace ?? prepareWorkspace(settings.workspaceRoot, taskId, req.workspace);
      addDirs = prepareExtraDirectories(settings.workspaceRoot, req.agent?.addDirs ?? []);
    } catch (err) {
      if (upload) rmSync(upload.file, { force: true });
      throw fromPlatformError(err, "preparing the workspace");
    }
    const task = new TaskRun(taskId, req, workspace, {
      workerId: settings.workerId,
      claudeVersion: claude.version,
      killGraceMs: settings.killGraceMs,
      idleTimeoutMs: settings.idleTimeoutMs,
      bufferBytes: settings.streamBufferBytes,
      maxOutputBytes: settings.maxOutputBytes,
      ...(warm ? { processTag: warm.tag } : {}),
      ...(headless && req.agent?.askPermissions ? { permissionTimeoutMs: settings.permissionTimeoutMs } : {}),
      disconnectGraceMs: settings.disconnectGraceMs,
      routerGraceMs: settings.routerGraceMs,
      replayBytes: settings.replayBytes,
      beforeExit: async () => {
        const changes = await this.deps.transfers.changes.end(taskId);
        return changes ? { changes } : {};
      },
      logger,
    });
    this.runs.set(taskId, task);
    this.deps.transfers.retention.started(taskId, workspace);
    const hookEventsPath = join(this.hooksDir, `${taskId}.jsonl`);
    void task.done.then(() => {
      this.runs.delete(taskId);
      this.rememberEnded(taskId);
      // A router's task: kept for a re-attach, in case the router did not read its `exited` (it restarted, or its
      // stream was already gone though not yet noticed).
      if (task.placedBy) this.endedFeeds.add(taskId, task.feed);
      rmSync(hookEventsPath, { force: true });
      this.files.remove(taskId);
      void this.deps.transfers.retention.ended(taskId);
    });
    task.setPhase(Phase.STARTING, `accepted by worker ${settings.workerId}`);
    logger.info({ taskId, mode: RunMode[task.mode], workspace, warm: warm !== undefined }, "task accepted");
    this.launches.set(task, () => {
      if (task.stopSignal.aborted && !warm) {
        if (upload) rmSync(upload.file, { force: true });
        return task.endBeforeLaunch("the task was stopped before claude started");
      }
      if (warm) this.launchWarm(task, warm);
      else if (source?.case === "repository") void this.cloneThenLaunch(task, source.value, hookEventsPath, addDirs);
      else if (source?.case === "upload") void this.unpackThenLaunch(task, upload!, source.value, hookEventsPath, addDirs);
      else this.launch(task, hookEventsPath, addDirs);
    });
    return task;
  }

  /**
   * Moves a task `start` admitted on, once: clones or unpacks (for a repository or upload workspace) and starts
   * claude, or, when the task was stopped meanwhile, ends it without claude (a warm process taken for it is ended).
   */
  proceed(task: TaskRun): void {
    const launch = this.launches.get(task);
    this.launches.delete(task);
    launch?.();
  }

  /** Whether the task is running here now (until its `exited` is sent). */
  has(taskId: string): boolean {
    return this.runs.has(taskId);
  }

  /** Task ids that ended lately, so that a placement retried after its stream broke is refused (ALREADY_EXISTS). */
  private rememberEnded(taskId: string): void {
    this.recentlyEnded.add(taskId);
    if (this.recentlyEnded.size > RECENTLY_ENDED) this.recentlyEnded.delete(this.recentlyEnded.values().next().value!);
  }

  get(taskId: string): TaskRun {
    if (!taskId) throw invalidArgument("task_id", "is required");
    if (!isValidTaskId(taskId)) throw invalidArgument("task_id", "must be 1-64 letters, digits, '-' or '_'");
    const task = this.runs.get(taskId);
    if (!task) throw notFound(`task ${taskId}`, "it is not running on this worker (it may have ended)");
    return task;
  }

  /**
   * A re-attaching caller's stream (WorkerService.Attach): a task running here, or one a router placed that ended
   * lately, from just after `afterSeq`. It never starts anything.
   */
  attach(taskId: string, afterSeq: bigint, signal: AbortSignal): AsyncGenerator<RunEvent> {
    if (!taskId) throw invalidArgument("task_id", "is required");
    if (!isValidTaskId(taskId)) throw invalidArgument("task_id", "must be 1-64 letters, digits, '-' or '_'");
    const running = this.runs.get(taskId);
    if (running) {
      this.deps.logger.info({ taskId, afterSeq: afterSeq.toString() }, "caller re-attached");
      return running.attach(afterSeq, signal);
    }
    const ended = this.endedFeeds.get(taskId);
    if (ended) return ended.stream(afterSeq, signal);
    throw notFound(`task ${taskId}`, "this worker does not have it: it never ran here, or it ended longer ago than CC_ROUTER_GRACE, or the worker restarted");
  }

  info(): WorkerInfo {
    const { settings, claude } = this.deps;
    return create(WorkerInfoSchema, {
      workerId: settings.workerId,
      version: VERSION,
      claudeVersion: claude.version,
      capacity: settings.maxSessions,
      activeSessions: this.activeCount,
      labels: settings.labels,
      state: claude.problem ? WorkerState.BROKEN : this.draining ? WorkerState.DRAINING : WorkerState.SERVING,
      activeTaskIds: this.active().map((t) => t.taskId),
      problem: claude.problem,
      ...(this.pool ? { warmPool: this.pool.info() } : {}),
      retention: this.deps.transfers.info(),
    });
  }

  /** Refuses new tasks, lets running ones finish for `graceMs`, then stops the rest. Resolves when all are gone. */
  async drain(graceMs: number): Promise<void> {
    this.draining = true;
    // No task will take a warm process any more.
    const poolClosed = this.pool?.close();
    const all = Promise.all([...this.runs.values()].map((s) => s.done));
    const timer = setTimeout(() => {
      for (const s of this.runs.values()) {
        s.stop(ExitReason.SHUTDOWN, "the worker shut down before the task finished");
        this.proceed(s);
      }
    }, graceMs);
    await all;
    await poolClosed;
    clearTimeout(timer);
  }

  /** Stops everything now and cleans up. */
  async close(): Promise<void> {
    await this.drain(0);
    this.endedFeeds.clear();
    rmSync(this.hooksDir, { recursive: true, force: true });
    this.files.close();
  }

  /** A warm process has the warm profile's MCP config (or none): a task may take one only with the same. */
  private warmMatches(req: RunRequest): boolean {
    return (req.agent?.mcpConfigJson ?? "") === (this.deps.settings.warmProfile?.mcpConfigJson ?? "");
  }

  /**
   * Clones the task's repository into its fresh workspace, reporting progress as `status` events (PHASE_STARTING),
   * then starts claude. A failed, timed-out or cancelled clone ends the task with `exited` (FAILED, or the reason
   * it was stopped for) before claude ever starts, and its directory is removed.
   */
  private async cloneThenLaunch(task: TaskRun, repo: GitRepository, hookEventsPath: string, addDirs: string[]): Promise<void> {
    const { settings, env, logger } = this.deps;
    const spec = { url: repo.url, ref: repo.ref, token: repo.token };
    const target = describeRepository(spec);
    task.progress(`cloning ${target}`);
    try {
      const { commit } = await cloneRepository(spec, {
        dir: task.workspace,
        env,
        // git and its helpers are found and ended like claude's processes (cancel, shutdown, orphan sweep).
        extraEnv: { [TASK_ID_ENV]: task.taskId, [WORKER_PID_ENV]: String(process.pid) },
        timeoutMs: settings.cloneTimeoutMs,
        signal: task.stopSignal,
        onProgress: (line) => task.progress(line),
      });
      task.progress(commit ? `cloned ${spec.url} at ${commit.slice(0, 12)}` : `cloned ${spec.url} (an empty repository)`);
      logger.info({ taskId: task.taskId, url: spec.url, ref: spec.ref || undefined, commit }, "repository cloned");
      const push = task.request.workspace?.push;
      await this.deps.transfers.changes.beginClone({ taskId: task.taskId, workspace: task.workspace, prompt: task.request.prompt, push, signal: task.stopSignal }, repo, commit, this.gitMarker(task));
    } catch (err) {
      const message = err instanceof ConnectError ? err.rawMessage : `cloning ${target} failed: ${fromPlatformError(err, "preparing the clone").rawMessage}`;
      logger.warn({ taskId: task.taskId, err: scrub(describe(err), spec.token) }, "clone failed");
      this.discardWorkspace(task);
      task.endBeforeLaunch(scrub(message, spec.token));
      return;
    }
    if (task.stopSignal.aborted) {
      // Stopped just as the clone finished: claude is not started.
      this.discardWorkspace(task);
      task.endBeforeLaunch("the task was stopped before claude started");
      return;
    }
    this.launch(task, hookEventsPath, addDirs);
  }

  /**
   * Unpacks the task's upload into its fresh workspace (status events while it does), then starts claude; as with a
   * clone, a failure or a stop ends the task before claude runs and removes the directory. The upload's file goes
   * either way: it served its task.
   */
  private async unpackThenLaunch(task: TaskRun, upload: StagedUpload, spec: WorkspaceUpload, hookEventsPath: string, addDirs: string[]): Promise<void> {
    const { settings, env, logger } = this.deps;
    task.setPhase(Phase.STARTING, "unpacking the upload");
    try {
      const { commit } = await unpackUpload(upload, {
        dir: task.workspace,
        taskId: task.taskId,
        origin: spec.origin,
        env,
        extraEnv: this.gitMarker(task),
        author: settings.gitAuthor,
        timeoutMs: settings.cloneTimeoutMs,
        signal: task.stopSignal,
        maxUnpackedBytes: settings.maxUploadBytes * 4,
        onProgress: (line) => task.progress(line),
      });
      const { header } = upload;
      const push = task.request.workspace?.push;
      if (commit) this.deps.transfers.changes.beginUpload({ taskId: task.taskId, workspace: task.workspace, base: commit, snapshot: header.snapshot, origin: spec.origin, push, prompt: task.request.prompt }, this.gitMarker(task));
      logger.info({ taskId: task.taskId, uploadId: upload.id, commit: commit || undefined }, "upload unpacked");
    } catch (err) {
      const message = err instanceof ConnectError ? err.rawMessage : `unpacking the upload failed: ${fromPlatformError(err, "unpacking the upload").rawMessage}`;
      logger.warn({ taskId: task.taskId, err: describe(err) }, "unpacking the upload failed");
      this.discardWorkspace(task);
      task.endBeforeLaunch(scrub(message, spec.origin?.token ?? ""));
      return;
    } finally {
      rmSync(upload.file, { force: true });
    }
    if (task.stopSignal.aborted) {
      this.discardWorkspace(task);
      task.endBeforeLaunch("the task was stopped before claude started");
      return;
    }
    this.launch(task, hookEventsPath, addDirs);
  }

  /** What every git process of a task carries, so it is found and ended like claude's (cancel, shutdown, orphan sweep). */
  private gitMarker(task: TaskRun): Record<string, string> {
    return { [TASK_ID_ENV]: task.taskId, [WORKER_PID_ENV]: String(process.pid) };
  }

  /** Whatever a failed clone left: processes first, then the directory. */
  private discardWorkspace(task: TaskRun): void {
    this.deps.transfers.retention.forget(task.taskId);
    signalTask(task.taskId, undefined, "SIGKILL");
    try {
      removeTaskWorkspace(this.deps.settings.workspaceRoot, task.workspace);
    } catch (err) {
      this.deps.logger.error({ taskId: task.taskId, err }, "could not remove the workspace of a failed clone");
    }
  }

  /** claude's environment; `tag` marks every process it starts, so they can be found and ended. */
  private claudeEnvFor(tag: string, term?: string, taskEnv?: Readonly<Record<string, string>>): Record<string, string> {
    const { settings, env } = this.deps;
    return claudeEnv(env, {
      home: settings.claudeHome || env["HOME"] || tmpdir(),
      term,
      ...(taskEnv ? { taskEnv } : {}),
      extra: { [TASK_ID_ENV]: tag, [WORKER_PID_ENV]: String(process.pid) },
    });
  }

  private timeoutMs(req: RunRequest): number {
    return req.timeout ? Number(req.timeout.seconds) * 1000 + Math.round(req.timeout.nanos / 1e6) : this.deps.settings.taskTimeoutMs;
  }

  /**
   * A warm process takes the task: the task attaches first, then hears what it printed while it waited. A task
   * stopped before its launch binds it only to end it (bindProcess terminates it at once), without the prompt.
   */
  private launchWarm(task: TaskRun, warm: WarmClaude): void {
    const stopped = task.stopSignal.aborted;
    const handle = warm.claude.handle();
    if (handle) task.bindProcess(handle, this.timeoutMs(task.request));
    warm.claude.bind(task);
    if (!stopped) warm.claude.sendPrompt(task.request.prompt, task.request.agent?.askPermissions === true);
  }

  private launch(task: TaskRun, hookEventsPath: string, addDirs: string[]): void {
    const { claude, spawnTerminal } = this.deps;
    const req = task.request;
    const timeoutMs = this.timeoutMs(req);
    const interactive = task.mode === RunMode.INTERACTIVE;
    let invocation;
    try {
      invocation = claudeInvocation(req, { ...(interactive ? { hookSettings: hookSettingsJson() } : {}), addDirs, mcpConfigFile: this.files.writeMcpConfig(task.taskId, req.agent?.mcpConfigJson ?? "") });
    } catch (err) {
      this.deps.logger.error({ taskId: task.taskId, err }, "could not write the task's MCP config");
      task.endBeforeLaunch(`claude could not be started: ${fromPlatformError(err, "writing the MCP config").rawMessage}`);
      return;
    }
    const launchOptions = {
      bin: claude.bin,
      args: invocation.args,
      stdin: invocation.stdin,
      ...(invocation.holdStdin ? { holdStdin: true } : {}),
      cwd: task.workspace,
      env: this.claudeEnvFor(task.taskId, interactive ? "xterm-256color" : undefined, req.env),
    };
    try {
      const process = interactive
        ? launchInteractive(
            { ...launchOptions, cols: req.terminal?.cols || DEFAULT_COLS, rows: req.terminal?.rows || DEFAULT_ROWS, hookEventsPath },
            task,
            spawnTerminal,
          )
        : launchHeadless(launchOptions, task);
      if (process) task.bindProcess(process, timeoutMs);
    } catch (err) {
      this.deps.logger.error({ taskId: task.taskId, err }, "claude failed to start");
      task.endBeforeLaunch(`claude could not be started: ${fromPlatformError(err, "starting claude").rawMessage}`);
    }
  }
}

/** claude's flags for a task with the warm profile's options; a profile that a request could not ask for is refused. */
function warmProfileArgs(settings: WorkerSettings, mcpConfigFile: string | undefined): string[] {
  const profile = create(RunRequestSchema, { prompt: "warm", agent: settings.warmProfile });
  try {
    validateRunRequest(profile, { maxPromptBytes: settings.maxPromptBytes, maxTimeoutMs: settings.maxTaskTimeoutMs });
  } catch (err) {
    throw new SettingsError(`CC_WARM_PROFILE: ${err instanceof ConnectError ? err.rawMessage : String(err)}`);
  }
  return claudeInvocation(profile, mcpConfigFile ? { mcpConfigFile } : {}).args;
}
