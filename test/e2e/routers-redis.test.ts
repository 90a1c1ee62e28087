// Several routers on one Redis store (a real redis-server): two routers behind the test's own round-robin, one
// SIGKILLed while its tasks run. The other takes its tasks over (their leases expire, it re-attaches to the workers
// from the last event stored): `cc attach` through it replays and follows with nothing lost, and a cancel sent to it
// stops a task the dead one owned. Any router answers for any task; workers registered with either are seen by both.
// Also: a router refuses to start when Redis is down, and says UNAVAILABLE for what it cannot store while Redis is
// lost, carrying on once it is back.
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RouterService, TaskStatus, type Task } from "../../gen/claudecluster/v1/router_pb.js";
import { ExitReason, type RunEvent } from "../../gen/claudecluster/v1/run_pb.js";
import type { Script, ScriptedModel } from "../../services/scripted-model/index.js";
import { runCommand, type CommandResult } from "../helpers/command.js";
import { modelEnv, startModel } from "../helpers/model.js";
import { processesUnder, waitForNoProcessesUnder } from "../helpers/processes.js";
import { describeNeeding } from "../helpers/needs.js";
import { REDIS_SERVER, startRedis, type RedisServer } from "../helpers/redis.js";
import { startRoundRobin, type RoundRobin } from "../helpers/round-robin.js";
import { spawnRouterProcess, type RouterProcess } from "../helpers/router-process.js";
import { spawnServiceProcess } from "../helpers/service-process.js";
import { until } from "../helpers/wait.js";
import { spawnWorkerProcess, type WorkerProcess } from "../helpers/worker-process.js";

const CC = new URL("../../dist/cc/main.js", import.meta.url).pathname;
const TASKS = 8;
const answer = (name: string) => `Answer of ${name}, once.`;

function script(names: string[], gate: string, never: string): Script {
  return {
    conversations: [
      ...names.map((name) => ({
        match: `${name} `,
        turns: [
          { content: [{ type: "tool_use" as const, name: "Bash", input: { command: `while [ ! -e ${gate} ]; do sleep 0.2; done; echo open`, description: "Wait for the gate" } }] },
          { content: [{ type: "text" as const, text: answer(name) }] },
        ],
      })),
      { match: "held ", turns: [{ content: [{ type: "tool_use" as const, name: "Bash", input: { command: `while [ ! -e ${never} ]; do sleep 0.2; done`, description: "Wait for ever" } }] }] },
      { turns: [{ content: [{ type: "text" as const, text: "answer to {{prompt}}" }] }] },
    ],
  };
}

const seqs = (events: RunEvent[]) => events.map((e) => Number(e.seq));
const oneToN = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

