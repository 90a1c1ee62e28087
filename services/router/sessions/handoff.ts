// Sessions continue anywhere. When a task ends, its claude session's transcript is fetched from the worker it ran
// on (GetTranscript, bounded) and kept here with the task's session id. A later Run that resumes the session
// (`agent.resume_session_id`, or `continue_task_id`: the session of an ended task) gets the transcript sent along
// to whichever worker runs it (RunRequest.resume_transcript), which places it into the task's claude configuration
// before claude starts. Sessions are one owner's: until the router knows identities (issue 21), everyone holding
// the router's client token is that owner.
import type { Identity } from "../identity/index.js";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { AgentOptionsSchema, type RunRequest, type SessionTranscript, SessionTranscriptSchema, type Workspace, WorkspaceSchema } from "../../../gen/claudecluster/v1/run_pb.js";
import { TaskStatus } from "../../../gen/claudecluster/v1/router_pb.js";
import { describe, failedPrecondition, invalidArgument, resourceExhausted } from "../../common/errors.js";
import type { Logger } from "../../common/logger.js";
import type { TaskEntry, Tasks } from "../tasks.js";
import { carryChanges, type CarryDeps, type EarlierTask } from "./carry-changes.js";
import type { SessionStore } from "./store.js";

/** Longest the router waits for a worker to hand over a transcript. */
const FETCH_TIMEOUT_MS = 30_000;

export interface SessionHandoffDeps {
  store: SessionStore;
  /** A task by id, run here or kept in the store (NOT_FOUND for an unknown one): see earlierTask. */
  task: (taskId: string, caller?: Identity) => Promise<EarlierTask>;
  /** The largest transcript kept (CC_MAX_TRANSCRIPT_BYTES). */
  maxTranscriptBytes: number;
  logger: Logger;
  /** How a continued task gets the earlier task's recorded changes on its worker; without it, the same ref. */
  carry?: CarryDeps;
}

export class SessionHandoff {
  /** Transcripts being fetched, by session id: a Run resuming the session waits for its transcript. */
  private readonly fetching = new Map<string, Promise<void>>();
  /** The transcript each resuming task's request takes to its worker, until the task ends. */
  private readonly attached = new WeakMap<RunRequest, SessionTranscript>();
  /** Tasks followed already (a Run repeating a request id gets the same task). */
  private readonly followed = new WeakSet<TaskEntry>();

  constructor(private readonly deps: SessionHandoffDeps) {}

  /**
   * Readies a Run's request before it is submitted: resolves `continue_task_id` (the session, and the same
   * workspace when none is given) and finds the transcript of the session it resumes. Throws the Connect error a
   * caller should see: NOT_FOUND, FAILED_PRECONDITION, RESOURCE_EXHAUSTED, INVALID_ARGUMENT.
   */
  async prepare(req: RunRequest, caller?: Identity): Promise<void> {
    if (req.resumeTranscript) throw invalidArgument("resume_transcript", "is set by the router; resume with agent.resume_session_id or continue_task_id");
    if (req.continueTaskId) await this.continueFrom(req, caller);
    const sessionId = req.agent?.resumeSessionId ?? "";
    if (!sessionId) return;
    await this.fetching.get(sessionId);
    const kept = this.deps.store.get(sessionId);
    // Another's session is not the caller's to resume: NOT_FOUND, as for the task it came from (identity/).
    if (kept && caller?.role === "user") await this.deps.task(kept.taskId, caller);
    if (kept?.transcript) this.attached.set(req, create(SessionTranscriptSchema, { sessionId, jsonl: kept.transcript }));
  }

  /** Fields of the request as it goes to a worker: the transcript of the session it resumes, if the router has it. */
  forWorker(req: RunRequest): Pick<RunRequest, "resumeTranscript"> | Record<string, never> {
    const transcript = this.attached.get(req);
    return transcript ? { resumeTranscript: transcript } : {};
  }

  /** Once `entry` ends, its session's transcript is fetched from its worker and kept. */
  follow(entry: TaskEntry): void {
    if (this.followed.has(entry)) return;
    this.followed.add(entry);
    entry.onEnd(() => {
      this.attached.delete(entry.request);
      const sessionId = entry.record.exit?.result?.sessionId ?? "";
      const worker = entry.worker;
      if (!sessionId || !worker) return;
      const done = this.fetch(entry.id, sessionId, worker.client).finally(() => {
        if (this.fetching.get(sessionId) === done) this.fetching.delete(sessionId);
      });
      this.fetching.set(sessionId, done);
    });
  }

