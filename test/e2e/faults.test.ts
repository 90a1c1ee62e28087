// Faults, each ending with the expected code and task status and no process left behind: a hung (SIGSTOPped)
// worker, a router restart, the model failing (429, 500, overloaded) or never answering, and claude itself killed.
// A worker SIGKILLed, a caller that vanishes and a subscriber that never reads are in router.test.ts and worker.test.ts.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { RouterService, TaskStatus } from "../../gen/claudecluster/v1/router_pb.js";
import { ExitReason, type RunEvent } from "../../gen/claudecluster/v1/run_pb.js";
import type { Script, ScriptedModel } from "../../services/scripted-model/index.js";
import { runCommand } from "../helpers/command.js";
import { modelEnv, startModel } from "../helpers/model.js";
import { processesUnder, waitForNoProcessesUnder } from "../helpers/processes.js";
import { spawnRouterProcess, type RouterProcess } from "../helpers/router-process.js";
import { until } from "../helpers/wait.js";
import { collect, ofCase } from "../helpers/worker.js";
import { spawnWorkerProcess, type WorkerProcess } from "../helpers/worker-process.js";

const CC = new URL("../../dist/cc/main.js", import.meta.url).pathname;
const ALLOW_BASH = { allowedTools: ["Bash"] };
const apiError = (status: number, type: string, message: string) => ({ content: [], error: { status, type, message, retry: false } });

const SCRIPT: Script = {
  conversations: [
    { match: "hang", turns: [{ content: [{ type: "text", text: "Waiting." }, { type: "tool_use", name: "Bash", input: { command: "tail -f /dev/null", description: "Wait" } }] }] },
    {
      match: "stall",
      turns: [
        { content: [{ type: "text", text: "Waiting for the gate." }, { type: "tool_use", name: "Bash", input: { command: "while [ ! -e gate ]; do sleep 0.1; done; echo gate open", description: "Wait" } }] },
        { content: [{ type: "text", text: "back after the stall" }] },
      ],
    },
    { match: "rate-limited", turns: [apiError(429, "rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit")] },
    { match: "server-error", turns: [apiError(500, "api_error", "Internal server error")] },
    { match: "overloaded", turns: [apiError(529, "overloaded_error", "Overloaded")] },
    // Headers never come: the model hangs until the task's timeout.
    { match: "silent", turns: [{ delayMs: 600_000, content: [{ type: "text", text: "too late" }] }] },
    { turns: [{ content: [{ type: "text", text: "answer to {{prompt}}" }] }] },
  ],
};

