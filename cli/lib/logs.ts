// `cc logs`: a task's log rendered as text, all of it or its last lines (--tail) or what came since a time
// (--since), and on with -f. When the router has dropped the start of a long log (CC_TASK_LOG_BYTES), it says so and
// prints what is left, instead of failing with the router's OUT_OF_RANGE.
import { Code, ConnectError } from "@connectrpc/connect";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { TaskStatus, type Task } from "../../gen/claudecluster/v1/router_pb.js";
import type { RunEvent } from "../../gen/claudecluster/v1/run_pb.js";
import { ExitCode } from "../exit-codes.js";
import { CliError } from "./errors.js";
import type { CommandIO } from "./io.js";
import { followTask } from "./run-task.js";
import { styleFor } from "./style.js";
import type { TaskCommandContext } from "./task-commands.js";

export interface LogsOptions {
  follow: boolean;
  /** Only the last this many lines of what is logged so far (then, with follow, everything new). */
  tail?: number;
  /** Only events from this time on (ms since the epoch). */
  sinceMs?: number;
}

/** Holds the output back, keeping only its last `n` lines, until released; from then on it passes through. */
export class TailBuffer {
  private lines: string[] = [];
  private partial = "";
  private released = false;

  constructor(
    private readonly n: number,
    private readonly out: CommandIO["stdout"],
  ) {}

  get isTTY(): boolean | undefined {
    return this.out.isTTY;
  }

  get columns(): number | undefined {
    return this.out.columns;
  }

  write(s: string): boolean {
    if (this.released) return this.out.write(s);
    const parts = (this.partial + s).split("\n");
    this.partial = parts.pop() ?? "";
    this.lines.push(...parts);
    if (this.lines.length > this.n) this.lines = this.lines.slice(-this.n);
    return true;
  }

  /** Writes the kept lines (the last may be unfinished), then lets everything through. */
  release(): void {
    if (this.released) return;
    this.released = true;
    const all = this.partial ? [...this.lines, this.partial] : this.lines;
    const kept = this.n > 0 ? all.slice(-this.n) : [];
    if (kept.length > 0) this.out.write(kept.join("\n") + (this.partial ? "" : "\n"));
    this.lines = [];
    this.partial = "";
  }
}

const eventMs = (ev: RunEvent) => (ev.time ? timestampMs(ev.time) : 0);

export async function taskLogs(c: TaskCommandContext, taskId: string, o: LogsOptions): Promise<number> {
  try {
    return await printLogs(c, taskId, o, await c.client.getTask({ taskId }));
  } catch (err) {
    if (!(err instanceof ConnectError) || err.code !== Code.OutOfRange) throw err;
    // The router dropped more of the log between reading the record and attaching: once more, from what is left now.
    try {
      return await printLogs(c, taskId, o, await c.client.getTask({ taskId }));
    } catch (again) {
      if (again instanceof ConnectError && again.code === Code.OutOfRange) {
        throw new CliError(`the router is dropping the start of task ${taskId}'s log faster than it can be read (it keeps CC_TASK_LOG_BYTES per task); try \`cc logs --tail 100 ${taskId}\``, ExitCode.Refused);
      }
      throw again;
    }
  }
}

async function printLogs(c: TaskCommandContext, taskId: string, o: LogsOptions, task: Task): Promise<number> {
  const ended = task.status !== TaskStatus.RUNNING && task.status !== TaskStatus.QUEUED;
  if (!o.follow && task.lastSeq === 0n) return ExitCode.Ok;
  const dim = styleFor(c.io.stdout, c.io.env).dim;
  let afterSeq = 0n;
  if (task.firstSeq > 1n) {
    afterSeq = task.firstSeq - 1n;
    // Said whatever --tail asks for: what is printed is not the whole log.
    c.io.stdout.write(dim(`── events 1–${afterSeq} of this task were dropped from the router's log (it keeps CC_TASK_LOG_BYTES per task); what is left starts at event ${task.firstSeq}`) + "\n");
  }
  const tail = o.tail !== undefined ? new TailBuffer(o.tail, c.io.stdout) : undefined;
  const stdout = (tail ?? c.io.stdout) as CommandIO["stdout"];
  try {
    await followTask({
      io: { ...c.io, stdout },
      client: c.client,
      router: c.router,
      start: { attach: taskId, afterSeq },
      format: "pretty",
      includePartials: false,
      onInterrupt: "leave",
      annotate: true,
      ...(o.follow || ended ? {} : { untilSeq: task.lastSeq }),
      ...(c.signals ? { signals: c.signals } : {}),
      // What is logged after the record was read is new: the tail is complete by then.
      onEvent: (ev) => {
        if (ev.seq > task.lastSeq) tail?.release();
      },
      ...(o.sinceMs !== undefined ? { skip: (ev: RunEvent) => eventMs(ev) < o.sinceMs! && ev.event.case !== "exited" } : {}),
    });
  } finally {
    tail?.release();
  }
  // The log was printed: that is success, whatever the task's own outcome.
  return ExitCode.Ok;
}
