// The router with three real worker processes running the real claude against the scripted model: placement,
// queueing, re-attach, slow subscribers, worker failures before and after start, cancel, and 50 tasks at once.
import { mkdtempSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RouterService, TaskStatus, WorkerHealth } from "../../gen/claudecluster/v1/router_pb.js";
import { ExitReason, Phase, type RunEvent } from "../../gen/claudecluster/v1/run_pb.js";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { RunRequestSchema } from "../../gen/claudecluster/v1/run_pb.js";
import { silentLogger } from "../../services/common/logger.js";
import { createRouter, type Router } from "../../services/router/server.js";
import { readRouterSettings } from "../../services/router/settings.js";
import type { Script, ScriptedModel } from "../../services/scripted-model/index.js";
import { modelEnv, startModel } from "../helpers/model.js";
import { leftoverProcesses, processesUnder, waitForNoProcessesUnder } from "../helpers/processes.js";
import { until } from "../helpers/wait.js";
import { collect, ofCase } from "../helpers/worker.js";
import { spawnWorkerProcess, type WorkerProcess } from "../helpers/worker-process.js";

type Req = MessageInitShape<typeof RunRequestSchema>;
const ALLOW_BASH = { allowedTools: ["Bash"] };
const hang: Script = { conversations: [{ match: "hang", turns: [{ content: [{ type: "tool_use", name: "Bash", input: { command: "tail -f /dev/null", description: "Wait" } }] }] }] };
const slow = (ms: number): Script["conversations"][number] => ({ match: "slow", turns: [{ delayMs: ms, content: [{ type: "text", text: "slow answer to {{prompt}}" }] }] });
// About 1,800 small deltas, one per millisecond or so: a steady stream a live reader keeps up with.
const big = { match: "big", turns: [{ delayMs: 1500, chunkDelayMs: 1, content: [{ type: "text" as const, text: "lorem ipsum dolor sit amet ".repeat(1600) }] }] };
const echo = { turns: [{ content: [{ type: "text" as const, text: "answer to {{prompt}}" }] }] };