  private async fetch(taskId: string, sessionId: string, client: { getTranscript: (req: { sessionId: string; maxBytes: bigint }, options: { signal: AbortSignal }) => Promise<{ transcript?: SessionTranscript | undefined }> }): Promise<void> {
    const { store, maxTranscriptBytes, logger } = this.deps;
    try {
      const answer = await client.getTranscript({ sessionId, maxBytes: BigInt(maxTranscriptBytes) }, { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
      const jsonl = answer.transcript?.jsonl;
      if (!jsonl || jsonl.length > maxTranscriptBytes) return;
      store.put({ sessionId, taskId, transcript: jsonl });
    } catch (err) {
      const code = err instanceof ConnectError ? err.code : undefined;
      if (code === Code.ResourceExhausted) {
        store.put({ sessionId, taskId, refused: `it is larger than the router keeps (CC_MAX_TRANSCRIPT_BYTES, ${maxTranscriptBytes} bytes)` });
      } else if (code !== Code.NotFound) {
        logger.warn({ taskId, sessionId, err: describe(err) }, "could not fetch the transcript of a task's session from its worker");
      }
    }
  }

  private async continueFrom(req: RunRequest, caller?: Identity): Promise<void> {
    const id = req.continueTaskId;
    const earlier = await this.deps.task(id, caller);
    if (!earlier.ended) {
      throw failedPrecondition(`task ${id} is still running; continue it once it has ended (\`cc wait ${id}\`), or cancel it first (\`cc cancel ${id}\`)`);
    }
    const sessionId = earlier.record.exit?.result?.sessionId ?? "";
    if (!sessionId) {
      const how = TaskStatus[earlier.record.status]?.toLowerCase() ?? "ended";
      throw failedPrecondition(`task ${id} has no claude session to continue: it ${how} before claude started one; start a new task with \`cc run\``);
    }
    if (req.agent?.resumeSessionId && req.agent.resumeSessionId !== sessionId) {
      throw invalidArgument("agent.resume_session_id", `names session ${req.agent.resumeSessionId}, but task ${id} ran session ${sessionId}; give one of the two`);
    }
    req.agent ??= create(AgentOptionsSchema);
    req.agent.resumeSessionId = sessionId;
    await this.fetching.get(sessionId);
    const kept = this.deps.store.get(sessionId);
    // No transcript here (the worker could not be reached when the task ended, or the store let it go): the worker
    // the task ran on still has its own copy, so the session continues there.
    const ranOn = earlier.record.workerId;
    if (!kept && !req.workerId && ranOn) req.workerId = ranOn;
    // Too large to keep: only the worker it ran on has it.
    if (kept?.refused && req.workerId !== ranOn) {
      throw resourceExhausted(
        `task ${id}'s session ${sessionId} can continue only on worker ${ranOn}, which has its transcript: the router did not keep it, as ${kept.refused}; add --worker ${ranOn}`,
      );
    }
    if (!req.workspace) {
      const workspace = (this.deps.carry && (await carryChanges(this.deps.carry, earlier, req))) || sameWorkspace(earlier);
      if (workspace) req.workspace = workspace;
    }
  }
}

/**
 * Where a continued task works when its request names no workspace and the earlier task's changes could not be
 * carried (carry-changes.ts): the same `--cwd` directory, or the same repository at the branch the earlier task
 * pushed (else at the same ref). An upload's workspace is not rebuilt (a fresh directory instead).
 */
function sameWorkspace(earlier: EarlierTask): Workspace | undefined {
  const source = earlier.request.workspace?.source;
  if (source?.case === "directory") return create(WorkspaceSchema, { source: { case: "directory", value: source.value } });
  if (source?.case === "repository") {
    const pushed = earlier.record.exit?.changes?.push;
    const ref = pushed?.branch && !pushed.error ? pushed.branch : source.value.ref;
    return create(WorkspaceSchema, { source: { case: "repository", value: { url: source.value.url, ref, token: source.value.token } } });
  }
  return undefined;
}

/**
 * The task a continuation names: this router's own while it runs, else the store's record and request (an ended
 * task is let go of once stored; with a shared store it may have run on another router).
 */
export async function earlierTask(tasks: Tasks, taskId: string, caller?: Identity): Promise<EarlierTask> {
  const found = await tasks.find(taskId, caller);
  if (found.entry) return found.entry;
  const { record, request } = found.stored;
  return { id: taskId, ended: record.exit !== undefined, record, request };
}
