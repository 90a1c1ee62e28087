// At most once, with worker processes running the real claude: a placement whose stream breaks before the router
// heard anything, or after the worker acknowledged the task but before claude started, never gives a second claude
// (the scripted model's recorded conversations are counted) and never a second placement; a router that restarted
// places by what workers report running; and two workers cannot share one id.
import { mkdtempSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { RouterService, TaskStatus, WorkerHealth } from "../../gen/claudecluster/v1/router_pb.js";
import { ExitReason, Phase, type RunEvent } from "../../gen/claudecluster/v1/run_pb.js";
import { WorkerService } from "../../gen/claudecluster/v1/worker_pb.js";
import { silentLogger } from "../../services/common/logger.js";
import { createRouter, type Router } from "../../services/router/server.js";
import { readRouterSettings } from "../../services/router/settings.js";
import type { ScriptedModel } from "../../services/scripted-model/index.js";
import { startGitHttpsServer, type GitHttpsServer } from "../fixtures/git-https/server.js";
import { modelEnv, startModel } from "../helpers/model.js";
import { waitForNoProcessesUnder } from "../helpers/processes.js";
import { spawnRouterProcess, type RouterProcess } from "../helpers/router-process.js";
import { startTcpProxy, type TcpProxy } from "../helpers/tcp-proxy.js";
import { until } from "../helpers/wait.js";
import { collect, ofCase } from "../helpers/worker.js";
import { spawnWorkerProcess, type WorkerProcess } from "../helpers/worker-process.js";

const hang = { match: "hang", turns: [{ content: [{ type: "tool_use" as const, name: "Bash", input: { command: "tail -f /dev/null", description: "Wait" } }] }] };
const echo = { turns: [{ content: [{ type: "text" as const, text: "answer to {{prompt}}" }] }] };

describe("at most once", () => {
  let model: ScriptedModel;
  let git: GitHttpsServer;
  let root: string;
  const workers: WorkerProcess[] = [];
  const proxies: TcpProxy[] = [];

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
    workers.push(worker);
    return worker;
  }
  /** A worker the router reaches through a proxy (its advertised URL), so the test can break the router's streams. */
  async function startProxiedWorker(id: string, routerUrl: string, extra: Record<string, string> = {}): Promise<{ worker: WorkerProcess; proxy: TcpProxy }> {
    const proxy = await startTcpProxy();
    proxies.push(proxy);
    const worker = await startWorker(id, routerUrl, { CC_WORKER_URL: proxy.url, ...extra });
    proxy.target = worker.url;
    return { worker, proxy };
  }
  const prompted = (text: string) => model.mainRequests().filter((r) => JSON.stringify(r.body).includes(text)).length;

  beforeAll(async () => {
    root = realpathSync(mkdtempSync(join(tmpdir(), "cc-test-once-")));
    model = await startModel({ conversations: [hang, echo] });
    git = await startGitHttpsServer();
  });

  afterEach(async () => {
    for (const w of workers.splice(0)) {
      w.child.kill("SIGTERM");
      await w.exited;
    }
    for (const p of proxies.splice(0)) await p.close();
    expect(await waitForNoProcessesUnder(root, 15_000)).toEqual([]);
  });

  afterAll(async () => {
    await git?.close();
    await model?.close();
    rmSync(root, { recursive: true, force: true });
  });

  describe("with a router in this process", () => {
    let router: Router;
    let client: Client<typeof RouterService>;
    const routerUrl = () => `http://127.0.0.1:${router.server.port()}`;
    const online = (id: string, url?: string) =>
      until(() => router.registry.list().some((w) => w.id === id && (!url || w.url === url) && router.registry.health(w) === WorkerHealth.ONLINE));

    beforeAll(async () => {
      router = createRouter(readRouterSettings({ CC_STORE: "memory", PORT: "0", CC_HOST: "127.0.0.1", CC_HEARTBEAT_INTERVAL: "500ms", CC_OFFLINE_AFTER: "3s", CC_REATTACH_WAIT: "30s", CC_LOG_LEVEL: "silent" }), {
        logger: silentLogger(),
      });
      await router.listen();
      client = createClient(RouterService, createGrpcTransport({ baseUrl: routerUrl() }));
    });
    afterAll(async () => {
      await router?.shutdown(0);
    });

    it("a stream that breaks before the router heard from the worker: no second claude, no placement elsewhere; the router re-attaches to it there", async () => {
      // w1 keeps a task whose caller left for a minute, so a claude started there would run on in the old design.
      const { proxy } = await startProxiedWorker("once-1", routerUrl(), { CC_DISCONNECT_GRACE: "60s" });
      await online("once-1");
      // One task through the proxy first, so the router's connection to the worker is open.
      expect(ofCase(await collect(client.run({ prompt: "warm up the connection" })), "exited")[0]?.exitCode).toBe(0);
      // From now on the router hears nothing from the worker on that connection.
      proxy.freeze();
      const events: RunEvent[] = [];
      const done = (async () => {
        for await (const ev of client.run({ prompt: "exactly-once-a" })) events.push(ev);
      })();
      // The worker took it and its claude asked the model, but the router has not heard a word.
      await until(() => prompted("exactly-once-a") === 1);
      expect((await router.tasks.list({ limit: 10 })).tasks.find((t) => t.promptSummary === "exactly-once-a")?.status).toBe(TaskStatus.QUEUED);
      // Another worker is free, and the stream breaks.
      await startWorker("once-2", routerUrl());
      await online("once-2");
      proxy.cut();
      await done;
      // One conversation with the model: no second claude. The placement asked again of once-1 only was refused
      // (ALREADY_EXISTS), so the router re-attached to the task there (WorkerService.Attach) and read it to its end.
      expect(prompted("exactly-once-a")).toBe(1);
      const exited = ofCase(events, "exited")[0]!;
      expect(events.at(-1)?.event.case).toBe("exited");
      expect(exited).toMatchObject({ reason: ExitReason.COMPLETED, exitCode: 0 });
      expect(exited.result?.result).toBe("answer to exactly-once-a");
      expect(events.map((e) => Number(e.seq))).toEqual(events.map((_, i) => i + 1));
      expect(ofCase(events, "started")).toHaveLength(1);
      const task = await client.getTask({ taskId: events[0]!.taskId });
      expect(task.workerId).toBe("once-1");
      expect(task.status).toBe(TaskStatus.SUCCEEDED);
    });

    it("a stream that breaks after the worker acknowledged the task, before claude started: re-attached there, never placed again", async () => {
      const { worker, proxy } = await startProxiedWorker("once-3", routerUrl());
      await online("once-3");
      const events: RunEvent[] = [];
      let cut = false;
      // The clone of slow.git hangs: the task is accepted and stays before claude.
      const workspace = { source: { case: "repository" as const, value: { url: `${git.url}/slow.git` } } };
      let taskId = "";
      const done = (async () => {
        for await (const ev of client.run({ prompt: "exactly-once-b", workspace })) {
          events.push(ev);
          taskId = ev.taskId;
          if (!cut && ev.event.case === "status" && ev.event.value.phase === Phase.STARTING) {
            // The router has the acknowledgement: from here on the task belongs to that worker. Another worker is free
            // when its stream breaks.
            await until(() => git.held() === 1);
            await startWorker("once-4", routerUrl());
            await online("once-4");
            cut = true;
            proxy.cut();
          }
        }
      })();
      // The worker kept the task through the break (its clone still hangs), and the router followed it there again.
      await until(() => worker.logs.some((l) => l.includes("caller re-attached") && l.includes(taskId)));
      expect(git.held()).toBe(1);
      const task = await client.getTask({ taskId });
      expect(task).toMatchObject({ attempts: 1, workerId: "once-3" });
      // Cancelled, the worker stops it (the router's Cancel reaches it through a new connection): its clone is gone.
      await client.cancelTask({ taskId, reason: "enough" });
      await done;
      expect(ofCase(events, "exited")[0]).toMatchObject({ reason: ExitReason.CANCELLED, message: "cancelled: enough" });
      await until(() => git.held() === 0);
      expect(prompted("exactly-once-b")).toBe(0);
    });

    it("a second worker registering under an id in use is refused with ALREADY_EXISTS; once the first is gone it takes over", async () => {
      const first = await startWorker("twin", routerUrl());
      await online("twin", first.url);
      const second = await startWorker("twin", routerUrl());
      await until(() => second.logs.some((l) => l.includes("AlreadyExists") && l.includes("worker id twin is already registered by the worker at")));
      // The first keeps its entry, and tasks run on it.
      expect(router.registry.list().filter((w) => w.id === "twin").map((w) => w.url)).toEqual([first.url]);
      const events = await collect(client.run({ prompt: "to the twin", workerId: "twin" }));
      expect(ofCase(events, "exited")[0]?.result?.result).toBe("answer to to the twin");
      // The first stops: the id is free for the second, which registers on its next heartbeat.
      first.child.kill("SIGKILL");
      await online("twin", second.url);
      expect(router.registry.list().filter((w) => w.id === "twin").map((w) => w.url)).toEqual([second.url]);
    }, 60_000);
  });

  describe("with a router process that restarts", () => {
    let router: RouterProcess;
    let routerPort = 0;
    let client: Client<typeof RouterService>;
    async function startRouter(): Promise<void> {
      router = await spawnRouterProcess({ PORT: String(routerPort), CC_HEARTBEAT_INTERVAL: "500ms", CC_OFFLINE_AFTER: "3s" });
      routerPort = Number(new URL(router.url).port);
      client = createClient(RouterService, createGrpcTransport({ baseUrl: router.url }));
    }
    afterAll(async () => {
      router?.child.kill("SIGTERM");
      await router?.exited;
    });

    it("places by what a worker reports running: a task for a worker full of older tasks queues, then runs", async () => {
      await startRouter();
      // One slot, held by a task whose caller (the first router) will vanish; it keeps running for a minute.
      const worker = await startWorker("busy-1", router.url, { CC_MAX_SESSIONS: "1", CC_DISCONNECT_GRACE: "60s" });
      await until(async () => (await client.listWorkers({})).workers.some((w) => w.id === "busy-1" && w.health === WorkerHealth.ONLINE));
      let oldTask = "";
      for await (const ev of client.run({ prompt: "hang", agent: { allowedTools: ["Bash"] }, detach: true })) {
        oldTask = ev.taskId;
        if (ev.event.case === "message" && ev.event.value.body.case === "assistant") break;
      }
      router.child.kill("SIGKILL");
      await router.exited;
      await startRouter();
      // The new router knows nothing of the old task, but the worker reports it.
      await until(async () => (await client.listWorkers({})).workers.some((w) => w.id === "busy-1" && w.info?.activeTaskIds.includes(oldTask)));
      expect((await client.listWorkers({})).workers.find((w) => w.id === "busy-1")?.health).toBe(WorkerHealth.FULL);
      const events: RunEvent[] = [];
      for await (const ev of client.run({ prompt: "after the restart" })) {
        events.push(ev);
        if (events.length === 1) {
          // Queued, not refused: now free the slot (on the worker itself: this router never knew the old task).
          expect(ev.event).toMatchObject({ case: "status", value: { phase: Phase.QUEUED } });
          await createClient(WorkerService, createGrpcTransport({ baseUrl: worker.url })).cancel({ taskId: oldTask, reason: "make room" });
        }
      }
      expect(ofCase(events, "exited")[0]).toMatchObject({ reason: ExitReason.COMPLETED, exitCode: 0 });
      expect(ofCase(events, "exited")[0]?.result?.result).toBe("answer to after the restart");
      expect(ofCase(events, "started")[0]?.attempt).toBe(1);
    }, 90_000);
  });
});
