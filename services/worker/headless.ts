// Headless mode: `claude -p --output-format stream-json` through pipes. Pipes give clean JSON (no terminal echo, no
// line wrapping); every stdout line becomes a `message` event and stderr is passed on as raw `output`.
import { spawn, type ChildProcess } from "node:child_process";
import { OutputStream } from "../../gen/claudecluster/v1/run_pb.js";
import type { LaunchSpec, Sandbox } from "./sandbox/index.js";
import type { ClaudeProcess, ProcessExit, TaskRunSink } from "./task-run.js";
import { streamJsonUserMessage } from "./claude-args.js";
import { isControlType } from "./permissions.js";
import { parseStreamJsonLine } from "./stream-json.js";

export interface LaunchOptions {
  /** claude's argv, where it runs and what it sees. */
  spec: LaunchSpec;
  /** Runs the spec: in the task's sandbox, or as it is. */
  sandbox: Sandbox;
  stdin?: string;
  /** Keep stdin open after `stdin` until claude's result: the control protocol's answers go there. */
  holdStdin?: boolean;
}

/**
 * A stream-json line longer than this is passed on as raw stdout output, piece by piece, instead of parsed. claude
 * truncates tool output long before this, so only something broken prints such a line.
 */
export const MAX_LINE_BYTES = 4 * 1024 * 1024;

/** Output a process may print before it is bound to a task (a warm process's start-up); past this it is killed. */
const MAX_HELD_BYTES = 1024 * 1024;

/**
 * A headless claude process. Until it is bound to a session, what it prints is held (a warm process may print before
 * its task exists); binding replays that, then passes everything on as it comes.
 */
export class HeadlessClaude {
  readonly pid: number | undefined;
  private readonly child: ChildProcess;
  private sink: TaskRunSink | undefined;
  private held: ((sink: TaskRunSink) => void)[] = [];
  private heldBytes = 0;
  private exit: ProcessExit | undefined;
  private spawnError: string | undefined;
  /** stdin stays open for control responses and is closed at claude's `result`, so claude then exits. */
  private holdStdin = false;
  /** The id of the `initialize` control request sent by warmUp, until claude answers it. */
  private warmUpId: string | undefined;
  private warmed = false;
  /** Resolves when the process has exited and its pipes are drained. */
  readonly closed: Promise<ProcessExit>;

  constructor(options: LaunchOptions) {
    const command = options.sandbox.command(options.spec);
    this.child = spawn(command.file, command.args, {
      cwd: command.cwd,
      env: command.env,
      // Its own session and process group, so the whole tree can be signalled at once.
      detached: true,
      stdio: ["pipe", "pipe", "pipe"],
    });
    this.pid = this.child.pid;
    let settle!: (exit: ProcessExit) => void;
    this.closed = new Promise((resolve) => (settle = resolve));
    this.child.once("error", (err) => {
      // spawn failures (ENOENT, EACCES) arrive here, after spawn() returned.
      if (this.pid === undefined) {
        this.spawnError = `claude could not be started: ${(err as NodeJS.ErrnoException).code ?? err.message}`;
        this.deliver((sink) => sink.endBeforeLaunch(this.spawnError!));
        settle({ exitCode: null, signal: null });
      }
    });
    if (this.pid === undefined) return;
    this.child.stdin!.on("error", () => {
      // EPIPE if claude exits before reading its prompt; its exit is reported through "close".
    });
    const lines = new LineSplitter(MAX_LINE_BYTES, (line) => this.answersWarmUp(line) || this.deliver((sink) => this.onLine(sink, line), line.length), (oversized) =>
      this.deliver((sink) => sink.emit({ case: "output", value: { data: oversized, stream: OutputStream.STDOUT } }), oversized.length),
    );
    this.child.stdout!.on("data", (chunk: Buffer) => lines.push(chunk));
    this.child.stderr!.on("data", (chunk: Buffer) => this.deliver((sink) => sink.emit({ case: "output", value: { data: chunk, stream: OutputStream.STDERR } }), chunk.length));
    // "close" waits for the pipes to drain, so every line is reported before `exited`.
    this.child.once("close", (code, sig) => {
      lines.end();
      const { exitCode, signal } = options.sandbox.exitOf({ exitCode: code, signal: sig });
      this.exit = { exitCode, signal };
      this.deliver((sink) => sink.exited({ exitCode, signal }));
      settle(this.exit);
    });
    if (options.stdin !== undefined) this.writeStdin(options.stdin, options.holdStdin === true);
  }

  /** Still running and unbound: a warm process that can take a task. */
  get available(): boolean {
    return this.pid !== undefined && this.exit === undefined && this.sink === undefined;
  }

  /** claude answered warmUp's `initialize`: it has started and reads its input. */
  get warm(): boolean {
    return this.warmed;
  }

  /**
   * Asks claude, before its task exists, for the `initialize` of the stream-json control protocol (what the Agent
   * SDK sends first). claude answers once it has started up, so the answer tells a process that is ready from one
   * still starting; the answer is the pool's, never shown to the task.
   */
  warmUp(requestId: string): void {
    if (this.pid === undefined || this.sink) return;
    this.warmUpId = requestId;
    this.child.stdin!.write(JSON.stringify({ type: "control_request", request_id: requestId, request: { subtype: "initialize" } }) + "\n");
  }

