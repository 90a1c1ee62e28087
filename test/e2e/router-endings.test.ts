// Every way the router ends a task itself, seen by @grpc/grpc-js (and `buf curl`) as the stream's last event, an
// `exited` with the reason and a message, seq gapless, and no error after it: cancelled while queued, while cloning
// and while running (CancelTask then returns the ended task with its processes already gone), the queue wait
// running out, the worker lost, no worker left to try, the caller gone, and the router shutting down.
import { spawn } from "node:child_process";
import { mkdtempSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WorkerHealth } from "../../gen/claudecluster/v1/router_pb.js";
import { silentLogger } from "../../services/common/logger.js";
import { createRouter, type Router } from "../../services/router/server.js";
import { readRouterSettings } from "../../services/router/settings.js";
import type { Script, ScriptedModel } from "../../services/scripted-model/index.js";
import { taskProcesses } from "../../services/worker/process-tree.js";
import { startGitHttpsServer, type GitHttpsServer } from "../fixtures/git-https/server.js";
import { jsonDocuments } from "../helpers/command.js";
import { grpcJsRouter, readStream, unary, type GrpcJsRouter, type PlainEvent } from "../helpers/grpc-js.js";
import { modelEnv, startModel } from "../helpers/model.js";
import { processesUnder, waitForNoProcessesUnder } from "../helpers/processes.js";
import { spawnRouterProcess, type RouterProcess } from "../helpers/router-process.js";
import { until } from "../helpers/wait.js";
import { spawnWorkerProcess, type WorkerProcess } from "../helpers/worker-process.js";

const PROTO_DIR = fileURLToPath(new URL("../../proto", import.meta.url));
const BUF = fileURLToPath(new URL("../../node_modules/.bin/buf", import.meta.url));
const ALLOW_BASH = { allowedTools: ["Bash"] };
const SCRIPT: Script = {
  conversations: [
    { match: "hang", turns: [{ content: [{ type: "text", text: "Waiting." }, { type: "tool_use", name: "Bash", input: { command: "tail -f /dev/null", description: "Wait" } }] }] },
    { turns: [{ content: [{ type: "text", text: "answer to {{prompt}}" }] }] },
  ],
};

/** The stream ended well, its last event `exited`, its seqs 1, 2, 3 … */
function expectEndsWithExited(r: { events: PlainEvent[]; error?: unknown }): NonNullable<PlainEvent["exited"]> {
  expect(r.error).toBeUndefined();
  expect(r.events.map((e) => e.seq)).toEqual(r.events.map((_, i) => String(i + 1)));
  const last = r.events.at(-1)!;
  expect(last.event).toBe("exited");
  return last.exited!;
}

const isAssistant = (e: PlainEvent) => e.event === "message" && e.message?.type === "assistant";

