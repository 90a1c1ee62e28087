// Writes a task's events the way the user asked: rendered for people (default), or exactly like
// `claude -p --output-format text|json|stream-json`. In the machine formats nothing but claude's output goes to
// stdout; failures are reported on stderr.
import type { Exited, RunEvent } from "../../gen/claudecluster/v1/run_pb.js";
import { OutputStream, Phase } from "../../gen/claudecluster/v1/run_pb.js";
import { jsonResult, streamJsonLine, summaryText, textResult, type OutputFormat, type TextLimits } from "./formats.js";
import { taskOutcome, type Outcome } from "./outcome.js";
import { TextRenderer, type Writer } from "./render.js";
import { StatusLine, type StatusStream, type Timers } from "./status-line.js";
import type { Style } from "./style.js";

export type Format = "pretty" | OutputFormat;

export interface TaskOutputOptions {
  format: Format;
  stdout: Writer;
  stderr: StatusStream;
  /** Styles for what goes to stdout and to stderr (each on only when that stream is a terminal). */
  outStyle: Style;
  errStyle: Style;
  width: number;
  /** stream-json: pass claude's partial-message lines through too. */
  includePartials?: boolean;
  /** text: the limits claude's error texts quote. */
  limits?: TextLimits;
  /** `cc logs`: put started/queued/exited and claude's stderr on stdout as dim lines, no spinner. */
  annotate?: boolean;
  timers?: Timers;
}

export class TaskOutput {
  private readonly renderer: TextRenderer;
  private readonly status: StatusLine;
  private resultLine = "";
  private workerId = "";
  private taskId = "";
  private firstEventAt: number | undefined;
  private lastEventAt: number | undefined;

  constructor(private readonly o: TaskOutputOptions) {
    this.status = new StatusLine(o.stderr, o.errStyle, o.timers);
    // The spinner goes away for good before the first rendered output reaches the terminal.
    const out: Writer = {
      write: (s: string) => {
        this.status.clear();
        return o.stdout.write(s);
      },
    };
    this.renderer = new TextRenderer(out, { style: o.outStyle, width: o.width });
  }

  /** The status line is shown until the task's first output (pretty format only). */
  waiting(text: string): void {
    if (this.o.format === "pretty" && !this.o.annotate && !this.renderer.started) this.status.set(text);
  }

  event(ev: RunEvent): void {
    this.taskId = ev.taskId || this.taskId;
    const t = ev.time ? Number(ev.time.seconds) * 1000 + ev.time.nanos / 1e6 : undefined;
    if (t !== undefined) {
      this.firstEventAt ??= t;
      this.lastEventAt = t;
    }
    const e = ev.event;
    switch (e.case) {
      case "started":
        this.workerId = e.value.workerId;
        if (this.o.annotate) this.note(`started on worker ${e.value.workerId}${e.value.claudeVersion ? ` (claude ${e.value.claudeVersion.split(" ")[0]})` : ""}${e.value.attempt > 1 ? `, attempt ${e.value.attempt}` : ""}`);
        else this.waiting(`starting claude on worker ${e.value.workerId}…`);
        break;
      case "status":
        if (e.value.phase === Phase.QUEUED) {
          const text = `queued${e.value.queuePosition ? ` (position ${e.value.queuePosition})` : ""}${e.value.detail ? `: ${e.value.detail}` : ""}`;
          if (this.o.annotate) this.note(text);
          else this.waiting(text);
        } else if (e.value.phase === Phase.STARTING) {
          if (this.o.annotate) this.note("starting");
          else this.waiting(`starting${e.value.detail ? `: ${e.value.detail}` : "…"}`);
        }
        break;
      case "message":
        this.message(e.value.type, e.value.subtype, e.value.json);
        break;
      case "output":
        this.output(e.value.stream, e.value.data);
        break;
      case "blocked": {
        // A refused connection is news to whoever watches: on stderr, out of the way of claude's output.
        const text = `blocked ${e.value.host}:${e.value.port}${e.value.command ? ` (${e.value.command})` : ""}: ${e.value.reason}`;
        if (this.o.annotate) this.note(text);
        else if (this.o.format === "pretty") {
          this.status.clear();
          this.o.stderr.write(this.o.errStyle.dim(`⊘ ${text}`) + "\n");
        }
        break;
      }
      case "exited":
        break;
      default:
        break;
    }
  }

  /** Prints what comes at the end (result, summary) and returns the exit code. */
  finish(exited: Exited, interrupted = false): Outcome {
    this.status.clear();
    const outcome = taskOutcome(exited, {
      taskId: this.taskId,
      workerId: this.workerId,
      interrupted,
      ...(this.firstEventAt !== undefined && this.lastEventAt !== undefined ? { elapsedMs: this.lastEventAt - this.firstEventAt } : {}),
    });
    switch (this.o.format) {
      case "pretty":
        this.renderer.finish();
        if (this.o.annotate) this.note(summaryText(outcome.summary, this.o.outStyle).trimEnd().replace(/\n/g, " "));
        else this.o.stderr.write(summaryText(outcome.summary, this.o.errStyle));
        break;
      case "json":
        if (this.resultLine) this.o.stdout.write(jsonResult(this.resultLine) + "\n");
        else this.failureNote(outcome);
        break;
      case "text":
        if (this.resultLine) this.o.stdout.write(textResult(JSON.parse(this.resultLine) as Record<string, unknown>, this.o.limits));
        else this.failureNote(outcome);
        break;
      case "stream-json":
        if (!this.resultLine) this.failureNote(outcome);
        break;
    }
    return outcome;
  }

  /** Stops the spinner without a summary (detach, interrupt, error). */
  stop(): void {
    this.status.clear();
  }

  private failureNote(outcome: Outcome): void {
    if (outcome.summary.ok) return;
    const s = outcome.summary;
    this.o.stderr.write(`cc: task ${s.taskId} ${s.outcome}${s.message ? `: ${s.message}` : ""}\n`);
  }

  private message(type: string, subtype: string, json: string): void {
    if (type === "result") this.resultLine = json;
    switch (this.o.format) {
      case "pretty":
        this.renderer.line(json);
        break;
      case "stream-json": {
        const line = streamJsonLine(json, type, subtype, this.o.includePartials ?? false);
        if (line !== undefined) this.o.stdout.write(line + "\n");
        break;
      }
      default:
        break;
    }
  }

  private output(stream: OutputStream, data: Uint8Array): void {
    if (stream === OutputStream.TERMINAL) {
      // An interactive task's screen, as claude drew it.
      if (this.o.format === "pretty") this.o.stdout.write(Buffer.from(data).toString("utf8"));
      return;
    }
    if (this.o.format !== "pretty") return;
    const text = Buffer.from(data).toString("utf8");
    if (this.o.annotate) {
      this.o.stdout.write(this.o.outStyle.dim(text.endsWith("\n") ? text : text + "\n"));
    } else {
      this.status.clear();
      this.o.stderr.write(this.o.errStyle.dim(text));
    }
  }

  private note(text: string): void {
    this.renderer.finish();
    this.o.stdout.write(this.o.outStyle.dim(`── ${text}`) + "\n");
  }
}
