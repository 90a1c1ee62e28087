// The router's sessions: the bounded store, and the hand-off of a transcript from the worker a task ended on to the
// request of a task that resumes its session, with each refusal's code and message.
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { ExitReason, RunRequestSchema, SessionTranscriptSchema } from "../../../gen/claudecluster/v1/run_pb.js";
import { silentLogger } from "../../common/logger.js";
import { MemoryTaskStore } from "../store/memory.js";
import { TaskEntry, Tasks } from "../tasks.js";
import type { WorkerEntry } from "../registry.js";
import { earlierTask, MemorySessionStore, SessionHandoff } from "./index.js";

const bytes = (n: number) => new Uint8Array(n);
type RequestInit = MessageInitShape<typeof RunRequestSchema>;
const SESSION = "5b1f0c3e-0000-4000-8000-000000000001";
const LOG = { maxBytes: 1024 * 1024, maxLagBytes: 1024 * 1024, stallMs: 30_000 };

describe("the memory session store", () => {
  it("keeps the latest transcript of a session and lets the oldest go past the count and the bytes", () => {
    const store = new MemorySessionStore({ maxSessions: 2, maxBytes: 100 });
    store.put({ sessionId: "a", taskId: "t1", transcript: bytes(10) });
    store.put({ sessionId: "a", taskId: "t2", transcript: bytes(20) });
    expect(store.get("a")).toMatchObject({ taskId: "t2" });
    expect([store.count, store.bytes]).toEqual([1, 20]);
    store.put({ sessionId: "b", taskId: "t3", transcript: bytes(30) });
    store.put({ sessionId: "c", taskId: "t4", transcript: bytes(40) });
    expect([store.get("a"), store.count, store.bytes]).toEqual([undefined, 2, 70]);
    store.put({ sessionId: "d", taskId: "t5", transcript: bytes(60) });
    expect([store.get("b"), store.get("c")?.taskId, store.get("d")?.taskId, store.bytes]).toEqual([undefined, "t4", "t5", 100]);
  });

  it("does not keep one transcript larger than all it may hold, and says why", () => {
    const store = new MemorySessionStore({ maxSessions: 10, maxBytes: 100 });
    store.put({ sessionId: "a", taskId: "t1", transcript: bytes(10) });
    store.put({ sessionId: "big", taskId: "t2", transcript: bytes(101) });
    expect(store.get("a")?.transcript?.length).toBe(10);
    expect(store.get("big")).toEqual({ sessionId: "big", taskId: "t2", refused: "it is 101 bytes, more than the router keeps of all sessions together (CC_SESSIONS_BYTES, 100)" });
    expect(store.bytes).toBe(10);
  });
});

