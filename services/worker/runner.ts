// The worker's task runs: admission (draining, claude present, valid request, capacity), preparing the workspace,
// launching claude in the right mode, lookup by task id, and shutdown.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
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
import { claudeEnv } from "./claude-env.js";
import { claudeInvocation } from "./claude-args.js";
import { launchHeadless } from "./headless.js";
import { hookSettingsJson } from "./hook-events.js";
import { launchInteractive } from "./interactive.js";
import { signalTask, TASK_ID_ENV, WORKER_PID_ENV } from "./process-tree.js";
import { cloneRepository, describeRepository, scrub } from "./repo-clone.js";
import { ExitReason, TaskRun } from "./task-run.js";
import type { WorkerSettings } from "./settings.js";
import type { SpawnTerminal } from "./terminal.js";
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
}

export class Runner {
  private readonly runs = new Map<string, TaskRun>();
  private draining = false;
  /** Hook event files of interactive tasks; private to this process, removed at close. */
  private readonly hooksDir = mkdtempSync(join(tmpdir(), "cc-hooks-"));

  /** Headless claude processes started ahead of tasks (CC_WARM_POOL); none when the size is 0 or claude is broken. */
  private readonly pool: WarmPool | undefined;

  constructor(private readonly deps: RunnerDeps) {
    const { settings, claude } = deps;
    if (settings.warmPool > 0 && !claude.problem) {
      this.pool = new WarmPool({
        size: settings.warmPool,
        bin: claude.bin,
        profileArgs: warmProfileArgs(settings),
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

    // A headless task in a fresh workspace may take a warm process (and its workspace) if its flags match the pool's;
    // one with its own variables or extra directories needs a claude started for it.
    // (Every headless task asks, so the pool's counts say how often it missed.)
    const headless = req.mode !== RunMode.INTERACTIVE;
    const warmable = !req.workspace?.source.case && Object.keys(req.env).length === 0 && !req.agent?.addDirs.length;
    const warm = headless ? this.pool?.take(warmable ? claudeInvocation(req).args : undefined) : undefined;
    let workspace: string;
    let addDirs: string[];
    try {
      workspace = warm?.workspace ?? prepareWorkspace(settings.workspaceRoot, taskId, req.workspace);
      addDirs = prepareExtraDirectories(settings.workspaceRoot, req.agent?.addDirs ?? []);
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
      logger,
    });
    this.runs.set(taskId, task);
    const hookEventsPath = join(this.hooksDir, `${taskId}.jsonl`);
    void task.done.then(() => {
      this.runs.delete(taskId);
      rmSync(hookEventsPath, { force: true });
    });
    logger.info({ taskId, mode: RunMode[task.mode], workspace, warm: warm !== undefined }, "task starting");
    const source = req.workspace?.source;
    if (warm) this.launchWarm(task, warm);
    else if (source?.case === "repository") void this.cloneThenLaunch(task, source.value, hookEventsPath, addDirs);
    else this.launch(task, hookEventsPath, addDirs);
    return task;
  }

  get(taskId: string): TaskRun {
    if (!taskId) throw invalidArgument("task_id", "is required");
    if (!isValidTaskId(taskId)) throw invalidArgument("task_id", "must be 1-64 letters, digits, '-' or '_'");
    const task = this.runs.get(taskId);
    if (!task) throw notFound(`task ${taskId}`, "it is not running on this worker (it may have ended)");
    return task;
  }

  info(): WorkerInfo {
    const { settings, claude } = this.deps;
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
    rmSync(this.hooksDir, { recursive: true, force: true });
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
    task.setPhase(Phase.STARTING, `cloning ${target}`);
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

  /** Whatever a failed clone left: processes first, then the directory. */
  private discardWorkspace(task: TaskRun): void {
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

  /** A warm process takes the task: the task attaches first, then hears what it printed while it waited. */
  private launchWarm(task: TaskRun, warm: WarmClaude): void {
    const handle = warm.claude.handle();
    if (handle) task.bindProcess(handle, this.timeoutMs(task.request));
    warm.claude.bind(task);
    warm.claude.sendPrompt(task.request.prompt);
  }

  private launch(task: TaskRun, hookEventsPath: string, addDirs: string[]): void {
    const { claude, spawnTerminal } = this.deps;
    const req = task.request;
    const timeoutMs = this.timeoutMs(req);
    const interactive = task.mode === RunMode.INTERACTIVE;
    const invocation = claudeInvocation(req, { ...(interactive ? { hookSettings: hookSettingsJson() } : {}), addDirs });
    const launchOptions = {
      bin: claude.bin,
      args: invocation.args,
      stdin: invocation.stdin,
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
function warmProfileArgs(settings: WorkerSettings): string[] {
  const profile = create(RunRequestSchema, { prompt: "warm", agent: settings.warmProfile });
  try {
    validateRunRequest(profile, { maxPromptBytes: settings.maxPromptBytes, maxTimeoutMs: settings.maxTaskTimeoutMs });
  } catch (err) {
    throw new SettingsError(`CC_WARM_PROFILE: ${err instanceof ConnectError ? err.rawMessage : String(err)}`);
  }
  return claudeInvocation(profile).args;
}