  /** True for claude's answer to warmUp, which is kept from the task. */
  private answersWarmUp(line: string): boolean {
    if (this.warmUpId === undefined || !line.includes(this.warmUpId) || !line.includes('"control_response"')) return false;
    try {
      const answer = JSON.parse(line) as { type?: unknown; response?: { request_id?: unknown } };
      if (answer.type !== "control_response" || answer.response?.request_id !== this.warmUpId) return false;
    } catch {
      return false;
    }
    this.warmUpId = undefined;
    this.warmed = true;
    return true;
  }

  /** Bytes printed before the process was bound. */
  get heldOutputBytes(): number {
    return this.heldBytes;
  }

  /** Hands the process to `sink`: what was held is replayed first. Returns undefined if it could not start. */
  bind(sink: TaskRunSink): ClaudeProcess | undefined {
    this.sink = sink;
    for (const call of this.held) call(sink);
    this.held = [];
    return this.handle();
  }

  /** The process as a session controls it; undefined if it could not start. */
  handle(): ClaudeProcess | undefined {
    if (this.pid === undefined) return undefined;
    const child = this.child;
    return {
      pid: this.pid,
      pause: () => {
        child.stdout!.pause();
        child.stderr!.pause();
      },
      resume: () => {
        child.stdout!.resume();
        child.stderr!.resume();
      },
      // Control responses (permission answers); nothing once stdin is closed.
      write: (data: Buffer) => {
        if (!child.stdin!.writableEnded) child.stdin!.write(data);
      },
    };
  }

  /**
   * Sends a prompt as a stream-json user message and closes stdin, so claude exits after answering it; with
   * `holdStdin`, stdin stays open for control responses until claude's result.
   */
  sendPrompt(prompt: string, holdStdin = false): void {
    this.writeStdin(streamJsonUserMessage(prompt), holdStdin);
  }

  private writeStdin(data: string, hold: boolean): void {
    this.holdStdin = hold;
    if (hold) this.child.stdin!.write(data);
    else this.child.stdin!.end(data);
  }

  private onLine(sink: TaskRunSink, line: string): void {
    const result = onLine(sink, line);
    if (result && this.holdStdin && !this.child.stdin!.writableEnded) this.child.stdin!.end();
  }

  private deliver(call: (sink: TaskRunSink) => void, bytes = 0): void {
    if (this.sink) return call(this.sink);
    this.held.push(call);
    this.heldBytes += bytes;
    // A process waiting for its task has little to say; one that keeps talking is broken and is not kept.
    if (this.heldBytes > MAX_HELD_BYTES && this.pid !== undefined && this.exit === undefined) {
      try {
        process.kill(-this.pid, "SIGKILL");
      } catch {
        // Already gone.
      }
    }
  }
}

/** Passes one stdout line on; true for claude's `result`. */
function onLine(sink: TaskRunSink, line: string): boolean {
  const message = parseStreamJsonLine(line);
  if (!message) {
    sink.emit({ case: "output", value: { data: Buffer.from(line + "\n"), stream: OutputStream.STDOUT } });
    return false;
  }
  if (isControlType(message.type)) {
    sink.control(message);
    return false;
  }
  sink.emit({ case: "message", value: message });
  if (message.sessionId) sink.noteSessionId(message.sessionId);
  if (message.body.case === "result") sink.setResult(message.body.value);
  return message.body.case === "result";
}

/** A cold start: spawns claude with its prompt on stdin and binds it to the session at once. */
export function launchHeadless(options: LaunchOptions, sink: TaskRunSink): ClaudeProcess | undefined {
  return new HeadlessClaude({ ...options, stdin: options.stdin ?? "" }).bind(sink);
}

/**
 * Splits a byte stream into UTF-8 lines without holding more than `maxLine` bytes of an unfinished one: past that,
 * the line's bytes go to `onOversized` as they come, up to and including its end.
 */
export class LineSplitter {
  private parts: Buffer[] = [];
  private size = 0;
  private overflowing = false;

  constructor(
    private readonly maxLine: number,
    private readonly onLine: (line: string) => void,
    private readonly onOversized: (piece: Buffer) => void,
  ) {}

  push(chunk: Buffer): void {
    let start = 0;
    for (let nl = chunk.indexOf(10); nl !== -1; nl = chunk.indexOf(10, start)) {
      this.append(chunk.subarray(start, nl));
      this.flush();
      start = nl + 1;
    }
    if (start < chunk.length) this.append(chunk.subarray(start));
  }

  end(): void {
    if (this.size > 0 || this.overflowing) this.flush();
  }

  private append(part: Buffer): void {
    if (part.length === 0) return;
    if (this.overflowing) {
      this.onOversized(part);
      return;
    }
    if (this.size + part.length > this.maxLine) {
      this.onOversized(Buffer.concat([...this.parts, part]));
      this.parts = [];
      this.size = 0;
      this.overflowing = true;
      return;
    }
    this.parts.push(part);
    this.size += part.length;
  }

  private flush(): void {
    if (this.overflowing) this.onOversized(Buffer.from("\n"));
    else {
      const line = Buffer.concat(this.parts, this.size).toString("utf8").replace(/\r$/, "");
      if (line !== "") this.onLine(line);
    }
    this.parts = [];
    this.size = 0;
    this.overflowing = false;
  }
}
