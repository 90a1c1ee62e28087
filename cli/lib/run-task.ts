// `cc run`: starts a task on the router and follows it to its end, headless (rendered, or like claude -p), detached
// (print the task id and leave), or interactive (the remote TUI in this terminal). Ctrl-C cancels the task.
import { RunMode, type AgentOptions, type RunEvent, type RunRequest } from "../../gen/claudecluster/v1/run_pb.js";
import { ExitCode } from "../exit-codes.js";
import type { RouterClient } from "./client.js";
import { describeError, dropReason } from "./errors.js";
import { follow, type FollowStart } from "./follow.js";
import { summaryText } from "./formats.js";
import { runInteractive, type InteractiveEnd, type TerminalIn, type TerminalOut } from "./interactive.js";
import { outputWidth, processSignals, type CommandIO, type SignalSource } from "./io.js";
import { taskOutcome } from "./outcome.js";
import type { ApproveRule } from "./approve-rules.js";
import { PermissionPrompter } from "./permission-prompter.js";
import { styleFor } from "./style.js";
import { terminalQuestion } from "./terminal-question.js";
import { TaskOutput, type Format } from "./task-output.js";

export type TaskClient = Pick<RouterClient, "run" | "attach" | "getTask" | "cancelTask" | "sendInput" | "resize" | "answerPermission">;

export interface RunTaskOptions {
  io: CommandIO;
  client: TaskClient;
  router: string;
  request: RunRequest;
  format: Format;
  includePartials: boolean;
  /** The router is a local cluster started for this call (it stops when cc returns). */
  embedded?: boolean;
  signals?: SignalSource;
  /** Backoff of re-attaching, for tests. */
  retryDelayMs?: number;
  /** Told the task's id once the router assigned it. */
  onTask?: (taskId: string) => void;
  /** How claude's permission requests are answered (headless tasks that ask). */
  permissions?: PermissionAnswering;
  /** Sees every event of a headless task before it is printed. */
  onEvent?: (event: RunEvent) => void;
}

/** How `cc run` and `cc attach` answer permission requests: see permission-prompter.ts. */
export interface PermissionAnswering {
  /** --approve: calls allowed without asking. */
  rules: readonly ApproveRule[];
  /** Ask the person at the terminal (stdin and stderr are one). */
  ask: boolean;
  /** What the rules do not allow and nobody is asked about: denied (`cc run`), or left for others (`cc attach`). */
  otherwise: "deny" | "leave";
  /** Attaching: where the replay ends and which of its requests still wait. */
  replay?: { untilSeq: bigint; pending: ReadonlySet<string> };
}

export function reconnectNotice(io: CommandIO, taskId: () => string, retries = 8) {
  return (attempt: number, delayMs: number, error: unknown): void => {
    const why = dropReason(error);
    io.stderr.write(`cc: lost the stream of task ${taskId()} (${why}); re-attaching in ${(delayMs / 1000).toFixed(1)}s (attempt ${attempt} of ${retries})\n`);
  };
}

export async function runTask(o: RunTaskOptions): Promise<number> {
  if (o.request.mode === RunMode.INTERACTIVE) return runInteractiveTask(o);
  if (o.request.detach) return runDetached(o);
  const { onTask, onEvent } = o;
  return followTask({
    ...o,
    start: { run: o.request },
    onInterrupt: "cancel",
    ...(o.request.agent ? { agent: o.request.agent } : {}),
    ...(onTask || onEvent
      ? {
          onEvent: (ev: RunEvent) => {
            onTask?.(ev.taskId);
            onEvent?.(ev);
          },
        }
      : {}),
  });
}

