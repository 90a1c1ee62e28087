// Headless mode: `claude -p --output-format stream-json` through pipes. Pipes give clean JSON (no terminal echo, no
// line wrapping); every stdout line becomes a `message` event and stderr is passed on as raw `output`.
import { spawn } from "node:child_process";
import { OutputStream } from "../../gen/claudecluster/v1/run_pb.js";
import type { ClaudeProcess, SessionSink } from "./session.js";
import { parseStreamJsonLine } from "./stream-json.js";

export interface LaunchOptions {
  bin: string;
  args: string[];
  stdin?: string;
  cwd: string;
  env: Record<string, string>;
}

/**
 * A stream-json line longer than this is passed on as raw stdout output, piece by piece, instead of parsed. claude
 * truncates tool output long before this, so only something broken prints such a line.
 */
export const MAX_LINE_BYTES = 4 * 1024 * 1024;

export function launchHeadless(options: LaunchOptions, sink: SessionSink): ClaudeProcess | undefined {
  const child = spawn(options.bin, options.args, {
    cwd: options.cwd,
    env: options.env,
    // Its own session and process group, so the whole tree can be signalled at once.
    detached: true,
    stdio: ["pipe", "pipe", "pipe"],
  });
  let started = child.pid !== undefined;
  child.once("error", (err) => {
    // spawn failures (ENOENT, EACCES) arrive here, after spawn() returned.
    if (!started) sink.failedToStart(`claude could not be started: ${(err as NodeJS.ErrnoException).code ?? err.message}`);
  });
  if (child.pid === undefined) return undefined;

  child.stdin.on("error", () => {
    // EPIPE if claude exits before reading its prompt; its exit is reported through "close".
  });
  child.stdin.end(options.stdin ?? "");

  const lines = new LineSplitter(MAX_LINE_BYTES, (line) => {
    const message = parseStreamJsonLine(line);
    if (!message) {
      sink.emit({ case: "output", value: { data: Buffer.from(line + "\n"), stream: OutputStream.STDOUT } });
      return;
    }
    sink.emit({ case: "message", value: message });
    if (message.sessionId) sink.noteSessionId(message.sessionId);
    if (message.body.case === "result") sink.setResult(message.body.value);
  }, (oversized) => sink.emit({ case: "output", value: { data: oversized, stream: OutputStream.STDOUT } }));
  child.stdout.on("data", (chunk: Buffer) => lines.push(chunk));
  child.stderr.on("data", (chunk: Buffer) => sink.emit({ case: "output", value: { data: chunk, stream: OutputStream.STDERR } }));
  // "close" waits for the pipes to drain, so every line is reported before `exited`.
  child.once("close", (exitCode, signal) => {
    lines.end();
    sink.exited({ exitCode, signal });
  });

  return {
    pid: child.pid,
    pause: () => {
      child.stdout.pause();
      child.stderr.pause();
    },
    resume: () => {
      child.stdout.resume();
      child.stderr.resume();
    },
  };
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
