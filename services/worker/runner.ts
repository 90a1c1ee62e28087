// The worker's task runs: admission (draining, claude present, valid request, capacity), preparing the workspace,
// launching claude in the right mode in the task's sandbox, lookup by task id, and shutdown.
import { rmSync } from "node:fs";
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
import { claudeInvocation } from "./claude-args.js";
import { EgressError, fromMessage, narrow, toMessage, type EgressPolicy } from "./egress/index.js";
import { launchHeadless } from "./headless.js";
import { launchInteractive } from "./interactive.js";
import { signalTask, TASK_ID_ENV } from "./process-tree.js";
import type { Secrets } from "./redact.js";
import { cloneRepository, describeRepository, scrub } from "./repo-clone.js";
import { EndedFeeds } from "./reattach.js";
import { ExitReason, TaskRun } from "./task-run.js";
import { MCP_CONFIG_FILE, type Isolation, type TaskEnvironment } from "./task-isolation.js";
import type { WorkerSettings } from "./settings.js";
import type { SpawnTerminal } from "./terminal.js";
import type { WorkerTransfers } from "./transfers.js";
import type { StagedUpload } from "./upload/staging.js";
import { unpackUpload } from "./upload/unpack.js";
import { WarmPool, type WarmClaude } from "./warm-pool.js";
import { ENVIRONMENT_FILE, type Environments } from "./environments/index.js";
import { prepareEnvironment } from "./environments/task-setup.js";
import { environmentRepositoryOf } from "../common/environment-repository.js";
import { prepareExtraDirectories, prepareWorkspace, removeTaskWorkspace } from "./workspace.js";

const DEFAULT_COLS = 120;
const DEFAULT_ROWS = 40;

export interface RunnerDeps {
  settings: WorkerSettings;
  claude: ClaudeProbe;
  logger: Logger;
  spawnTerminal: SpawnTerminal;
  /** Each task's sandbox, private HOME and files, credential and proxies. */
  isolation: Isolation;
  /** The egress policy tasks get unless they narrow it (open when tasks cannot be isolated). */
  egress: EgressPolicy;
  /** Values redacted from task events (a task's repository token joins them while it runs). */
  secrets: Secrets;
  /** Uploads, recorded changes and workspace retention (services/worker/transfers.ts). */
  transfers: WorkerTransfers;
  /** A repository's environment file: setup, maintenance and the snapshot cache (services/worker/environments). */
  environments: Environments;
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
  /** The environments of warm processes, by their tag, until a task takes one. */
  private readonly warmEnvironments = new Map<string, TaskEnvironment>();
  /** The warm profile's MCP config, one file every warm process's sandbox reads (none without one). */
  private readonly warmMcpConfig: string | undefined;

  /** Headless claude processes started ahead of tasks (CC_WARM_POOL); none when the size is 0 or claude is broken. */
  private readonly pool: WarmPool | undefined;