export interface FollowTaskOptions {
  io: CommandIO;
  client: Pick<RouterClient, "run" | "attach" | "getTask" | "cancelTask" | "answerPermission">;
  router: string;
  start: FollowStart;
  format: Format;
  includePartials: boolean;
  /** Ctrl-C cancels the task (cc run) or only stops following it (cc attach). */
  onInterrupt: "cancel" | "leave";
  /** The agent options the task runs with (text format quotes --max-turns and --max-budget-usd). */
  agent?: AgentOptions;
  signals?: SignalSource;
  retryDelayMs?: number;
  /** `cc logs`: annotations on stdout, stop at this seq unless following. */
  annotate?: boolean;
  untilSeq?: bigint;
  /** Sees every event before it is printed. */
  onEvent?: (event: RunEvent) => void;
  /** Answer the task's permission requests (headless tasks started with ask_permissions). */
  permissions?: PermissionAnswering;
  /** Events it returns true for are not printed (`cc logs --since`); the end is always reported. */
  skip?: (event: RunEvent) => boolean;
}

/** Follows a headless task, printing it in the chosen format; returns the exit code. */
export async function followTask(o: FollowTaskOptions): Promise<number> {
  const { io } = o;
  const signals = o.signals ?? processSignals;
  const agent = o.agent;
  const output = new TaskOutput({
    format: o.format,
    stdout: io.stdout,
    stderr: io.stderr,
    outStyle: styleFor(io.stdout, io.env),
    errStyle: styleFor(io.stderr, io.env),
    width: outputWidth(io.stdout),
    includePartials: o.includePartials,
    annotate: o.annotate ?? false,
    limits: { ...(agent?.maxTurns ? { maxTurns: agent.maxTurns } : {}), ...(agent?.maxBudgetUsd ? { maxBudgetUsd: agent.maxBudgetUsd } : {}) },
  });
  const abort = new AbortController();
  let taskId = "attach" in o.start ? o.start.attach : "";
  let interrupted = false;
  let reattaching = false;
  let cancelling: Promise<unknown> = Promise.resolve();

  const onInterrupt = () => {
    output.stop();
    if (interrupted) {
      // Second Ctrl-C: leave at once.
      io.stderr.write("\n");
      process.exit(ExitCode.Interrupted);
    }
    interrupted = true;
    if (o.onInterrupt === "leave" || taskId === "") {
      if (taskId !== "" && o.onInterrupt === "leave") io.stderr.write(`\ncc: stopped following task ${taskId}; it keeps running (\`cc cancel ${taskId}\` stops it)\n`);
      abort.abort();
      return;
    }
    io.stderr.write(`\ncc: cancelling task ${taskId}… (Ctrl-C again to quit at once)\n`);
    cancelling = o.client
      .cancelTask({ taskId, reason: "interrupted with Ctrl-C in cc" })
      .then(
        () => io.stderr.write(`cc: cancelled task ${taskId}\n`),
        (err: unknown) => io.stderr.write(`cc: could not cancel task ${taskId}: ${describeError(err, { router: o.router, taskId }).message}\n`),
      )
      .finally(() => abort.abort());
  };
  signals.on("SIGINT", onInterrupt);
  const prompter = o.permissions
    ? new PermissionPrompter({
        client: o.client,
        rules: o.permissions.rules,
        ...(o.permissions.ask ? { question: terminalQuestion(io.stdin, io.stderr, onInterrupt) } : {}),
        otherwise: o.permissions.otherwise,
        noteRefusals: o.agent?.askPermissions !== true,
        stderr: io.stderr,
        style: styleFor(io.stderr, io.env),
        interject: () => output.interject(),
        ...(o.permissions.replay ? { replay: o.permissions.replay } : {}),
      })
    : undefined;
  if (!("attach" in o.start)) output.waiting("sending the task to the router…");
  try {
    const result = await follow({
      client: o.client,
      start: o.start,
      signal: abort.signal,
      ...(o.untilSeq !== undefined ? { untilSeq: o.untilSeq } : {}),
      ...(o.retryDelayMs !== undefined ? { baseDelayMs: o.retryDelayMs, maxDelayMs: o.retryDelayMs } : {}),
      onReconnect: (attempt, delayMs, error) => {
        output.stop();
        reattaching = true;
        reconnectNotice(io, () => taskId)(attempt, delayMs, error);
      },
      onEvent: (ev) => {
        taskId = ev.taskId || taskId;
        if (reattaching) {
          reattaching = false;
          io.stderr.write(`cc: re-attached to task ${taskId}\n`);
        }
        o.onEvent?.(ev);
        if (!o.skip?.(ev)) output.event(ev);
        prompter?.event(ev);
      },
    });
    await prompter?.close();
    // The task's end may arrive before the answer to CancelTask: wait for both before reporting.
    await cancelling;
    if (result.exited) return output.finish(result.exited, interrupted).exitCode;
    output.stop();
    return interrupted ? ExitCode.Interrupted : ExitCode.Ok;
  } catch (err) {
    output.stop();
    await cancelling;
    if (interrupted) return ExitCode.Interrupted;
    throw err;
  } finally {
    await prompter?.close();
    signals.off("SIGINT", onInterrupt);
  }
}

