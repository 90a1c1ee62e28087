// The worker's task runs: admission (draining, claude present, valid request, capacity), preparing the workspace,
// launching claude in the right mode, lookup by task id, and shutdown.
import { create } from "@bufbuild/protobuf";
import { type GitRepository, Phase, RunMode, type RunRequest, RunRequestSchema } from "../../gen/claudecluster/v1/run_pb.js";
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
import { signalTask } from "./process-tree.js";
import type { Secrets } from "./redact.js";
import { cloneRepository, describeRepository, scrub } from "./repo-clone.js";
import { ExitReason, TaskRun } from "./task-run.js";
import type { Isolation, TaskEnvironment } from "./task-isolation.js";
import type { WorkerSettings } from "./settings.js";
import type { SpawnTerminal } from "./terminal.js";
import { WarmPool, type WarmClaude } from "./warm-pool.js";
import { prepareWorkspace, removeTaskWorkspace } from "./workspace.js";

const DEFAULT_COLS = 120;
const DEFAULT_ROWS = 40;

export interface RunnerDeps {
  settings: WorkerSettings;
  claude: ClaudeProbe;
  logger: Logger;
  spawnTerminal: SpawnTerminal;
  /** Each task's sandbox, private HOME, credential and proxies. */
  isolation: Isolation;
  /** The egress policy tasks get unless they narrow it (open when tasks cannot be isolated). */
  egress: EgressPolicy;
  /** Values redacted from task events (a task's repository token joins them while it runs). */
  secrets: Secrets;
}

export class Runner {
  private readonly runs = new Map<string, TaskRun>();
  private draining = false;
  /** The environments of warm processes, by their tag, until a task takes one. */
  private readonly warmEnvironments = new Map<string, TaskEnvironment>();

  /** Headless claude processes started ahead of tasks (CC_WARM_POOL); none when the size is 0 or claude is broken. */
  private readonly pool: WarmPool | undefined;