describeNeeding(existsSync(REDIS_SERVER) ? "" : `${REDIS_SERVER} is missing: apt-get install redis-server (npm test installs it as root)`, "several routers on Redis", () => {
  let redis: RedisServer;
  let model: ScriptedModel;
  let root: string;
  const routers = new Map<string, RouterProcess>();
  let front: RoundRobin;
  const workers: WorkerProcess[] = [];
  const clientOf = (url: string): Client<typeof RouterService> => createClient(RouterService, createGrpcTransport({ baseUrl: url }));

  async function startRouter(id: string): Promise<RouterProcess> {
    const router = await spawnRouterProcess({
      CC_STORE: redis.url,
      CC_ROUTER_ID: id,
      CC_LEASE_TTL: "3s",
      CC_HEARTBEAT_INTERVAL: "500ms",
      CC_OFFLINE_AFTER: "5s",
      CC_CALLER_GRACE: "2m",
    });
    routers.set(id, router);
    return router;
  }

  beforeAll(async () => {
    root = realpathSync(mkdtempSync(join(tmpdir(), "cc-test-routers-")));
    redis = await startRedis();
  });

  afterAll(async () => {
    for (const w of workers) w.child.kill("SIGTERM");
    for (const r of routers.values()) r.child.kill("SIGTERM");
    await Promise.all([...workers.map((w) => w.exited), ...[...routers.values()].map((r) => r.exited)]);
    await front?.close();
    await model?.close();
    await redis?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  it("a router killed mid-flood: the other takes its tasks over, cc attach through it misses nothing, and its cancel stops a dead router's task", async () => {
    // Tasks run sandboxed with a /tmp of their own: the gate's directory is bound into every sandbox (CC_SANDBOX_BIND).
    const gates = join(root, "gates");
    mkdirSync(gates);
    const gate = join(gates, "gate");
    const never = join(root, "never");
    const names = Array.from({ length: TASKS }, (_, i) => `flood-${i}`);
    model = await startModel(script(names, gate, never));
    const a = await startRouter("router-a");
    const b = await startRouter("router-b");
    front = await startRoundRobin([a.url, b.url]);
    for (const id of ["rw1", "rw2"]) {
      workers.push(
        await spawnWorkerProcess(id, {
          ...modelEnv(model),
          CC_ROUTER_URL: front.url,
          CC_CLAUDE_HOME: join(root, "home"),
          CC_WORKSPACE_ROOT: join(root, `ws-${id}`),
          CC_SANDBOX_BIND: gates,
          CC_MAX_SESSIONS: "6",
          CC_KILL_GRACE: "1s",
        }),
      );
    }
    // Each worker registered with one router; both routers see both.
    for (const url of [a.url, b.url]) await until(async () => (await clientOf(url).listWorkers({})).workers.length === 2, 30_000);

    // The flood: detached tasks through the round-robin (each `cc run` a new connection, so both routers take some),
    // and one held for ever.
    const ids: string[] = [];
    for (const name of [...names, "held"]) {
      const r = await runCommand(process.execPath, [CC, "run", "-d", "--no-upload", "--router", front.url, "--allowed-tools", "Bash", `${name} at the gate`]);
      expect(r.code, r.stderr).toBe(0);
      ids.push(r.stdout.trim());
    }
    const heldId = ids.at(-1)!;
    const leases = new Redis(redis.url);
    const holder = async (id: string) => leases.get(`cc:lease:{${id}}`);
    // The held task is owned by router-a: cancelled through router-b later. (Placed through a directly if the
    // round-robin gave it to b.)
    let cancelTarget = heldId;
    if ((await holder(heldId)) !== "router-a") {
      const r = await runCommand(process.execPath, [CC, "run", "-d", "--no-upload", "--router", a.url, "--allowed-tools", "Bash", "held at a"]);
      expect(r.code, r.stderr).toBe(0);
      cancelTarget = r.stdout.trim();
      await clientOf(b.url).cancelTask({ taskId: heldId, reason: "not the one" });
    }
    const byA: string[] = [];
    for (const id of ids.slice(0, TASKS)) if ((await holder(id)) === "router-a") byA.push(id);
    expect(byA.length, "the round-robin gave router-a some of the flood").toBeGreaterThan(0);

    // Every router answers for every task: both list them all, running.
    const everyone = async (url: string) => (await clientOf(url).listTasks({ limit: 100 })).tasks;
    const inBash = (tasks: Task[], id: string) => tasks.some((t) => t.id === id && t.latestLine.startsWith("Bash"));
    await until(async () => {
      const tasks = await everyone(b.url);
      return [...ids.slice(0, TASKS), cancelTarget].every((id) => inBash(tasks, id));
    }, 240_000);
    expect((await everyone(a.url)).map((t) => t.id).sort()).toEqual((await everyone(b.url)).map((t) => t.id).sort());

    // `cc attach` to one of a's tasks through b, started before a dies.
    const watched = byA[0]!;
    const attach = spawn(process.execPath, [CC, "attach", "--router", b.url, "--output-format", "text", watched], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, NO_COLOR: "1" } });
    const attached = new Promise<CommandResult>((resolve) => {
      let stdout = "";
      let stderr = "";
      attach.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
      attach.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
      attach.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
    });

    // router-a dies mid-flood; the gate opens; router-b takes a's tasks over once their leases expire.
    a.child.kill("SIGKILL");
    await a.exited;
    writeFileSync(gate, "");
    await until(async () => {
      const held = await Promise.all(byA.map(holder));
      return held.every((h) => h === "router-b" || h === null);
    }, 60_000);

    const result = await attached;
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(answer(names[ids.indexOf(watched)]!));
    expect(result.stdout.split(answer(names[ids.indexOf(watched)]!)).length).toBe(2);

    // Every flood task completed; its log replays 1..n through the surviving router.
    const survivor = clientOf(b.url);
    for (const [i, id] of ids.slice(0, TASKS).entries()) {
      if (id === heldId && cancelTarget !== heldId) continue;
      const events: RunEvent[] = [];
      for await (const e of survivor.attach({ taskId: id, afterSeq: 0n })) events.push(e);
      expect(seqs(events), id).toEqual(oneToN(events.length));
      expect(events.at(-1)!.event).toMatchObject({ case: "exited", value: { reason: ExitReason.COMPLETED } });
      expect((await survivor.getTask({ taskId: id })).exit?.result?.result).toBe(answer(names[i]!));
    }

    // The held task router-a owned: cancelled through router-b, which took it over; its processes are gone.
    const cancelled = await runCommand(process.execPath, [CC, "cancel", "--router", b.url, cancelTarget]);
    expect(cancelled.code, cancelled.stderr).toBe(0);
    const record = await survivor.getTask({ taskId: cancelTarget });
    expect(record.status).toBe(TaskStatus.CANCELLED);
    expect(record.exit?.reason).toBe(ExitReason.CANCELLED);
    const workspace = (await Promise.all(workers.map(async (w) => join(root, `ws-${w.id}`, ".tasks", cancelTarget)))).filter((d) => existsSync(d));
    for (const dir of workspace) expect(processesUnder(dir)).toEqual([]);

    // One conversation per task.
    for (const name of names) {
      const starts = model.mainRequests().filter((r) => JSON.stringify(r.body).includes(`${name} at the gate`) && !(r.body as { messages?: { role: string }[] }).messages?.some((m) => m.role === "assistant"));
      expect(starts.length, name).toBe(1);
    }
    leases.disconnect();
    for (const w of workers) expect(await waitForNoProcessesUnder(join(root, `ws-${w.id}`), 20_000)).toEqual([]);
  }, 600_000);

  it("a router refuses to start when Redis is down, saying where it looked; one whose Redis goes away says UNAVAILABLE and carries on when it is back", async () => {
    const down = await spawnServiceProcess("router", { CC_STORE: "redis://127.0.0.1:1", CC_ROUTER_ID: "router-down" }).catch((e: unknown) => e as Error);
    expect(down).toBeInstanceOf(Error);
    expect((down as Error).message).toContain("router: the task store (CC_STORE=redis): cannot reach Redis at redis://127.0.0.1:1 (");
    expect((down as Error).message).toContain("start it, or fix CC_STORE");

    const r = await startRouter("router-c");
    const c = clientOf(r.url);
    await redis.kill(true);
    const err = await c.listTasks({}).catch((e: unknown) => ConnectError.from(e));
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as ConnectError).code).toBe(14);
    expect((err as ConnectError).rawMessage).toMatch(/^the task store is unavailable: could not list tasks in Redis at redis:\/\/127\.0\.0\.1:\d+/);
    const get = await c.getTask({ taskId: "01abcdefghjkmnpqrstvwxyz01" }).catch((e: unknown) => ConnectError.from(e));
    expect(get).toMatchObject({ code: 14 });
    await redis.restart();
    await until(async () => (await c.listTasks({}).then(() => true, () => false)), 30_000);
    r.child.kill("SIGTERM");
    await r.exited;
  }, 120_000);
});