  constructor(private readonly deps: RunnerDeps) {
    const { settings, claude } = deps;
    this.endedFeeds = new EndedFeeds({ keepMs: settings.routerGraceMs, maxFeeds: ENDED_FEEDS, maxBytes: ENDED_FEED_BYTES });
    if (settings.warmPool > 0 && !claude.problem) {
      const mcpConfigJson = settings.warmProfile?.mcpConfigJson ?? "";
      const warmMcpConfig = mcpConfigJson ? deps.isolation.writeWorkerFile(`warm-${MCP_CONFIG_FILE}`, mcpConfigJson) : undefined;
      this.warmMcpConfig = warmMcpConfig;
      this.pool = new WarmPool({
        size: settings.warmPool,
        profileArgs: warmProfileArgs(settings, warmMcpConfig),
        newSlot: () => {
          const tag = newTaskId();
          const workspace = prepareWorkspace(settings.workspaceRoot, tag, undefined);
          const environment = deps.isolation.prepare(tag, { workspace, egress: deps.egress });
          this.warmEnvironments.set(tag, environment);
          return {
            tag,
            workspace,
            launch: (args) => ({
              spec: environment.claudeSpec([claude.bin, ...args], { newSession: true, ...(warmMcpConfig ? { readOnly: [warmMcpConfig] } : {}) }),
              sandbox: deps.isolation.sandbox,
            }),
            discard: () => {
              this.warmEnvironments.delete(tag);
              environment.dispose();
              removeTaskWorkspace(settings.workspaceRoot, workspace);
            },
          };
        },
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
    validateRunRequest(req, { maxPromptBytes: settings.maxPromptBytes, maxTimeoutMs: settings.maxTaskTimeoutMs, maxTranscriptBytes: settings.maxTranscriptBytes });
    const active = this.activeCount;
    if (active >= settings.maxSessions) {
      throw resourceExhausted(`worker ${settings.workerId} is running ${active} of ${settings.maxSessions} sessions; try again later or add workers`);
    }
    const taskId = req.taskId || newTaskId();
    const egress = this.egressOf(req);

    // A headless task in a fresh workspace, with the worker's egress policy, may take a warm process (and its
    // workspace and sandbox) if its flags match the pool's; one with its own variables or extra directories needs a
    // claude started for it. (Every headless task asks, so the pool's counts say how often it missed.)
    const headless = req.mode !== RunMode.INTERACTIVE;
    // A repository task may take one too: it is cloned (and set up) into the warm process's empty workspace, and the
    // warm claude gets the prompt once the workspace is ready (services/worker/environments).
    const warmable = (!req.workspace?.source.case || req.workspace.source.case === "repository") && !req.egress && Object.keys(req.env).length === 0 && !req.agent?.addDirs.length && this.warmMatches(req);
    const warm = headless ? this.pool?.take(warmable ? claudeInvocation(req, this.warmMcpConfig ? { mcpConfigFile: this.warmMcpConfig } : {}).args : undefined) : undefined;
    const source = req.workspace?.source;
    // Taken now (NOT_FOUND refuses the task): an upload serves one task.
    const upload = source?.case === "upload" ? this.deps.transfers.uploads.take(source.value.uploadId) : undefined;
    let workspace: string;
    let addDirs: string[];
    let environment: TaskEnvironment;
    try {
      addDirs = prepareExtraDirectories(settings.workspaceRoot, req.agent?.addDirs ?? [], settings.rootWorkspace);
      workspace = warm?.workspace ?? prepareWorkspace(settings.workspaceRoot, taskId, req.workspace, settings.rootWorkspace);
    } catch (err) {
      if (upload) rmSync(upload.file, { force: true });
      throw fromPlatformError(err, "preparing the workspace");
    }
    try {
      environment = warm ? this.takeWarmEnvironment(warm) : this.deps.isolation.prepare(taskId, { workspace, egress, resumeSessionId: req.agent?.resumeSessionId ?? "", ...resumeTranscript(req) });
    } catch (err) {
      if (upload) rmSync(upload.file, { force: true });
      // A fresh workspace made for this task goes with it; a named directory is shared and stays.
      if (source?.case !== "directory") removeTaskWorkspace(settings.workspaceRoot, workspace);
      throw fromPlatformError(err, "preparing the task's sandbox");
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
      secrets: this.deps.secrets,
      disconnectGraceMs: settings.disconnectGraceMs,
      routerGraceMs: settings.routerGraceMs,
      replayBytes: settings.replayBytes,
      beforeExit: async () => {
        environment.keepTranscripts();
        const changes = await this.deps.transfers.changes.end(taskId);
        return changes ? { changes } : {};
      },
      logger,
    });
    this.runs.set(taskId, task);
    this.deps.transfers.retention.started(taskId, workspace);
    environment.bind(task);
    // A repository token is redacted from every task's events (and recorded changes) while this task runs.
    const token = source?.case === "repository" ? source.value.token : source?.case === "upload" ? (source.value.origin?.token ?? "") : "";
    const forgetToken = token ? this.deps.secrets.add(token) : () => {};
    // So are its setup secrets, which only its setup script ever sees.
    const forgetSetupSecrets = Object.values(req.setupSecrets).filter(Boolean).map((value) => this.deps.secrets.add(value));
    void task.done.then(() => {
      this.runs.delete(taskId);
      this.rememberEnded(taskId);
      environment.dispose();
      forgetToken();
      for (const forget of forgetSetupSecrets) forget();
      // A router's task: kept for a re-attach, in case the router did not read its `exited` (it restarted, or its
      // stream was already gone though not yet noticed).
      if (task.placedBy) this.endedFeeds.add(taskId, task.feed);
      void this.deps.transfers.retention.ended(taskId);
    });
    task.setPhase(Phase.STARTING, `accepted by worker ${settings.workerId}`);
    logger.info({ taskId, mode: RunMode[task.mode], workspace, warm: warm !== undefined, sandbox: this.deps.isolation.sandbox.kind, egress: egress.mode }, "task accepted");
    this.launches.set(task, () => {
      if (task.stopSignal.aborted && (!warm || source?.case === "repository")) {
        // A warm process taken for a repository task goes with the task's processes (its tag is the task's).
        if (warm) signalTask(task.processTag, undefined, "SIGKILL");
        if (upload) rmSync(upload.file, { force: true });
        return task.endBeforeLaunch("the task was stopped before claude started");
      }
      if (source?.case === "repository") void this.cloneThenLaunch(task, source.value, environment, addDirs, warm);
      else if (warm) this.launchWarm(task, warm);
      else if (source?.case === "upload") void this.unpackThenLaunch(task, upload!, source.value, environment, addDirs);
      else this.launch(task, environment, addDirs);
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

  /** The task's egress policy: its own within the worker's, or the worker's. */
  private egressOf(req: RunRequest): EgressPolicy {
    let asked: EgressPolicy | undefined;
    try {
      asked = req.egress ? fromMessage(req.egress) : undefined;
    } catch (err) {
      if (err instanceof EgressError) throw invalidArgument("egress", err.message);
      throw err;
    }
    if (asked && asked.mode !== "open" && !this.deps.isolation.isolates(asked)) {
      throw failedPrecondition(
        `worker ${this.deps.settings.workerId} cannot enforce an egress policy (${this.deps.isolation.sandbox.problem || "its sandbox is off"}); run the task on a sandboxed worker or without egress`,
      );
    }
    try {
      return narrow(this.deps.egress, asked);
    } catch (err) {
      if (err instanceof EgressError) throw new ConnectError(`egress: ${err.message}`, Code.PermissionDenied);
      throw err;
    }
  }

  private takeWarmEnvironment(warm: WarmClaude): TaskEnvironment {
    const environment = this.warmEnvironments.get(warm.tag);
    if (!environment) throw new Error(`warm process ${warm.tag} has no environment`);
    this.warmEnvironments.delete(warm.tag);
    environment.setLeader(warm.claude.pid);
    return environment;
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
    const { settings, claude, isolation } = this.deps;
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
      sandbox: isolation.sandbox.kind,
      sandboxProblem: isolation.sandbox.problem,
      egress: toMessage(this.deps.egress),
      environmentRepositories: [...new Set(this.deps.environments.list().map((s) => s.repository))],
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
  private async cloneThenLaunch(task: TaskRun, repo: GitRepository, environment: TaskEnvironment, addDirs: string[], warm?: WarmClaude): Promise<void> {
    const { settings, isolation, logger } = this.deps;
    const spec = { url: repo.url, ref: repo.ref, token: repo.token };
    const target = describeRepository(spec);
    task.progress(`cloning ${target}`);
    try {
      const { commit } = await cloneRepository(spec, {
        dir: task.workspace,
        env: isolation.env,
        // git runs in the task's sandbox too, with the token in its environment alone: claude's sandbox never has it.
        command: (argv, _cwd, env) => isolation.sandbox.command(environment.cloneSpec(argv, env)),
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
    await this.setUpThenLaunch(task, environment, addDirs, warm);
  }

  /**
   * Unpacks the task's upload into its fresh workspace (status events while it does), then starts claude; as with a
   * clone, a failure or a stop ends the task before claude runs and removes the directory. The upload's file goes
   * either way: it served its task. The worker's own git does this, outside the sandbox (git-command.ts).
   */
  private async unpackThenLaunch(task: TaskRun, upload: StagedUpload, spec: WorkspaceUpload, environment: TaskEnvironment, addDirs: string[]): Promise<void> {
    const { settings, isolation, logger } = this.deps;
    task.setPhase(Phase.STARTING, "unpacking the upload");
    try {
      const { commit } = await unpackUpload(upload, {
        dir: task.workspace,
        taskId: task.taskId,
        origin: spec.origin,
        env: isolation.env,
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
    await this.setUpThenLaunch(task, environment, addDirs);
  }

  /**
   * The repository's environment (services/worker/environments): its snapshot or its setup, in the task's sandbox,
   * then claude with the environment's variables. A failed setup ends the task with the script's exit code and
   * the tail of its output, and its workspace goes.
   */
  private async setUpThenLaunch(task: TaskRun, environment: TaskEnvironment, addDirs: string[], warm?: WarmClaude): Promise<void> {
    const repository = environmentRepositoryOf(task.request) ?? "";
    let prepared: Awaited<ReturnType<typeof prepareEnvironment>>;
    try {
      prepared = await prepareEnvironment(this.deps.environments, task, environment, { repository, gitSource: this.deps.isolation.env });
    } catch (err) {
      // Copying a snapshot (a full disk, one removed meanwhile) or resetting the clone failed: the task ends, told why.
      this.deps.logger.error({ taskId: task.taskId, err }, "preparing the task's environment failed");
      prepared = { kind: "failed", message: fromPlatformError(err, `preparing the environment of ${ENVIRONMENT_FILE}`).rawMessage, exitCode: -1 };
    }
    if (prepared.kind === "failed") {
      this.deps.logger.warn({ taskId: task.taskId, exitCode: prepared.exitCode }, "environment setup failed");
      this.discardWorkspace(task);
      task.endBeforeLaunch(prepared.message, prepared.exitCode);
      return;
    }
    if (task.stopSignal.aborted) {
      this.discardWorkspace(task);
      task.endBeforeLaunch("the task was stopped before claude started");
      return;
    }
    const environmentEnv = prepared.kind === "ready" ? prepared.env : {};
    if (warm && Object.keys(environmentEnv).length === 0) return this.launchWarm(task, warm);
    // A warm claude started without the environment's variables cannot have them now: a claude of the task's own.
    // Only its process group: a sweep by the task's tag would find the new claude too.
    if (warm?.claude.pid !== undefined) {
      try {
        process.kill(-warm.claude.pid, "SIGKILL");
      } catch {
        // ESRCH: it is gone already.
      }
    }
    this.launch(task, environment, addDirs, environmentEnv);
  }

  /** What every git process the worker runs for a task carries, so it is found and ended like claude's (cancel, shutdown). */
  private gitMarker(task: TaskRun): Record<string, string> {
    return { [TASK_ID_ENV]: task.processTag };
  }

  /** Whatever a failed clone left: processes first, then the directory. */
  private discardWorkspace(task: TaskRun): void {
    this.deps.transfers.retention.forget(task.taskId);
    signalTask(task.processTag, undefined, "SIGKILL");
    try {
      removeTaskWorkspace(this.deps.settings.workspaceRoot, task.workspace);
    } catch (err) {
      this.deps.logger.error({ taskId: task.taskId, err }, "could not remove the workspace of a failed clone");
    }
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

  /** `environmentEnv`: the variables of the repository's environment file (the task's own `env` wins). */
  private launch(task: TaskRun, environment: TaskEnvironment, addDirs: string[], environmentEnv: Record<string, string> = {}): void {
    const { claude, spawnTerminal, isolation } = this.deps;
    const req = task.request;
    const timeoutMs = this.timeoutMs(req);
    const interactive = task.mode === RunMode.INTERACTIVE;
    let mcpConfigFile: string | undefined;
    try {
      // The MCP config (often with tokens) is a private file of the task, bound read-only into its sandbox.
      const json = req.agent?.mcpConfigJson ?? "";
      if (json) mcpConfigFile = environment.writePrivateFile(MCP_CONFIG_FILE, json);
    } catch (err) {
      this.deps.logger.error({ taskId: task.taskId, err }, "could not write the task's MCP config");
      task.endBeforeLaunch(`claude could not be started: ${fromPlatformError(err, "writing the MCP config").rawMessage}`);
      return;
    }
    const invocation = claudeInvocation(req, { ...(interactive ? { hookSettings: environment.hookSettings() } : {}), addDirs, ...(mcpConfigFile ? { mcpConfigFile } : {}) });
    const spec = environment.claudeSpec([claude.bin, ...invocation.args], {
      newSession: !interactive,
      ...(interactive ? { term: "xterm-256color" } : {}),
      ...(mcpConfigFile ? { readOnly: [mcpConfigFile] } : {}),
      readWrite: addDirs,
      taskEnv: { ...environmentEnv, ...req.env },
    });
    const launchOptions = {
      spec,
      sandbox: isolation.sandbox,
      ...(invocation.stdin !== undefined ? { stdin: invocation.stdin } : {}),
      ...(invocation.holdStdin ? { holdStdin: true } : {}),
    };
    try {
      const process = interactive
        ? launchInteractive(
            {
              ...launchOptions,
              cols: req.terminal?.cols || DEFAULT_COLS,
              rows: req.terminal?.rows || DEFAULT_ROWS,
              onHookEvent: (listener) => environment.onHookEvent(listener),
            },
            task,
            spawnTerminal,
          )
        : launchHeadless(launchOptions, task);
      environment.setLeader(process?.pid);
      if (process) task.bindProcess(process, timeoutMs);
    } catch (err) {
      this.deps.logger.error({ taskId: task.taskId, err }, "claude failed to start");
      task.endBeforeLaunch(`claude could not be started: ${fromPlatformError(err, "starting claude").rawMessage}`);
    }
  }
}

/** The transcript sent with a task resuming a session that ran elsewhere (validate-run.ts checks it names that session). */
function resumeTranscript(req: RunRequest): { resumeTranscript?: Uint8Array } {
  const sent = req.resumeTranscript;
  return sent && sent.sessionId === req.agent?.resumeSessionId ? { resumeTranscript: sent.jsonl } : {};
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
