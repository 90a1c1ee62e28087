// A task's permission requests as its page knows them: which wait, which are being answered from this page, and how
// each was settled. Requests come from the task's stream (`permission_request` / `permission_resolved`, in seq
// order, replayed on reload) and from its record (`pending_permissions`, for a page whose stream starts after the
// request was asked, e.g. when the log's start was trimmed); each is kept once, by its request id. Pure (no DOM), so
// it is unit-tested (test/web/permissions-model.test.ts); permission-panel.ts draws it.
import { Code } from "@connectrpc/connect";
import { PermissionDecision, PermissionResolution, type PermissionRequest, type PermissionResolved } from "../../../gen/claudecluster/v1/permissions_pb.js";
import type { RunEvent } from "../../../gen/claudecluster/v1/run_pb.js";

export type RequestState =
  /** Waiting for an answer; `answering` while this page's answer is on its way. */
  | { kind: "waiting"; answering?: PermissionDecision; problem?: string }
  /** Settled, as its `permission_resolved` event (or this page's AnswerPermission) says. */
  | { kind: "settled"; resolved: PermissionResolved; answeredHere: boolean; problem?: string }
  /** No longer waiting, but how it was settled has not reached the page yet (its event comes on the stream). */
  | { kind: "gone"; why: string };

export interface RequestEntry {
  readonly id: string;
  /** The request, unless the page only saw how it was settled (the asking event was trimmed from the log). */
  request: PermissionRequest | undefined;
  toolName: string;
  /** The seq of the event that asked (or of the record that listed it): a record at or past it knows it. */
  seq: bigint;
  state: RequestState;
}

/** Requests kept on the page: the oldest settled ones go first past this (the waiting ones are bounded by the worker). */
const MAX_ENTRIES = 200;

export class PermissionBoard {
  private readonly entries = new Map<string, RequestEntry>();
  private changed = new Set<string>();

  /** In the order they were asked. */
  get all(): RequestEntry[] {
    return [...this.entries.values()];
  }

  get waiting(): RequestEntry[] {
    return this.all.filter((e) => e.state.kind === "waiting");
  }

  get(id: string): RequestEntry | undefined {
    return this.entries.get(id);
  }

  /** The ids whose drawing changed since the last call. */
  takeChanged(): string[] {
    const ids = [...this.changed].filter((id) => this.entries.has(id));
    this.changed = new Set();
    return ids;
  }

  /** One event of the task's stream, in seq order. */
  apply(event: RunEvent): void {
    const e = event.event;
    if (e.case === "permissionRequest") this.asked(e.value, event.seq);
    else if (e.case === "permissionResolved") this.settled(e.value, false);
  }

  /**
   * The task's record: what it lists as pending is added (a request the stream has not shown), and a request the
   * page thinks waits but a record at or past its seq no longer lists was settled somewhere the page did not see yet.
   */
  record(pending: PermissionRequest[], lastSeq: bigint, ended: boolean): void {
    const listed = new Set(pending.map((p) => p.requestId));
    for (const p of pending) this.asked(p, lastSeq);
    for (const entry of this.entries.values()) {
      if (entry.state.kind !== "waiting" || listed.has(entry.id)) continue;
      if (ended || entry.seq <= lastSeq) this.set(entry, { kind: "gone", why: ended ? "The task ended before this request was answered." : "Settled elsewhere." });
    }
  }

  /** This page sent an answer. */
  answering(id: string, decision: PermissionDecision): void {
    const entry = this.entries.get(id);
    if (entry?.state.kind === "waiting") this.set(entry, { kind: "waiting", answering: decision });
  }

  /** AnswerPermission succeeded: the request is settled as it says (its event follows on the stream). */
  answered(resolved: PermissionResolved): void {
    this.settled(resolved, true);
  }

  /** AnswerPermission failed: whether the request can still be answered, and what to tell the person. */
  answerFailed(id: string, code: Code, rawMessage: string, words: string): void {
    const entry = this.entries.get(id);
    if (!entry) return;
    const problem = answerProblem(code, rawMessage, words);
    if (entry.state.kind === "settled") return this.set(entry, { ...entry.state, problem: problem.text });
    if (entry.state.kind === "gone") return;
    this.set(entry, problem.tooLate ? { kind: "gone", why: problem.text } : { kind: "waiting", problem: problem.text });
  }

  /** The task's stream ended: nothing waits any more. */
  ended(): void {
    for (const entry of this.entries.values()) {
      if (entry.state.kind === "waiting") this.set(entry, { kind: "gone", why: "The task ended before this request was answered." });
    }
  }

