// Answers a task's permission requests for `cc run` and `cc attach`. A call an --approve rule covers is allowed at
// once; otherwise, on a terminal, the person is asked
//   Allow Bash(rm -rf build)? [y]es / [n]o / [a]lways
// one request at a time, while the task's events keep streaming; without a terminal the call is denied with a note
// that says how to allow it. A request settled elsewhere (another viewer, the MCP server, the worker's timeout)
// takes its question off the screen.
import { Code, ConnectError } from "@connectrpc/connect";
import { PermissionDecision, PermissionResolution, type PermissionRequest, type PermissionResolved } from "../../gen/claudecluster/v1/permissions_pb.js";
import type { RunEvent } from "../../gen/claudecluster/v1/run_pb.js";
import { approvingRule, suggestedRule, type ApproveRule } from "./approve-rules.js";
import type { RouterClient } from "./client.js";
import type { Style } from "./style.js";

/** A place to ask a person one question: the answer typed, or undefined once `signal` aborts. */
export interface Question {
  ask(text: string, signal: AbortSignal): Promise<string | undefined>;
}

export interface PermissionPrompterOptions {
  client: Pick<RouterClient, "answerPermission">;
  rules: readonly ApproveRule[];
  /** Where to ask; absent when there is no terminal. */
  question?: Question;
  /** With no question to ask: deny (`cc run`), or leave the request to others and say so (`cc attach`). */
  otherwise: "deny" | "leave";
  /** The task does not ask (claude refuses by itself): say what it refused, from its result's permission_denials. */
  noteRefusals?: boolean;
  stderr: { write(s: string): unknown };
  style: Style;
  /** Called before cc writes a line of its own: clears the spinner and ends a half-printed line. */
  interject(): void;
  /**
   * Attaching: events up to `untilSeq` are the replay, and of the requests in it only those still `pending` (the
   * task's record says) are asked again.
   */
  replay?: { untilSeq: bigint; pending: ReadonlySet<string> };
}

type Reply = PermissionDecision.ALLOW | PermissionDecision.DENY | PermissionDecision.ALLOW_ALWAYS;

/** y, yes, n, no, a, always (any case); anything else is asked again. */
export function parseReply(text: string): Reply | undefined {
  switch (text.trim().toLowerCase()) {
    case "y":
    case "yes":
      return PermissionDecision.ALLOW;
    case "n":
    case "no":
      return PermissionDecision.DENY;
    case "a":
    case "always":
      return PermissionDecision.ALLOW_ALWAYS;
    default:
      return undefined;
  }
}

interface Waiting {
  taskId: string;
  request: PermissionRequest;
}

export class PermissionPrompter {
  private readonly queue: Waiting[] = [];
  private current: { requestId: string; abort: AbortController } | undefined;
  /** Requests this cc answered, so their resolution is not reported as someone else's. */
  private readonly answeredHere = new Set<string>();
  /** Requests left to others with a note: how they were settled is reported too. */
  private readonly leftToOthers = new Set<string>();
  private readonly inFlight = new Set<Promise<void>>();
  private closed = false;

  constructor(private readonly o: PermissionPrompterOptions) {}

  /** Sees every event of the task, in order. */
  event(ev: RunEvent): void {
    if (this.closed) return;
    const e = ev.event;
    if (e.case === "message" && e.value.type === "result" && this.o.noteRefusals) this.refusals(e.value.json);
    if (e.case === "permissionRequest") {
      const replay = this.o.replay;
      if (replay && ev.seq <= replay.untilSeq && !replay.pending.has(e.value.requestId)) return;
      this.request(ev.taskId, e.value);
    } else if (e.case === "permissionResolved") {
      this.resolved(e.value);
    }
  }

  /** Waits for answers being sent; then nothing more is asked or answered. */
  async close(): Promise<void> {
    this.closed = true;
    this.current?.abort.abort();
    this.queue.length = 0;
    await Promise.all([...this.inFlight]);
  }

  private request(taskId: string, request: PermissionRequest): void {
    const input = parseInput(request.inputJson);
    const rule = approvingRule(this.o.rules, request.toolName, input);
    if (rule) {
      this.note(`cc: allowed ${request.summary} (--approve ${rule.text})`);
      this.send(taskId, request, PermissionDecision.ALLOW);
      return;
    }
    if (!this.o.question && this.o.otherwise === "leave") {
      this.note(`cc: task ${taskId} waits for approval of ${request.summary}; answer it from a terminal with \`cc attach ${taskId}\``);
      this.leftToOthers.add(request.requestId);
      return;
    }
    if (!this.o.question) {
      const allow = suggestedRule(request.toolName, input);
      this.note(`cc: denied ${request.summary}: there is no terminal to ask on; \`--approve '${allow}'\` (or --allowed-tools) would allow it`);
      this.send(taskId, request, PermissionDecision.DENY, `cc denied this call: it had no terminal to ask the user on. The user can allow such calls with --approve '${allow}'.`);
      return;
    }
    this.queue.push({ taskId, request });
    this.next();
  }

