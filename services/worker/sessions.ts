// The worker's sessions: admission (draining, claude present, valid request, capacity), launching in the right
// mode, lookup by task id, and shutdown.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { RunMode, type RunRequest } from "../../gen/claudecluster/v1/run_pb.js";
import { type WorkerInfo, WorkerInfoSchema, WorkerState } from "../../gen/claudecluster/v1/worker_pb.js";
import { Code, ConnectError, failedPrecondition, fromPlatformError, notFound, resourceExhausted, unavailable } from "../common/errors.js";
import { newTaskId } from "../common/ids.js";
import type { Logger } from "../common/logger.js";
import { validateRunRequest } from "../common/validate-run.js";
import { VERSION } from "../common/version.js";
import type { ClaudeProbe } from "./claude-bin.js";
import { claudeEnv } from "./claude-env.js";
import { claudeInvocation } from "./claude-args.js";
import { launchHeadless } from "./headless.js";
import { hookSettingsJson } from "./hook-events.js";
import { launchInteractive } from "./interactive.js";
import { TASK_ID_ENV, WORKER_PID_ENV } from "./process-tree.js";
import { ExitReason, Session } from "./session.js";
import type { WorkerSettings } from "./settings.js";
import type { SpawnTerminal } from "./terminal.js";
import { prepareWorkspace } from "./workspace.js";

const DEFAULT_COLS = 120;
const DEFAULT_ROWS = 40;

export interface SessionManagerDeps {
  settings: WorkerSettings;
  claude: ClaudeProbe;
  logger: Logger;
  spawnTerminal: SpawnTerminal;
  /** The environment claude's allowlisted variables are taken from. */
  env: NodeJS.ProcessEnv;
}

export class SessionManager {
  private readonly sessions = new Map<string, Session>();
  private draining = false;
  /** Hook event files of interactive sessions; private to this process, removed at close. */
  private readonly hooksDir = mkdtempSync(join(tmpdir(), "cc-hooks-"));

  constructor(private readonly deps: SessionManagerDeps) {}

  get activeCount(): number {
    return this.sessions.size;
  }

  start(req: RunRequest): Session {
    const { settings, claude, logger } = this.deps;
    if (this.draining) throw unavailable(`worker ${settings.workerId} is shutting down; run the task on another worker`);
    if (claude.problem) throw failedPrecondition(claude.problem);
    validateRunRequest(req, { maxPromptBytes: settings.maxPromptBytes, maxTimeoutMs: settings.maxTaskTimeoutMs });
    if (this.sessions.size >= settings.maxSessions) {
      throw resourceExhausted(`worker ${settings.workerId} is running ${this.sessions.size} of ${settings.maxSessions} sessions; try again later or add workers`);
    }
    const taskId = req.taskId || newTaskId();
    if (this.sessions.has(taskId)) throw new ConnectError(`task ${taskId} is already running on this worker`, Code.AlreadyExists);

    let workspace: string;
    try {
      workspace = prepareWorkspace(settings.workspaceRoot, taskId, req.workspace);
    } catch (err) {
      throw fromPlatformError(err, "preparing the workspace");
    }
    const session = new Session(taskId, req, workspace, {
      workerId: settings.workerId,
      claudeVersion: claude.version,
      killGraceMs: settings.killGraceMs,
      idleTimeoutMs: settings.idleTimeoutMs,
      bufferBytes: settings.streamBufferBytes,
      logger,
    });
    this.sessions.set(taskId, session);
    const hookEventsPath = join(this.hooksDir, `${taskId}.jsonl`);
    void session.done.then(() => {
      this.sessions.delete(taskId);
      rmSync(hookEventsPath, { force: true });
    });
    logger.info({ taskId, mode: RunMode[session.mode], workspace }, "task starting");
    this.launch(session, hookEventsPath);
    return session;
  }

  get(taskId: string): Session {
    const session = this.sessions.get(taskId);
    if (!session) throw notFound(`task ${taskId}`, "it is not running on this worker (it may have ended)");
    return session;
  }

  info(): WorkerInfo {
    const { settings, claude } = this.deps;
    return create(WorkerInfoSchema, {
      workerId: settings.workerId,
      version: VERSION,
      claudeVersion: claude.version,
      capacity: settings.maxSessions,
      activeSessions: this.sessions.size,
      labels: settings.labels,
      state: claude.problem ? WorkerState.BROKEN : this.draining ? WorkerState.DRAINING : WorkerState.SERVING,
      activeTaskIds: [...this.sessions.keys()],
      problem: claude.problem,
    });
  }

  /** Refuses new tasks, lets running ones finish for `graceMs`, then stops the rest. Resolves when all are gone. */
  async drain(graceMs: number): Promise<void> {
    this.draining = true;
    const all = Promise.all([...this.sessions.values()].map((s) => s.done));
    const timer = setTimeout(() => {
      for (const s of this.sessions.values()) s.stop(ExitReason.SHUTDOWN, "the worker shut down before the task finished");
    }, graceMs);
    await all;
    clearTimeout(timer);
  }

  /** Stops everything now and cleans up. */
  async close(): Promise<void> {
    await this.drain(0);
    rmSync(this.hooksDir, { recursive: true, force: true });
  }

  private launch(session: Session, hookEventsPath: string): void {
    const { settings, claude, env, spawnTerminal } = this.deps;
    const req = session.request;
    const timeoutMs = req.timeout ? Number(req.timeout.seconds) * 1000 + Math.round(req.timeout.nanos / 1e6) : settings.taskTimeoutMs;
    const interactive = session.mode === RunMode.INTERACTIVE;
    const invocation = claudeInvocation(req, interactive ? hookSettingsJson() : undefined);
    const launchOptions = {
      bin: claude.bin,
      args: invocation.args,
      stdin: invocation.stdin,
      cwd: session.workspace,
      env: claudeEnv(env, {
        home: settings.claudeHome || env["HOME"] || tmpdir(),
        term: interactive ? "xterm-256color" : undefined,
        // Inherited by everything claude starts, so the task's processes can be found and ended.
        extra: { [TASK_ID_ENV]: session.taskId, [WORKER_PID_ENV]: String(process.pid) },
      }),
    };
    try {
      const process = interactive
        ? launchInteractive(
            { ...launchOptions, cols: req.terminal?.cols || DEFAULT_COLS, rows: req.terminal?.rows || DEFAULT_ROWS, hookEventsPath },
            session,
            spawnTerminal,
          )
        : launchHeadless(launchOptions, session);
      if (process) session.attach(process, timeoutMs);
    } catch (err) {
      this.deps.logger.error({ taskId: session.taskId, err }, "claude failed to start");
      session.failedToStart(`claude could not be started: ${fromPlatformError(err, "starting claude").rawMessage}`);
    }
  }
}