describe("router with three worker processes", () => {
  let model: ScriptedModel;
  let router: Router;
  let client: Client<typeof RouterService>;
  let root: string;
  const workers = new Map<string, WorkerProcess>();

  function workerEnv(id: string, url: string): Record<string, string> {
    return {
      ...modelEnv(model),
      CC_ROUTER_URL: url,
      CC_MAX_SESSIONS: "4",
      CC_CLAUDE_HOME: join(root, "home"),
      CC_WORKSPACE_ROOT: join(root, `ws-${id}`),
      CC_KILL_GRACE: "2s",
    };
  }
  async function startWorker(id: string): Promise<void> {
    workers.set(id, await spawnWorkerProcess(id, workerEnv(id, routerUrl())));
    await until(() => router.registry.list().some((w) => w.id === id && router.registry.health(w) === WorkerHealth.ONLINE));
  }
  const routerUrl = () => `http://127.0.0.1:${router.server.port()}`;
  const run = (req: Req) => collect(client.run(req));

  beforeAll(async () => {
    root = realpathSync(mkdtempSync(join(tmpdir(), "cc-test-router-")));
    model = await startModel({ conversations: [hang.conversations[0]!, slow(1500), big, echo] });
    router = createRouter(
      readRouterSettings({ CC_STORE: "memory",
        PORT: "0",
        CC_HOST: "127.0.0.1",
        CC_HEARTBEAT_INTERVAL: "500ms",
        CC_OFFLINE_AFTER: "3s",
        // A worker killed mid-task is waited for this long to come back before its task fails.
        CC_REATTACH_WAIT: "2s",
        CC_CALLER_GRACE: "2s",
        CC_SUBSCRIBER_LAG_BYTES: "262144",
        CC_SUBSCRIBER_STALL: "2s",
        CC_LOG_LEVEL: "silent",
      }),
      { logger: silentLogger() },
    );
    await router.listen();
    client = createClient(RouterService, createGrpcTransport({ baseUrl: routerUrl() }));
    await Promise.all(["w1", "w2", "w3"].map(startWorker));
  });

  afterAll(async () => {
    await router?.shutdown(0);
    for (const w of workers.values()) w.child.kill("SIGTERM");
    await Promise.all([...workers.values()].map((w) => w.exited));
    await model?.close();
    const left = await waitForNoProcessesUnder(root);
    rmSync(root, { recursive: true, force: true });
    expect(left).toEqual([]);
  });

  it("spreads concurrent tasks across workers by load", async () => {
    const results = await Promise.all([1, 2, 3].map((i) => run({ prompt: `slow ${i}` })));
    const placed = results.map((events) => ofCase(events, "started")[0]!.workerId);
    expect(new Set(placed)).toEqual(new Set(["w1", "w2", "w3"]));
    for (const events of results) expect(ofCase(events, "exited")[0]).toMatchObject({ exitCode: 0, reason: ExitReason.COMPLETED });
  });

  it("honours a named target worker", async () => {
    for (const target of ["w2", "w3", "w2"]) {
      const events = await run({ prompt: "hello", workerId: target });
      expect(ofCase(events, "started")[0]!.workerId).toBe(target);
    }
  });

  it("answers an unknown target with NOT_FOUND", async () => {
    const err = await run({ prompt: "hello", workerId: "nope" }).catch((e: unknown) => e);
    expect((err as ConnectError).code).toBe(Code.NotFound);
    expect((err as ConnectError).rawMessage).toBe("worker nope not found; list workers with `cc workers`");
  });

  it("queues tasks when every slot is full, reports positions, then runs them all", async () => {
    const results = await Promise.all(Array.from({ length: 15 }, (_, i) => run({ prompt: `slow q${i}` })));
    const queued = results.filter((events) => ofCase(events, "status").some((s) => s.phase === Phase.QUEUED));
    expect(queued.length).toBe(3);
    for (const events of queued) {
      const first = ofCase(events, "status").find((s) => s.phase === Phase.QUEUED)!;
      expect(first.queuePosition).toBeGreaterThanOrEqual(1);
      expect(events[0]!.event.case).toBe("status");
    }
    for (const events of results) {
      expect(events.map((e) => Number(e.seq))).toEqual(events.map((_, i) => i + 1));
      expect(ofCase(events, "exited")[0]?.exitCode).toBe(0);
    }
  });

  it("replays a finished task on attach, identical to the original stream", async () => {
    const original = await run({ prompt: "replay me" });
    const taskId = original[0]!.taskId;
    const replay = await collect(client.attach({ taskId, afterSeq: 0n }));
    expect(replay).toEqual(original);
    const tail = await collect(client.attach({ taskId, afterSeq: 5n }));
    expect(tail).toEqual(original.slice(5));
    const task = await client.getTask({ taskId });
    expect(task).toMatchObject({ status: TaskStatus.SUCCEEDED, promptSummary: "replay me", lastSeq: BigInt(original.length), attempts: 1 });
  });

  it("replays the same events to Connect JSON and gRPC-Web callers as to gRPC ones", async () => {
    // The router forwards worker events undecoded to binary callers and decodes them for JSON ones.
    const original = await run({ prompt: "every protocol" });
    const taskId = original[0]!.taskId;
    expect(original.some((e) => e.event.case === "message" && e.event.value.body.case === "assistant")).toBe(true);
    const json = createClient(RouterService, createConnectTransport({ baseUrl: routerUrl(), httpVersion: "1.1", useBinaryFormat: false }));
    const grpcWeb = createClient(RouterService, createGrpcWebTransport({ baseUrl: routerUrl(), httpVersion: "1.1" }));
    expect(await collect(json.attach({ taskId, afterSeq: 0n }))).toEqual(original);
    expect(await collect(grpcWeb.attach({ taskId, afterSeq: 0n }))).toEqual(original);
  });

  it("attach mid-run continues with no gap and no duplicate; two subscribers see the same events", async () => {
    const first: RunEvent[] = [];
    let second: Promise<RunEvent[]> | undefined;
    let third: Promise<RunEvent[]> | undefined;
    for await (const ev of client.run({ prompt: "slow mid" })) {
      first.push(ev);
      if (ev.event.case === "started") {
        second = collect(client.attach({ taskId: ev.taskId, afterSeq: ev.seq }));
        third = collect(client.attach({ taskId: ev.taskId, afterSeq: 0n }));
      }
    }
    const startedAt = first.findIndex((e) => e.event.case === "started");
    expect([...first.slice(0, startedAt + 1), ...(await second!)]).toEqual(first);
    expect(await third!).toEqual(first);
  });

  it("a stalled subscriber misses nothing: the task and another subscriber finish, and it reads (or re-attaches to) the rest", async () => {
    const runner = client.run({ prompt: "big output" })[Symbol.asyncIterator]();
    const firstEvent = (await runner.next()).value as RunEvent;
    const taskId = firstEvent.taskId;
    // The stalled subscriber reads one event, then nothing until the task is over.
    const stalled = client.attach({ taskId, afterSeq: 0n })[Symbol.asyncIterator]();
    const seen: RunEvent[] = [(await stalled.next()).value as RunEvent];
    const healthy = collect(client.attach({ taskId, afterSeq: 0n }));
    const rest: RunEvent[] = [firstEvent];
    for (let r = await runner.next(); !r.done; r = await runner.next()) rest.push(r.value);
    expect(ofCase(rest, "exited")[0]?.exitCode).toBe(0);
    expect(await healthy).toEqual(rest);
    // Still replaying when it stalled, it held nothing back and is read to the end; had it been cut off for holding
    // the task back (CC_SUBSCRIBER_STALL), it would attach again from its last seq, as cc does.
    try {
      for (let r = await stalled.next(); !r.done; r = await stalled.next()) seen.push(r.value);
    } catch (err) {
      expect((err as ConnectError).code).toBe(Code.ResourceExhausted);
      seen.push(...(await collect(client.attach({ taskId, afterSeq: seen.at(-1)!.seq }))));
    }
    expect(seen).toEqual(rest);
  });

  it("CancelTask ends claude and its command on the worker", async () => {
    let workspace = "";
    const events: RunEvent[] = [];
    for await (const ev of client.run({ prompt: "hang", agent: ALLOW_BASH })) {
      events.push(ev);
      if (ev.event.case === "started") workspace = ev.event.value.workspace;
      if (ev.event.case === "message" && ev.event.value.body.case === "assistant") {
        await until(() => processesUnder(workspace).length >= 2);
        const task = await client.cancelTask({ taskId: ev.taskId, reason: "enough" });
        expect(task.status).toBe(TaskStatus.CANCELLED);
        expect(leftoverProcesses(workspace)).toEqual([]);
      }
    }
    expect(ofCase(events, "exited")[0]).toMatchObject({ reason: ExitReason.CANCELLED, message: "cancelled: enough" });
  });

  it("a worker SIGKILLed mid-stream: the stream ends with exited FAILED within seconds, task FAILED, router keeps serving", async () => {
    let taskId = "";
    let workspace = "";
    const events: RunEvent[] = [];
    for await (const ev of client.run({ prompt: "hang", agent: ALLOW_BASH, workerId: "w3" })) {
      events.push(ev);
      taskId = ev.taskId;
      if (ev.event.case === "started") workspace = ev.event.value.workspace;
      if (ev.event.case === "message" && ev.event.value.body.case === "assistant") {
        await until(() => processesUnder(workspace).length >= 2);
        workers.get("w3")!.child.kill("SIGKILL");
      }
    }
    expect(events.at(-1)?.event.case).toBe("exited");
    expect(ofCase(events, "exited")[0]).toMatchObject({ reason: ExitReason.FAILED, exitCode: -1 });
    expect(ofCase(events, "exited")[0]?.message).toContain("worker w3 was lost while running task");
    // Noticed from the connection the kill closed, at once: not from pings going unanswered seconds later.
    expect(ofCase(events, "exited")[0]?.message).not.toContain("PING timed out");
    expect((await client.getTask({ taskId })).status).toBe(TaskStatus.FAILED);
    // A target that is down is UNAVAILABLE.
    const down = await run({ prompt: "hello", workerId: "w3" }).catch((e: unknown) => e);
    expect((down as ConnectError).code).toBe(Code.Unavailable);
    // The router still serves.
    expect(ofCase(await run({ prompt: "still there?" }), "exited")[0]?.exitCode).toBe(0);
    // Whatever the kill left running (claude may end itself when its pipes close, its command need not) is gone
    // once the worker is back: it sweeps processes whose worker died (unit-tested in process-tree.test.ts).
    await startWorker("w3");
    expect(await waitForNoProcessesUnder(workspace)).toEqual([]);
  });

  it("a worker killed before the task started: the task runs elsewhere, exactly once", async () => {
    workers.get("w2")!.child.kill("SIGKILL");
    await workers.get("w2")!.exited;
    const prompts = ["once-a", "once-b", "once-c"];
    const results = await Promise.all(prompts.map((p) => run({ prompt: p })));
    for (const events of results) expect(ofCase(events, "exited")[0]?.exitCode).toBe(0);
    const placed = results.map((events) => ofCase(events, "started")[0]!);
    expect(placed.every((s) => s.workerId !== "w2")).toBe(true);
    expect(placed.some((s) => s.attempt === 2)).toBe(true);
    for (const p of prompts) {
      const hits = model.mainRequests().filter((r) => JSON.stringify(r.body).includes(p));
      expect(hits.length, p).toBe(1);
    }
    await startWorker("w2");
  });

  it("runs 50 tasks at once across the workers, every stream complete", async () => {
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => run({ prompt: `bulk ${i}` })));
    const perWorker = new Map<string, number>();
    results.forEach((events, i) => {
      expect(events.map((e) => Number(e.seq))).toEqual(events.map((_, j) => j + 1));
      const exited = ofCase(events, "exited")[0]!;
      expect(exited.result?.result).toBe(`answer to bulk ${i}`);
      const w = ofCase(events, "started")[0]!.workerId;
      perWorker.set(w, (perWorker.get(w) ?? 0) + 1);
    });
    expect([...perWorker.keys()].sort()).toEqual(["w1", "w2", "w3"]);
    const tasks = await client.listTasks({ limit: 1000 });
    expect(tasks.tasks.filter((t) => t.promptSummary.startsWith("bulk ")).every((t) => t.status === TaskStatus.SUCCEEDED)).toBe(true);
  }, 180_000);
});