  /** claude refused calls by itself (no one to ask): one note each, saying how to allow them next time. */
  private refusals(resultJson: string): void {
    let denials: unknown;
    try {
      denials = (JSON.parse(resultJson) as { permission_denials?: unknown }).permission_denials;
    } catch {
      return;
    }
    if (!Array.isArray(denials)) return;
    for (const d of denials.slice(0, 20) as { tool_name?: unknown; tool_input?: unknown }[]) {
      const tool = typeof d.tool_name === "string" ? d.tool_name : "";
      if (!tool) continue;
      const rule = suggestedRule(tool, d.tool_input);
      this.note(`cc: claude was not allowed ${rule}: run cc on a terminal to be asked, or allow it with \`--approve '${rule}'\` or --allowed-tools`);
    }
  }

  private resolved(resolved: PermissionResolved): void {
    const index = this.queue.findIndex((w) => w.request.requestId === resolved.requestId);
    if (index >= 0) this.queue.splice(index, 1);
    if (this.answeredHere.delete(resolved.requestId)) return;
    const shown = this.current?.requestId === resolved.requestId;
    if (shown) this.current!.abort.abort();
    const announced = this.leftToOthers.delete(resolved.requestId);
    if (shown || announced || resolved.resolution === PermissionResolution.TIMED_OUT) this.note(`cc: ${resolved.toolName} ${settledWords(resolved)}`);
  }

  /** Asks about the first waiting request, unless a question is on screen. */
  private next(): void {
    if (this.current || this.closed) return;
    const waiting = this.queue.shift();
    if (!waiting) return;
    const abort = new AbortController();
    this.current = { requestId: waiting.request.requestId, abort };
    const asking = this.askAbout(waiting, abort.signal).finally(() => {
      this.current = undefined;
      this.next();
    });
    this.track(asking);
  }

  private async askAbout(w: Waiting, signal: AbortSignal): Promise<void> {
    const style = this.o.style;
    this.o.interject();
    if (w.request.reason) this.o.stderr.write(style.dim(`  ${w.request.reason}\n`));
    let text = `${style.bold(`Allow ${w.request.summary}?`)} [y]es / [n]o / [a]lways `;
    for (;;) {
      const typed = await this.o.question!.ask(text, signal);
      if (typed === undefined || signal.aborted) return;
      const reply = parseReply(typed);
      if (reply !== undefined) return this.answer(w.taskId, w.request, reply);
      text = `Please answer y (allow this call), n (deny it) or a (allow ${w.request.toolName} for the rest of the task): `;
    }
  }

  private send(taskId: string, request: PermissionRequest, decision: Reply, message = ""): void {
    this.track(this.answer(taskId, request, decision, message));
  }

  private async answer(taskId: string, request: PermissionRequest, decision: Reply, message = ""): Promise<void> {
    this.answeredHere.add(request.requestId);
    try {
      await this.o.client.answerPermission({ taskId, requestId: request.requestId, decision, message });
    } catch (err) {
      this.answeredHere.delete(request.requestId);
      const e = ConnectError.from(err);
      // Someone else was quicker, or the task ended: its resolution says what happened.
      if (e.code === Code.FailedPrecondition || e.code === Code.NotFound) return;
      this.note(`cc: could not answer for ${request.summary}: ${e.rawMessage}`);
    }
  }

  private note(text: string): void {
    this.o.interject();
    this.o.stderr.write(this.o.style.dim(text) + "\n");
  }

  private track(p: Promise<void>): void {
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
  }
}

function parseInput(json: string): unknown {
  try {
    return JSON.parse(json);
  } catch {
    return {};
  }
}

function settledWords(r: PermissionResolved): string {
  if (r.resolution === PermissionResolution.TIMED_OUT) return "was denied: nobody answered in time";
  if (r.resolution === PermissionResolution.WITHDRAWN) return "is no longer waiting (withdrawn)";
  switch (r.decision) {
    case PermissionDecision.ALLOW:
      return "was allowed elsewhere";
    case PermissionDecision.ALLOW_ALWAYS:
      return "was allowed elsewhere, for the rest of the task";
    default:
      return "was denied elsewhere";
  }
}