  constructor(private readonly deps: RunnerDeps) {
    const { settings, claude } = deps;
    if (settings.warmPool > 0 && !claude.problem) {
      this.pool = new WarmPool({
        size: settings.warmPool,
        profileArgs: warmProfileArgs(settings),
        newSlot: () => {
          const tag = newTaskId();
          const workspace = prepareWorkspace(settings.workspaceRoot, tag, undefined);
          const environment = deps.isolation.prepare(tag, { workspace, egress: deps.egress });
          this.warmEnvironments.set(tag, environment);
          return {
            tag,
            workspace,
            launch: (args) => ({ spec: environment.claudeSpec([claude.bin, ...args], { newSession: true }), sandbox: deps.isolation.sandbox }),
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

  get activeCount(): number {
    return this.runs.size;
  }

  start(req: RunRequest): TaskRun {
    const { settings, claude, logger } = this.deps;
    if (this.draining) throw unavailable(`worker ${settings.workerId} is shutting down; run the task on another worker`);
    if (claude.problem) throw failedPrecondition(claude.problem);
    validateRunRequest(req, { maxPromptBytes: settings.maxPromptBytes, maxTimeoutMs: settings.maxTaskTimeoutMs });
    if (this.runs.size >= settings.maxSessions) {
      throw resourceExhausted(`worker ${settings.workerId} is running ${this.runs.size} of ${settings.maxSessions} sessions; try again later or add workers`);
    }
    const taskId = req.taskId || newTaskId();
    if (this.runs.has(taskId)) throw new ConnectError(`task ${taskId} is already running on this worker`, Code.AlreadyExists);
    const egress = this.egressOf(req);

    // A headless task in a fresh workspace, with the worker's egress policy, may take a warm process (and its
    // workspace) if its flags match the pool's.
    const headless = req.mode !== RunMode.INTERACTIVE;
    const poolable = !req.workspace?.source.case && !req.egress;
    const warm = headless ? this.pool?.take(poolable ? claudeInvocation(req).args : undefined) : undefined;
    let workspace: string;
    let environment: TaskEnvironment;
    try {
      workspace = warm?.workspace ?? prepareWorkspace(settings.workspaceRoot, taskId, req.workspace, settings.rootWorkspace);
      environment = warm ? this.takeWarmEnvironment(warm) : this.deps.isolation.prepare(taskId, { workspace, egress, resumeSessionId: req.agent?.resumeSessionId ?? "" });
    } catch (err) {
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
      secrets: this.deps.secrets,
      logger,
    });
    this.runs.set(taskId, task);
    environment.bind(task);
    const source = req.workspace?.source;
    // A repository token is redacted from every task's events while this task runs.
    const forgetToken = source?.case === "repository" && source.value.token ? this.deps.secrets.add(source.value.token) : () => {};
    void task.done.then(() => {
      this.runs.delete(taskId);
      environment.dispose();
      forgetToken();
    });
    logger.info({ taskId, mode: RunMode[task.mode], workspace, warm: warm !== undefined, sandbox: this.deps.isolation.sandbox.kind, egress: egress.mode }, "task starting");
    if (warm) this.launchWarm(task, warm);
    else if (source?.case === "repository") void this.cloneThenLaunch(task, source.value, environment);
    else this.launch(task, environment);
    return task;
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

  info(): WorkerInfo {
    const { settings, claude, isolation } = this.deps;
    return create(WorkerInfoSchema, {
      workerId: settings.workerId,
      version: VERSION,
      claudeVersion: claude.version,
      capacity: settings.maxSessions,
      activeSessions: this.runs.size,
      labels: settings.labels,
      state: claude.problem ? WorkerState.BROKEN : this.draining ? WorkerState.DRAINING : WorkerState.SERVING,
      activeTaskIds: [...this.runs.keys()],
      problem: claude.problem,
      ...(this.pool ? { warmPool: this.pool.info() } : {}),
      sandbox: isolation.sandbox.kind,
      sandboxProblem: isolation.sandbox.problem,
      egress: toMessage(this.deps.egress),
    });
  }

  /** Refuses new tasks, lets running ones finish for `graceMs`, then stops the rest. Resolves when all are gone. */
  async drain(graceMs: number): Promise<void> {
    this.draining = true;
    // No task will take a warm process any more.
    const poolClosed = this.pool?.close();
    const all = Promise.all([...this.runs.values()].map((s) => s.done));
    const timer = setTimeout(() => {
      for (const s of this.runs.values()) s.stop(ExitReason.SHUTDOWN, "the worker shut down before the task finished");
    }, graceMs);
    await all;
    await poolClosed;
    clearTimeout(timer);
  }

  /** Stops everything now and cleans up. */
  async close(): Promise<void> {
    await this.drain(0);
  }

  /**
   * Clones the task's repository into its fresh workspace, reporting progress as `status` events (PHASE_STARTING),
   * then starts claude. A failed, timed-out or cancelled clone ends the task with `exited` (FAILED, or the reason
   * it was stopped for) before claude ever starts, and its directory is removed.
   */
  private async cloneThenLaunch(task: TaskRun, repo: GitRepository, environment: TaskEnvironment): Promise<void> {
    const { settings, isolation, logger } = this.deps;
    const spec = { url: repo.url, ref: repo.ref, token: repo.token };
    const target = describeRepository(spec);
    task.setPhase(Phase.STARTING, `cloning ${target}`);
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
    this.launch(task, environment);
  }

  /** Whatever a failed clone left: processes first, then the directory. */
  private discardWorkspace(task: TaskRun): void {
    signalTask(task.taskId, undefined, "SIGKILL");
    try {
      removeTaskWorkspace(this.deps.settings.workspaceRoot, task.workspace);
    } catch (err) {
      this.deps.logger.error({ taskId: task.taskId, err }, "could not remove the workspace of a failed clone");
    }
  }

  private timeoutMs(req: RunRequest): number {
    return req.timeout ? Number(req.timeout.seconds) * 1000 + Math.round(req.timeout.nanos / 1e6) : this.deps.settings.taskTimeoutMs;
  }

  /** A warm process takes the task: the task attaches first, then hears what it printed while it waited. */
  private launchWarm(task: TaskRun, warm: WarmClaude): void {
    const handle = warm.claude.handle();
    if (handle) task.bindProcess(handle, this.timeoutMs(task.request));
    warm.claude.bind(task);
    warm.claude.sendPrompt(task.request.prompt);
  }

  private launch(task: TaskRun, environment: TaskEnvironment): void {
    const { claude, spawnTerminal, isolation } = this.deps;
    const req = task.request;
    const timeoutMs = this.timeoutMs(req);
    const interactive = task.mode === RunMode.INTERACTIVE;
    const invocation = claudeInvocation(req, interactive ? environment.hookSettings() : undefined);
    const spec = environment.claudeSpec([claude.bin, ...invocation.args], { newSession: !interactive, ...(interactive ? { term: "xterm-256color" } : {}) });
    const launchOptions = { spec, sandbox: isolation.sandbox, ...(invocation.stdin !== undefined ? { stdin: invocation.stdin } : {}) };
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

/** claude's flags for a task with the warm profile's options; a profile that a request could not ask for is refused. */
function warmProfileArgs(settings: WorkerSettings): string[] {
  const profile = create(RunRequestSchema, { prompt: "warm", agent: settings.warmProfile });
  try {
    validateRunRequest(profile, { maxPromptBytes: settings.maxPromptBytes, maxTimeoutMs: settings.maxTaskTimeoutMs });
  } catch (err) {
    throw new SettingsError(`CC_WARM_PROFILE: ${err instanceof ConnectError ? err.rawMessage : String(err)}`);
  }
  return claudeInvocation(profile).args;
}