describe("router-side endings", () => {
  let model: ScriptedModel;
  let git: GitHttpsServer;
  let root: string;
  const workers = new Map<string, WorkerProcess>();

  const workerEnv = (id: string, routerUrl: string, extra: Record<string, string> = {}) => ({
    ...modelEnv(model),
    CC_ROUTER_URL: routerUrl,
    CC_CLAUDE_HOME: join(root, "home"),
    CC_WORKSPACE_ROOT: join(root, `ws-${id}`),
    CC_KILL_GRACE: "1s",
    GIT_SSL_CAINFO: git.caFile,
    CC_CLONE_TIMEOUT: "10m",
    ...extra,
  });
  async function startWorker(id: string, routerUrl: string, extra: Record<string, string> = {}): Promise<WorkerProcess> {
    const worker = await spawnWorkerProcess(id, workerEnv(id, routerUrl, extra));
    workers.set(id, worker);
    return worker;
  }
  async function stopWorker(id: string): Promise<void> {
    const w = workers.get(id);
    workers.delete(id);
    w?.child.kill("SIGTERM");
    await w?.exited;
  }

  beforeAll(async () => {
    root = realpathSync(mkdtempSync(join(tmpdir(), "cc-test-endings-")));
    model = await startModel(SCRIPT);
    git = await startGitHttpsServer();
  });

  afterAll(async () => {
    for (const id of [...workers.keys()]) await stopWorker(id);
    await git?.close();
    await model?.close();
    const left = await waitForNoProcessesUnder(root, 15_000);
    rmSync(root, { recursive: true, force: true });
    expect(left).toEqual([]);
  });

  describe("a router in this process", () => {
    let router: Router;
    let grpcJs: GrpcJsRouter;
    const routerUrl = () => `http://127.0.0.1:${router.server.port()}`;
    const online = (id: string) => until(() => router.registry.list().some((w) => w.id === id && router.registry.health(w) === WorkerHealth.ONLINE));
    const cancel = (taskId: string, reason: string) => unary<{ id: string; status: string; exit?: { reason: string; message: string; exitCode: number } }>((cb) => grpcJs.CancelTask({ taskId, reason }, cb));

    beforeAll(async () => {
      router = createRouter(
        readRouterSettings({ CC_STORE: "memory",
          PORT: "0",
          CC_HOST: "127.0.0.1",
          CC_HEARTBEAT_INTERVAL: "500ms",
          CC_OFFLINE_AFTER: "3s",
          CC_QUEUE_TIMEOUT: "3s",
          CC_REATTACH_WAIT: "2s",
          CC_CALLER_GRACE: "1s",
          CC_LOG_LEVEL: "silent",
        }),
        { logger: silentLogger() },
      );
      await router.listen();
      grpcJs = grpcJsRouter(routerUrl());
      // One slot, so that a second task queues.
      await startWorker("one", routerUrl(), { CC_MAX_SESSIONS: "1", CC_LABELS: "pool=one" });
      await online("one");
    });
    afterAll(async () => {
      grpcJs?.close();
      await router?.shutdown(0);
    });

    it("queued, then cancelled, or left waiting past CC_QUEUE_TIMEOUT; the running one cancelled: each ends with exited, processes gone when CancelTask returns", async () => {
      // The slot is taken by a task whose Bash command never ends.
      let running: PlainEvent | undefined;
      const hang = readStream(grpcJs.Run({ prompt: "hang", agent: ALLOW_BASH, labels: { pool: "one" } }), (e) => {
        if (isAssistant(e)) running = e;
      });
      await until(() => running !== undefined);
      const hangTask = router.tasks.get(running!.taskId);
      const workspace = join(root, "ws-one", ".tasks", hangTask.id);
      await until(() => processesUnder(workspace).length >= 2);

      // Cancelled while queued.
      let queued: PlainEvent | undefined;
      const waiting = readStream(grpcJs.Run({ prompt: "never placed", labels: { pool: "one" } }), (e) => (queued ??= e));
      await until(() => queued !== undefined);
      expect(queued!.status).toMatchObject({ phase: "PHASE_QUEUED", queuePosition: 1 });
      const cancelledQueued = await cancel(queued!.taskId, "changed my mind");
      expect(cancelledQueued).toMatchObject({ status: "TASK_STATUS_CANCELLED", exit: { reason: "EXIT_REASON_CANCELLED", message: "cancelled: changed my mind" } });
      expect(expectEndsWithExited(await waiting)).toMatchObject({ reason: "EXIT_REASON_CANCELLED", message: "cancelled: changed my mind", exitCode: -1 });

      // Left in the queue past CC_QUEUE_TIMEOUT, read by grpc-js and by buf curl.
      const timedOut = readStream(grpcJs.Run({ prompt: "waits too long", labels: { pool: "one" } }));
      const viaBufCurl = bufCurlRun(routerUrl(), { prompt: "waits too long too", labels: { pool: "one" } });
      const exited = expectEndsWithExited(await timedOut);
      expect(exited.reason).toBe("EXIT_REASON_FAILED");
      expect(exited.message).toBe("the task waited 3s in the queue (CC_QUEUE_TIMEOUT) and none of the 1 matching worker(s) had a free slot; add workers or raise their CC_MAX_SESSIONS, or try again later");
      const curled = await viaBufCurl;
      expect(curled.code, curled.stderr).toBe(0);
      expect(curled.events.at(-1)?.exited).toMatchObject({ reason: "EXIT_REASON_FAILED", message: expect.stringContaining("CC_QUEUE_TIMEOUT") });

      // Cancelled while claude runs its command: when CancelTask returns, claude and the command are gone.
      const cancelled = await cancel(hangTask.id, "enough");
      expect(processesUnder(workspace)).toEqual([]);
      expect(taskProcesses(hangTask.id)).toEqual([]);
      expect(cancelled).toMatchObject({ status: "TASK_STATUS_CANCELLED", exit: { reason: "EXIT_REASON_CANCELLED", message: "cancelled: enough" } });
      expect(expectEndsWithExited(await hang)).toMatchObject({ reason: "EXIT_REASON_CANCELLED", message: "cancelled: enough" });
    }, 60_000);

    it("cancelled while its repository is cloning: CancelTask returns the ended task, git already gone", async () => {
      let cloning: PlainEvent | undefined;
      const call = grpcJs.Run({ prompt: "clone first", labels: { pool: "one" }, workspace: { repository: { url: `${git.url}/slow.git` } } });
      const stream = readStream(call, (e) => {
        if (e.status?.detail.startsWith("cloning")) cloning = e;
      });
      await until(() => cloning !== undefined && git.held() === 1 && taskProcesses(cloning.taskId).length > 0);
      const taskId = cloning!.taskId;
      const task = await cancel(taskId, "no clone please");
      // Checked as soon as the call returned.
      expect(taskProcesses(taskId)).toEqual([]);
      expect(processesUnder(join(root, "ws-one"))).toEqual([]);
      expect(task).toMatchObject({ status: "TASK_STATUS_CANCELLED", exit: { reason: "EXIT_REASON_CANCELLED", message: "cancelled: no clone please", exitCode: -1 } });
      const exited = expectEndsWithExited(await stream);
      expect(exited).toMatchObject({ reason: "EXIT_REASON_CANCELLED", message: "cancelled: no clone please" });
      expect(model.mainRequests().filter((r) => JSON.stringify(r.body).includes("clone first"))).toEqual([]);
      await until(() => git.held() === 0);
    });

    it("its worker lost mid-run (SIGKILL): exited FAILED saying so", async () => {
      await startWorker("doomed", routerUrl());
      await online("doomed");
      const stream = readStream(grpcJs.Run({ prompt: "hang", agent: ALLOW_BASH, workerId: "doomed" }), (e) => {
        if (isAssistant(e)) workers.get("doomed")!.child.kill("SIGKILL");
      });
      const exited = expectEndsWithExited(await stream);
      expect(exited.reason).toBe("EXIT_REASON_FAILED");
      expect(exited.message).toMatch(/^worker doomed was lost while running task \S+ \(.+\), and did not come back within 2s \(CC_REATTACH_WAIT\) for the router to re-attach to it; the task is marked failed and was not run again$/);
      // Restarted, the worker ends what the killed one left running (orphans are swept at start).
      await workers.get("doomed")!.exited;
      await startWorker("doomed", routerUrl());
      expect(await waitForNoProcessesUnder(join(root, "ws-doomed"), 15_000)).toEqual([]);
      await stopWorker("doomed");
    }, 60_000);

    it("no worker left to try (both matching workers died just before): exited FAILED naming them", async () => {
      await startWorker("gone-1", routerUrl(), { CC_LABELS: "pool=gone" });
      await startWorker("gone-2", routerUrl(), { CC_LABELS: "pool=gone" });
      await Promise.all([online("gone-1"), online("gone-2")]);
      for (const id of ["gone-1", "gone-2"]) {
        workers.get(id)!.child.kill("SIGKILL");
        await workers.get(id)!.exited;
        workers.delete(id);
      }
      // Still listed as online (their heartbeats are not overdue yet): the router tries each, and neither answers.
      const exited = expectEndsWithExited(await readStream(grpcJs.Run({ prompt: "nobody home", labels: { pool: "gone" } })));
      expect(exited.reason).toBe("EXIT_REASON_FAILED");
      expect(exited.message).toMatch(/^worker gone-\d could not run the task: .*ECONNREFUSED.* \(tried gone-\d, gone-\d\)$/);
    });

    it("its caller gone for CC_CALLER_GRACE: a later Attach replays it to exited CLIENT_GONE", async () => {
      let taskId = "";
      const call = grpcJs.Run({ prompt: "hang", agent: ALLOW_BASH, labels: { pool: "one" } });
      await readStream(call, (e) => {
        taskId = e.taskId;
        if (isAssistant(e)) call.cancel();
      });
      const entry = router.tasks.get(taskId);
      await entry.whenEnded();
      const replay = await readStream(grpcJs.Attach({ taskId, afterSeq: "0" }));
      const exited = expectEndsWithExited(replay);
      expect(exited.reason).toBe("EXIT_REASON_CLIENT_GONE");
      expect(exited.message).toBe("no caller was attached for 1s (CC_CALLER_GRACE) and the task was not detached; start it with `cc run --detach` to keep it running alone");
      expect(await waitForNoProcessesUnder(join(root, "ws-one", ".tasks", taskId))).toEqual([]);
    });
  });

  describe("a router process shutting down (SIGTERM)", () => {
    let router: RouterProcess;

    it("ends the queued task at once and the running one after CC_SHUTDOWN_GRACE, both with exited SHUTDOWN", async () => {
      router = await spawnRouterProcess({ CC_HEARTBEAT_INTERVAL: "500ms", CC_SHUTDOWN_GRACE: "1s" });
      const grpcJs = grpcJsRouter(router.url);
      await startWorker("last", router.url, { CC_MAX_SESSIONS: "1" });
      // Registered and online first: a Run sent before that finds no worker at all.
      await until(async () => (await unary<{ workers: { id: string; health: string }[] }>((cb) => grpcJs.ListWorkers({}, cb))).workers.some((w) => w.id === "last" && w.health === "WORKER_HEALTH_ONLINE"));
      let running = false;
      const hang = readStream(grpcJs.Run({ prompt: "hang", agent: ALLOW_BASH }), (e) => (running ||= isAssistant(e)));
      await until(() => running);
      let queued = false;
      const waiting = readStream(grpcJs.Run({ prompt: "still waiting" }), (e) => (queued ||= e.status?.phase === "PHASE_QUEUED"));
      await until(() => queued);
      router.child.kill("SIGTERM");
      expect(expectEndsWithExited(await waiting)).toMatchObject({
        reason: "EXIT_REASON_SHUTDOWN",
        message: "the router shut down before the task was placed on a worker; run it again",
      });
      expect(expectEndsWithExited(await hang)).toMatchObject({
        reason: "EXIT_REASON_SHUTDOWN",
        message: "the router shut down, and the task had not ended within its 1s grace (CC_SHUTDOWN_GRACE)",
      });
      expect(await router.exited).toBe(0);
      grpcJs.close();
      await stopWorker("last");
    }, 60_000);
  });
});

/** `buf curl` streaming RouterService.Run: the events it printed, and how it exited. */
function bufCurlRun(url: string, request: object): Promise<{ code: number | null; stderr: string; events: PlainEvent[] }> {
  return new Promise((resolve, reject) => {
    const args = ["curl", "--protocol", "grpc", "--http2-prior-knowledge", "--schema", PROTO_DIR, "-d", JSON.stringify(request), `${url}/claudecluster.v1.RouterService/Run`];
    const child = spawn(BUF, args, { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stderr, events: jsonDocuments<PlainEvent>(stdout) }));
  });
}