async function runDetached(o: RunTaskOptions): Promise<number> {
  const { io } = o;
  const abort = new AbortController();
  let taskId = "";
  await follow({
    client: o.client,
    start: { run: o.request },
    signal: abort.signal,
    onEvent: (ev) => {
      taskId = ev.taskId;
      abort.abort();
    },
  });
  if (taskId === "") throw new Error("the router ended the call before the task started");
  io.stdout.write(`${taskId}\n`);
  if (io.stderr.isTTY) {
    const dim = styleFor(io.stderr, io.env).dim;
    io.stderr.write(dim(`task ${taskId} is running: follow it with \`cc attach ${taskId}\`, read it with \`cc logs ${taskId}\`, stop it with \`cc cancel ${taskId}\`\n`));
  }
  return ExitCode.Ok;
}

async function runInteractiveTask(o: RunTaskOptions): Promise<number> {
  return interactiveSession(o.io, o.client, { run: o.request }, false, o.embedded === true);
}

/** The remote TUI in this terminal until it exits or the user detaches; returns the exit code. */
export async function interactiveSession(
  io: CommandIO,
  client: Pick<RouterClient, "run" | "attach" | "getTask" | "sendInput" | "resize">,
  start: FollowStart,
  resizeOnStart: boolean,
  embedded = false,
): Promise<number> {
  let taskId = "attach" in start ? start.attach : "";
  const end = await runInteractive({
    client,
    start,
    stdin: io.stdin as unknown as TerminalIn,
    stdout: io.stdout as unknown as TerminalOut,
    resizeOnStart,
    onTask: (id) => (taskId = id),
    onReconnect: reconnectNotice(io, () => taskId),
  });
  return interactiveEnd(io, end, embedded);
}

/** What -i and attach print when the terminal session ends: the detach hint, or the task's summary. */
export function interactiveEnd(io: CommandIO, end: InteractiveEnd, embedded = false): number {
  const style = styleFor(io.stderr, io.env);
  if (end.detached && embedded) {
    io.stderr.write(`\x1b[999B\r\ncc: detached; the local cluster started for this call stops now, and task ${end.taskId} with it.\r\n    Use \`cc up\` for a cluster that keeps tasks running.\r\n`);
    return ExitCode.Ok;
  }
  if (end.detached) {
    // The TUI leaves the cursor inside its own drawing: go below it first.
    io.stderr.write(`\x1b[999B\r\ncc: detached from task ${end.taskId}; it keeps running.\r\n    Reattach with \`cc attach ${end.taskId}\`, stop it with \`cc cancel ${end.taskId}\`.\r\n`);
    return ExitCode.Ok;
  }
  if (!end.exited) return ExitCode.AgentError;
  const outcome = taskOutcome(end.exited, { taskId: end.taskId });
  io.stderr.write("\r\n" + summaryText(outcome.summary, style));
  return outcome.exitCode;
}