  private asked(request: PermissionRequest, seq: bigint): void {
    const known = this.entries.get(request.requestId);
    if (known) {
      if (!known.request) {
        known.request = request;
        this.changed.add(known.id);
      }
      return;
    }
    this.add({ id: request.requestId, request, toolName: request.toolName, seq, state: { kind: "waiting" } });
  }

  private settled(resolved: PermissionResolved, answeredHere: boolean): void {
    const entry = this.entries.get(resolved.requestId);
    if (!entry) {
      this.add({ id: resolved.requestId, request: undefined, toolName: resolved.toolName, seq: 0n, state: { kind: "settled", resolved, answeredHere } });
      return;
    }
    // The answer and its event both arrive; whichever comes second keeps that this page answered it.
    const here = answeredHere || (entry.state.kind === "settled" && entry.state.answeredHere) || (entry.state.kind === "waiting" && entry.state.answering !== undefined && sameAnswer(entry.state.answering, resolved));
    this.set(entry, { kind: "settled", resolved, answeredHere: here });
  }

  private add(entry: RequestEntry): void {
    this.entries.set(entry.id, entry);
    this.changed.add(entry.id);
    if (this.entries.size <= MAX_ENTRIES) return;
    for (const old of this.entries.values()) {
      if (old.state.kind !== "waiting") {
        this.entries.delete(old.id);
        break;
      }
    }
  }

  private set(entry: RequestEntry, state: RequestState): void {
    entry.state = state;
    this.changed.add(entry.id);
  }
}

function sameAnswer(decision: PermissionDecision, resolved: PermissionResolved): boolean {
  return resolved.resolution === PermissionResolution.ANSWERED && resolved.decision === decision;
}

/** How a settled request reads: a word for its outcome, and the detail. */
export function outcome(resolved: PermissionResolved, answeredHere: boolean): { kind: "allowed" | "denied" | "timed-out" | "withdrawn"; label: string; detail: string } {
  const by = answeredHere ? " by you" : "";
  if (resolved.resolution === PermissionResolution.TIMED_OUT) {
    return { kind: "timed-out", label: "Timed out, denied", detail: resolved.message ? `claude was told: “${resolved.message}”` : "Nobody answered in time, so claude was told no." };
  }
  if (resolved.resolution === PermissionResolution.WITHDRAWN) {
    return { kind: "withdrawn", label: "Withdrawn", detail: resolved.message ? sentence(resolved.message) : "claude stopped waiting for an answer." };
  }
  switch (resolved.decision) {
    case PermissionDecision.ALLOW:
      return { kind: "allowed", label: `Allowed${by}`, detail: "" };
    case PermissionDecision.ALLOW_ALWAYS:
      return { kind: "allowed", label: `Always allowed${by}`, detail: `claude may use ${resolved.toolName || "this tool"} for the rest of the task without asking.` };
    default:
      return { kind: "denied", label: `Denied${by}`, detail: resolved.message ? `claude was told: “${resolved.message}”` : "" };
  }
}

/**
 * What to say when AnswerPermission fails, and whether the request is past answering. The worker is the judge of a
 * request: FAILED_PRECONDITION and NOT_FOUND mean it no longer waits (another viewer answered, it timed out, claude
 * withdrew it, the task ended); anything else (the router unreachable, a refused token) may be tried again.
 * `words` is the page's description of the error for the rest (api.ts · describeError).
 */
export function answerProblem(code: Code, rawMessage: string, words: string): { text: string; tooLate: boolean } {
  if (code === Code.FailedPrecondition || code === Code.NotFound) {
    const answered = /was already answered \(([^)]*)\)/.exec(rawMessage);
    if (answered) return { text: `Someone else answered first: ${answered[1]}.`, tooLate: true };
    if (/timed out/.test(rawMessage)) return { text: "Too late: nobody answered in time, so claude was told no.", tooLate: true };
    if (/was withdrawn/.test(rawMessage)) return { text: "Too late: claude withdrew this request.", tooLate: true };
    if (/has ended/.test(rawMessage)) return { text: "Too late: the task has ended.", tooLate: true };
    if (/not waiting for approval/.test(rawMessage)) return { text: "Too late: the task no longer waits for this answer.", tooLate: true };
    return { text: `This request can no longer be answered: ${rawMessage}`, tooLate: true };
  }
  return { text: `Not answered: ${words}`, tooLate: false };
}

function sentence(text: string): string {
  const t = text.charAt(0).toUpperCase() + text.slice(1);
  return /[.!?]$/.test(t) ? t : `${t}.`;
}

/** Seconds as "9m 58s" or "45s", for the time left to answer. */
export function timeLeft(ms: number): string {
  const s = Math.max(0, Math.ceil(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, "0")}m`;
}