describe("faults", () => {
  let model: ScriptedModel;
  let root: string;
  let router: RouterProcess;
  let routerPort = 0;
  let client: Client<typeof RouterService>;
  const workers = new Map<string, WorkerProcess>();

  const routerEnv = () => ({ PORT: String(routerPort), CC_HEARTBEAT_INTERVAL: "500ms", CC_OFFLINE_AFTER: "3s", CC_CALLER_GRACE: "1s", CC_REATTACH_WAIT: "5s" });
  async function startRouter(): Promise<void> {
    router = await spawnRouterProcess(routerEnv());
    routerPort = Number(new URL(router.url).port);
    client = createClient(RouterService, createGrpcTransport({ baseUrl: router.url }));
  }
  async function startWorker(id: string, extra: Record<string, string> = {}): Promise<WorkerProcess> {
    const worker = await spawnWorkerProcess(id, {
      ...modelEnv(model),
      CC_ROUTER_URL: router.url,
      CC_CLAUDE_HOME: join(root, "home"),
      CC_WORKSPACE_ROOT: join(root, `ws-${id}`),
      CC_DISCONNECT_GRACE: "1s",
      CC_ROUTER_GRACE: "2s",
      CC_KILL_GRACE: "1s",
      ...extra,
    });
    workers.set(id, worker);
    await until(async () => (await client.listWorkers({})).workers.some((w) => w.id === id));
    return worker;
  }
  /** The task's events until it ends, or the error that ended the stream. */
  async function runToEnd(req: Parameters<typeof client.run>[0], onEvent?: (ev: RunEvent) => void): Promise<{ events: RunEvent[]; error?: ConnectError }> {
    const events: RunEvent[] = [];
    try {
      for await (const ev of client.run(req)) {
        events.push(ev);
        onEvent?.(ev);
      }
      return { events };
    } catch (err) {
      return { events, error: ConnectError.from(err) };
    }
  }

  beforeAll(async () => {
    root = realpathSync(mkdtempSync(join(tmpdir(), "cc-test-faults-")));
    model = await startModel(SCRIPT);
    await startRouter();
    await startWorker("f1");
  });

  afterEach(async () => {
    // Every fault leaves nothing running under the workspaces.
    expect(await waitForNoProcessesUnder(root, 15_000)).toEqual([]);
  });

  afterAll(async () => {
    for (const w of workers.values()) {
      w.child.kill("SIGCONT");
      w.child.kill("SIGTERM");
    }
    router?.child.kill("SIGTERM");
    await Promise.all([...workers.values()].map((w) => w.exited));
    await router?.exited;
    await model?.close();
    rmSync(root, { recursive: true, force: true });
  });

  for (const [prompt, status, words] of [
    ["rate-limited", 429, /rate limit/i],
    ["server-error", 500, /internal server error|api error/i],
    ["overloaded", 529, /overloaded/i],
  ] as const) {
    it(`the model answers ${status}: the task ends with the error in its result, visible in exited`, async () => {
      const { events, error } = await runToEnd({ prompt });
      expect(error).toBeUndefined();
      const exited = ofCase(events, "exited")[0]!;
      expect(exited.reason).toBe(ExitReason.COMPLETED);
      expect(exited.exitCode).not.toBe(0);
      expect(exited.result?.isError).toBe(true);
      expect(exited.result?.result).toMatch(words);
      const task = await client.getTask({ taskId: events[0]!.taskId });
      expect(task.status).toBe(TaskStatus.FAILED);
    });
  }

  it("the model never answers: the task ends at its timeout, TIMED_OUT, with nothing left running", async () => {
    const { events, error } = await runToEnd({ prompt: "silent", timeout: { seconds: 3n } });
    expect(error).toBeUndefined();
    const exited = ofCase(events, "exited")[0]!;
    expect(exited.reason).toBe(ExitReason.TIMED_OUT);
    expect(exited.message).toMatch(/timeout/i);
    expect((await client.getTask({ taskId: events[0]!.taskId })).status).toBe(TaskStatus.FAILED);
  });

  it("claude itself killed: the task ends FAILED with the signal in exited, and its command ends too", async () => {
    let claudePid = 0;
    let workspace = "";
    let killed = false;
    const events: RunEvent[] = [];
    for await (const ev of client.run({ prompt: "hang", agent: ALLOW_BASH })) {
      events.push(ev);
      if (ev.event.case === "started") ({ pid: claudePid, workspace } = ev.event.value);
      if (!killed && ev.event.case === "message" && ev.event.value.body.case === "assistant") {
        // Its Bash command (`tail`) must be running, so there is something claude leaves behind. Other children of
        // claude may come and go at start-up: only the tail counts.
        await until(() => processesUnder(workspace).some((pid) => commandLine(pid).includes("tail")));
        process.kill(claudePid, "SIGKILL");
        killed = true;
      }
    }
    const exited = ofCase(events, "exited")[0]!;
    expect(exited.signal).toBe("SIGKILL");
    expect(exited.exitCode).toBe(-1);
    expect((await client.getTask({ taskId: events[0]!.taskId })).status).toBe(TaskStatus.FAILED);
  });

  it("a worker that stalls past the router's pings and comes back: the router re-attaches, the task goes on, every event once", async () => {
    // Long enough a CC_ROUTER_GRACE that the worker keeps the task however slowly the machine brings it back.
    const worker = await startWorker("f-stalled", { CC_ROUTER_GRACE: "60s" });
    let workspace = "";
    let stopped = false;
    const run = runToEnd({ prompt: "stall", agent: ALLOW_BASH, workerId: "f-stalled" }, (ev) => {
      if (ev.event.case === "started") workspace = ev.event.value.workspace;
      if (ev.event.case === "message" && ev.event.value.body.case === "assistant" && !stopped) {
        worker.child.kill("SIGSTOP");
        stopped = true;
      }
    });
    // The router's pings go unanswered: it drops the task's stream and waits for the worker.
    await until(() => router.logs.some((l) => l.includes("lost the task's stream")));
    worker.child.kill("SIGCONT");
    await until(() => worker.logs.some((l) => l.includes("caller re-attached")));
    writeFileSync(join(workspace, "gate"), "");
    const { events, error } = await run;
    expect(error).toBeUndefined();
    expect(ofCase(events, "exited")[0]).toMatchObject({ reason: ExitReason.COMPLETED, exitCode: 0 });
    expect(ofCase(events, "exited")[0]?.result?.result).toBe("back after the stall");
    // Nothing lost and nothing twice across the break: the router's seqs run 1..n, and there was one claude.
    expect(events.map((e) => Number(e.seq))).toEqual(events.map((_, i) => i + 1));
    expect(ofCase(events, "started")).toHaveLength(1);
    const task = await client.getTask({ taskId: events[0]!.taskId });
    expect(task).toMatchObject({ status: TaskStatus.SUCCEEDED, attempts: 1, workerId: "f-stalled" });
    worker.child.kill("SIGTERM");
    await worker.exited;
    workers.delete("f-stalled");
  }, 90_000);

  it("a hung worker (SIGSTOP) is noticed through HTTP/2 pings: exited FAILED, task FAILED; resumed, it ends the task", async () => {
    const worker = await startWorker("f-stopped");
    let taskId = "";
    let stopped = false;
    const { events, error } = await runToEnd({ prompt: "hang", agent: ALLOW_BASH, workerId: "f-stopped" }, (ev) => {
      if (ev.event.case === "message" && ev.event.value.body.case === "assistant" && !stopped) {
        worker.child.kill("SIGSTOP");
        stopped = true;
      }
    });
    taskId = events[0]!.taskId;
    expect(error).toBeUndefined();
    expect(ofCase(events, "exited")[0]).toMatchObject({ reason: ExitReason.FAILED });
    // Noticed by the router's pings (never waited on for ever: the stopped worker's connection stays open).
    expect(ofCase(events, "exited")[0]?.message).toMatch(/^worker f-stopped was lost while running task \S+ \(PING timed out\)/);
    expect((await client.getTask({ taskId })).status).toBe(TaskStatus.FAILED);
    // Resumed, the worker finds its caller gone and stops the task after the disconnect grace (afterEach checks).
    worker.child.kill("SIGCONT");
    worker.child.kill("SIGTERM");
    await worker.exited;
    workers.delete("f-stopped");
  }, 60_000);

  it("the router restarts with no store (CC_STORE=memory): the worker ends the orphaned task after CC_ROUTER_GRACE, cc says what happened, and the new router serves", async () => {
    const started = await runCommand(process.execPath, [CC, "run", "-d", "--no-upload", "--allowed-tools", "Bash", "--router", router.url, "hang"]);
    expect(started.code, started.stderr).toBe(0);
    const taskId = started.stdout.trim();
    const workspace = join(root, "ws-f1", ".tasks", taskId);
    await until(() => processesUnder(workspace).length >= 2);
    // cc follows the task (it has replayed what the task printed so far) when the router dies under it.
    const following = spawn(process.execPath, [CC, "attach", "--router", router.url, taskId], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, NO_COLOR: "1" } });
    const attachResult = new Promise<{ code: number | null; stderr: string }>((resolve) => {
      let stderr = "";
      following.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
      following.on("close", (code) => resolve({ code, stderr }));
    });
    await new Promise((resolve) => following.stdout.once("data", resolve));
    router.child.kill("SIGKILL");
    await router.exited;
    const attach = await attachResult;
    expect(attach.code).not.toBe(0);
    expect(attach.stderr).toContain(`lost the router at ${router.url} while following task ${taskId}`);
    expect(attach.stderr).toContain(`cc attach ${taskId}`);
    // The worker saw the router's stream go; no router re-attaches (this one kept nothing), so the worker stops the
    // task after its CC_ROUTER_GRACE.
    expect(await waitForNoProcessesUnder(workspace, 30_000)).toEqual([]);

    // A new router on the same address: the worker's heartbeats register it again, and tasks run.
    await startRouter();
    await until(async () => (await client.listWorkers({})).workers.some((w) => w.id === "f1"));
    const events = await collect(client.run({ prompt: "after the restart" }));
    expect(ofCase(events, "exited")[0]?.result?.result).toBe("answer to after the restart");
  }, 60_000);
});

function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8");
  } catch {
    return "";
  }
}
