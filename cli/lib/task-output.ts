// Writes a task's events the way the user asked: rendered for people (default), or exactly like
// `claude -p --output-format text|json|stream-json`. In the machine formats nothing but claude's output goes to
// stdout; failures are reported on stderr.
import { StringDecoder } from "node:string_decoder";
import { PermissionDecision, PermissionResolution, type PermissionResolved } from "../../gen/claudecluster/v1/permissions_pb.js";
import type { Exited, RunEvent } from "../../gen/claudecluster/v1/run_pb.js";
import { OutputStream, Phase } from "../../gen/claudecluster/v1/run_pb.js";
import { jsonResult, streamJsonLine, summaryText, textResult, type OutputFormat, type TextLimits } from "./formats.js";
import { taskOutcome, type Outcome } from "./outcome.js";
import { TextRenderer, type Writer } from "./render.js";
import { StatusLine, type StatusStream, type Timers } from "./status-line.js";
import type { Style } from "./style.js";

export type Format = "pretty" | OutputFormat;

/** The structured answer of a --json-schema run, indented for people. */
function structuredOutput(json: string): string {
  try {
    return JSON.stringify(JSON.parse(json), null, 2) + "\n";
  } catch {
    return json + "\n";
  }
}

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
  /**
   * One UTF-8 decoder per output stream: a chunk can end inside a multi-byte character (the worker cuts claude's
   * output by bytes), and the decoder keeps those bytes until the rest arrives instead of printing U+FFFD for each.
   */
  private readonly decoders = new Map<OutputStream, StringDecoder>();

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
          if (this.o.annotate) this.note(e.value.detail || "starting");
          else this.waiting(`starting${e.value.detail ? `: ${e.value.detail}` : "…"}`);
        } else if (e.value.phase === Phase.SETTING_UP) {
          // The environment's setup script: each of its lines, as it prints them.
          if (this.o.annotate) this.note(`setting up: ${e.value.detail}`);
          else this.waiting(`setting up: ${e.value.detail}`);
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
      case "permissionRequest":
        if (this.o.annotate) this.note(`waiting for approval: ${e.value.summary}`);
        break;
      case "permissionResolved":
        if (this.o.annotate) this.note(`${e.value.toolName} ${resolvedWords(e.value)}`);
        break;
      case "exited":
        break;
      default:
        break;
    }
  }

  /** Before cc writes a line of its own (a permission question): no spinner, and the transcript ends its line. */
  interject(): void {
    this.status.clear();
    if (this.o.format === "pretty") this.renderer.finish();
  }

  /** Prints what comes at the end (result, summary) and returns the exit code. */
  finish(exited: Exited, interrupted = false): Outcome {
    // Bytes of a character the stream never completed are printed as U+FFFD, as a terminal would.
    for (const stream of [...this.decoders.keys()]) this.output(stream, new Uint8Array(), true);
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
        // --json-schema: the structured answer is what the caller asked for; it goes to stdout as JSON.
        if (exited.result?.structuredOutputJson) this.o.stdout.write(structuredOutput(exited.result.structuredOutputJson));
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

  private decode(stream: OutputStream, data: Uint8Array, last: boolean): string {
    let decoder = this.decoders.get(stream);
    if (!decoder) this.decoders.set(stream, (decoder = new StringDecoder("utf8")));
    if (!last) return decoder.write(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    this.decoders.delete(stream);
    return decoder.end();
  }

  private output(stream: OutputStream, data: Uint8Array, last = false): void {
    if (this.o.format !== "pretty") return;
    const text = this.decode(stream, data, last);
    if (text === "") return;
    if (stream === OutputStream.TERMINAL) {
      // An interactive task's screen, as claude drew it.
      this.o.stdout.write(text);
      return;
    }
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

/** How a permission request was settled, for `cc logs`. */
export function resolvedWords(r: PermissionResolved): string {
  if (r.resolution === PermissionResolution.TIMED_OUT) return "denied: nobody answered in time";
  if (r.resolution === PermissionResolution.WITHDRAWN) return "withdrawn";
  if (r.decision === PermissionDecision.ALLOW) return "allowed";
  if (r.decision === PermissionDecision.ALLOW_ALWAYS) return "allowed for the rest of the task";
  return r.message ? `denied: ${r.message}` : "denied";
}
