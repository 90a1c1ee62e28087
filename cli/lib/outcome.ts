// How a task's end maps to what cc reports: the exit code (exit-codes.ts) and the summary line.
import { ExitReason, type Exited } from "../../gen/claudecluster/v1/run_pb.js";
import { ExitCode } from "../exit-codes.js";
import type { Summary } from "./formats.js";

const REASON_WORDS: Record<number, string> = {
  [ExitReason.CANCELLED]: "cancelled",
  [ExitReason.TIMED_OUT]: "timed out",
  [ExitReason.IDLE]: "ended after waiting for input too long",
  [ExitReason.CLIENT_GONE]: "abandoned by its caller",
  [ExitReason.SHUTDOWN]: "stopped: its worker or the router shut down",
  [ExitReason.FAILED]: "failed",
  [ExitReason.OUTPUT_LIMIT]: "stopped: it printed more than one task may",
};

/** claude's result subtypes in words, where its own name is not enough. */
const SUBTYPE_WORDS: Record<string, string> = {
  // --max-budget-usd: the caller's own, or what was left of its budget on the router (`cc usage` shows the spend).
  error_max_budget_usd: "stopped by claude at its budget (--max-budget-usd, or what was left of yours: see `cc usage`)",
};

export interface Outcome {
  exitCode: number;
  summary: Summary;
}

export interface OutcomeContext {
  taskId: string;
  workerId?: string;
  /** The user pressed Ctrl-C and cc cancelled the task. */
  interrupted?: boolean;
  /** Fallback duration when claude reported none (ms between the first and the last event). */
  elapsedMs?: number;
}

export function taskOutcome(exited: Exited, ctx: OutcomeContext): Outcome {
  const result = exited.result;
  let ok = false;
  let outcome: string;
  if (exited.reason === ExitReason.COMPLETED || exited.reason === ExitReason.UNSPECIFIED) {
    ok = exited.exitCode === 0 && !result?.isError;
    if (ok) outcome = "done";
    else if (result?.subtype && result.subtype !== "success") outcome = SUBTYPE_WORDS[result.subtype] ?? result.subtype;
    else if (result?.isError) outcome = "error";
    else outcome = exited.signal ? `claude was ended by ${exited.signal}` : `claude exited with code ${exited.exitCode}`;
  } else {
    outcome = REASON_WORDS[exited.reason] ?? "ended";
  }
  const durationMs = result && result.durationMs > 0n ? Number(result.durationMs) : ctx.elapsedMs;
  const summary: Summary = {
    ok,
    outcome,
    ...(durationMs !== undefined ? { durationMs } : {}),
    ...(result?.numTurns ? { turns: result.numTurns } : {}),
    ...(result?.totalCostUsd ? { costUsd: result.totalCostUsd } : {}),
    ...(result?.sessionId ? { sessionId: result.sessionId } : {}),
    ...(ctx.workerId ? { workerId: ctx.workerId } : {}),
    taskId: ctx.taskId,
    ...(exited.message ? { message: exited.message } : {}),
  };
  const exitCode = ok ? ExitCode.Ok : ctx.interrupted && exited.reason === ExitReason.CANCELLED ? ExitCode.Interrupted : ExitCode.AgentError;
  return { exitCode, summary };
}