describe("the session hand-off", () => {
  function setup(answer: (sessionId: string, maxBytes: bigint) => Uint8Array | ConnectError) {
    // Ended tasks are let go of once stored, so a continuation finds the earlier task in the task store.
    const taskStore = new MemoryTaskStore();
    const tasks = new Tasks(taskStore, { retention: { tasks: 100, ageMs: 3_600_000, logBytes: 1024 * 1024 }, log: LOG });
    const store = new MemorySessionStore({ maxSessions: 10, maxBytes: 1024 * 1024 });
    const handoff = new SessionHandoff({ store, task: (id) => earlierTask(tasks, id), maxTranscriptBytes: 1000, logger: silentLogger() });
    const asked: string[] = [];
    const worker = {
      id: "w1",
      client: {
        getTranscript: async (req: { sessionId: string; maxBytes: bigint }) => {
          asked.push(`${req.sessionId} ${req.maxBytes}`);
          const a = answer(req.sessionId, req.maxBytes);
          if (a instanceof ConnectError) throw a;
          return { transcript: create(SessionTranscriptSchema, { sessionId: req.sessionId, jsonl: a }) };
        },
      },
    } as unknown as WorkerEntry;
    async function ranTask(id: string, init: RequestInit = {}): Promise<TaskEntry> {
      const entry = new TaskEntry(id, create(RunRequestSchema, { prompt: "first", ...init }), LOG, { store: taskStore });
      await tasks.add(entry);
      handoff.follow(entry);
      entry.worker = worker;
      entry.record.workerId = "w1";
      return entry;
    }
    const end = (entry: TaskEntry, sessionId = SESSION) => entry.end({ exitCode: 0, reason: ExitReason.COMPLETED, ...(sessionId ? { result: { sessionId } } : {}) });
    const continuing = (taskId: string, init: RequestInit = {}) => create(RunRequestSchema, { prompt: "next", continueTaskId: taskId, ...init });
    return { handoff, store, asked, ranTask, end, continuing };
  }

  const refusal = async (p: Promise<unknown>) => {
    const err = await p.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ConnectError);
    return { code: Code[(err as ConnectError).code], message: (err as ConnectError).rawMessage };
  };

  it("fetches the session's transcript when its task ends, and sends it with the task that continues it, in the same --cwd", async () => {
    const { handoff, asked, ranTask, end, continuing } = setup(() => new TextEncoder().encode('{"type":"user"}\n'));
    const first = await ranTask("t1", { workspace: { source: { case: "directory", value: "proj" } } });
    end(first);
    const req = continuing("t1");
    await handoff.prepare(req);
    expect(asked).toEqual([`${SESSION} 1000`]);
    expect(req.agent?.resumeSessionId).toBe(SESSION);
    expect(req.workspace?.source).toEqual({ case: "directory", value: "proj" });
    // Not pinned: any worker may run it.
    expect(req.workerId).toBe("");
    const sent = handoff.forWorker(req);
    expect(new TextDecoder().decode(sent.resumeTranscript?.jsonl)).toBe('{"type":"user"}\n');
    expect(sent.resumeTranscript?.sessionId).toBe(SESSION);
    // `--resume SESSION` without a worker gets it too.
    const resumed = create(RunRequestSchema, { prompt: "again", agent: { resumeSessionId: SESSION } });
    await handoff.prepare(resumed);
    expect(handoff.forWorker(resumed).resumeTranscript?.sessionId).toBe(SESSION);
  });

  it("continues a repository task from the branch it pushed", async () => {
    const { handoff, ranTask, continuing } = setup(() => bytes(3));
    const first = await ranTask("t1", { workspace: { source: { case: "repository", value: { url: "https://git.example/r.git", ref: "main" } } } });
    first.end({ exitCode: 0, reason: ExitReason.COMPLETED, result: { sessionId: SESSION }, changes: { push: { url: "https://git.example/r.git", branch: "cc/t1", commit: "abc" } } });
    const req = continuing("t1");
    await handoff.prepare(req);
    expect(req.workspace?.source).toMatchObject({ case: "repository", value: { url: "https://git.example/r.git", ref: "cc/t1" } });
  });

  it("refuses an unknown task, a running one, one with no session, another session, a transcript over the bound, and a client's own transcript", async () => {
    const { handoff, ranTask, end, continuing } = setup((id) => (id === "0big" ? new ConnectError("too big", Code.ResourceExhausted) : bytes(1)));
    expect(await refusal(handoff.prepare(continuing("nosuch")))).toEqual({ code: "NotFound", message: "task nosuch not found; list tasks with `cc ps --all`; ended tasks are kept only for a while" });
    const running = await ranTask("t1");
    expect(await refusal(handoff.prepare(continuing("t1")))).toEqual({
      code: "FailedPrecondition",
      message: "task t1 is still running; continue it once it has ended (`cc wait t1`), or cancel it first (`cc cancel t1`)",
    });
    end(running);
    const never = await ranTask("t2");
    never.end({ exitCode: -1, reason: ExitReason.CANCELLED });
    expect(await refusal(handoff.prepare(continuing("t2")))).toEqual({
      code: "FailedPrecondition",
      message: "task t2 has no claude session to continue: it cancelled before claude started one; start a new task with `cc run`",
    });
    expect(await refusal(handoff.prepare(continuing("t1", { agent: { resumeSessionId: "other" } })))).toEqual({
      code: "InvalidArgument",
      message: `agent.resume_session_id: names session other, but task t1 ran session ${SESSION}; give one of the two`,
    });
    end(await ranTask("t3"), "0big");
    expect(await refusal(handoff.prepare(continuing("t3")))).toEqual({
      code: "ResourceExhausted",
      message: "task t3's session 0big can continue only on worker w1, which has its transcript: the router did not keep it, as it is larger than the router keeps (CC_MAX_TRANSCRIPT_BYTES, 1000 bytes); add --worker w1",
    });
    // On that worker it may.
    const there = continuing("t3", { workerId: "w1" });
    await handoff.prepare(there);
    expect([there.agent?.resumeSessionId, handoff.forWorker(there)]).toEqual(["0big", {}]);
    const forged = create(RunRequestSchema, { prompt: "x", agent: { resumeSessionId: SESSION }, resumeTranscript: { sessionId: SESSION, jsonl: bytes(1) } });
    expect(await refusal(handoff.prepare(forged))).toMatchObject({ code: "InvalidArgument" });
  });

  it("a transcript the worker could not hand over: the task continues on the worker it ran on", async () => {
    const { handoff, ranTask, end, continuing } = setup(() => new ConnectError("connection refused", Code.Unavailable));
    end(await ranTask("t1"));
    const req = continuing("t1");
    await handoff.prepare(req);
    expect([req.workerId, req.agent?.resumeSessionId, handoff.forWorker(req)]).toEqual(["w1", SESSION, {}]);
  });
});
