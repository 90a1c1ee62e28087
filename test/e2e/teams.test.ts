// Teams end to end: a router with identities (CC_TOKENS_FILE: two users, an admin, and users with quotas and a
// budget), a worker, the built CLI (dist/cc/main.js) and the real claude against the scripted model. Each user's
// `cc ps` lists only its own tasks, another's task is NOT_FOUND (attach, cancel, send, show) with the message an
// unknown id gets, the admin sees every task with its owner; a running quota queues the next task and a queued
// quota refuses the one after; a daily budget below one task's cost refuses the next task with its reset time; `cc
// usage` adds up the tasks' result summaries; a user's token cannot register a worker. Run `npm run build` first.
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { status as grpcStatus, type ServiceError } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PermissionDecision } from "../../gen/claudecluster/v1/permissions_pb.js";
import { Role, RouterService, TaskStatus, WorkerHealth } from "../../gen/claudecluster/v1/router_pb.js";
import { silentLogger } from "../../services/common/logger.js";
import { createRouter, type Router } from "../../services/router/server.js";
import { readRouterSettings } from "../../services/router/settings.js";
import type { Script, ScriptedModel } from "../../services/scripted-model/index.js";
import { modelEnv, startModel } from "../helpers/model.js";
import { grpcJsRouter, type PlainTask, unary } from "../helpers/grpc-js.js";
import { spawnRouterProcess } from "../helpers/router-process.js";
import { until } from "../helpers/wait.js";
import { startTestWorker, type TestWorker } from "../helpers/worker.js";

const MAIN = new URL("../../dist/cc/main.js", import.meta.url).pathname;
const ROUTER_MAIN = new URL("../../dist/services/router/main.js", import.meta.url).pathname;
const NODE = process.execPath;

const SCRIPT: Script = {
  conversations: [
    { match: "hang", turns: [{ content: [{ type: "tool_use", name: "Bash", input: { command: "tail -f /dev/null", description: "Wait" } }] }] },
    { turns: [{ content: [{ type: "text", text: "Done: {{prompt}}" }], usage: { input_tokens: 1200, output_tokens: 300 } }] },
  ],
};

const TOKENS = { alice: "alice-token", bob: "bob-token", root: "root-token", carol: "carol-token", dave: "dave-token" };
const sha = (t: string) => `sha256:${createHash("sha256").update(t).digest("hex")}`;

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

interface TaskJson {
  id: string;
  owner?: string;
  model?: string;
  status: string;
  exit?: { result?: { totalCostUsd?: number; usage?: { inputTokens?: string; outputTokens?: string } } };
}

describe("teams: identities, scoping, quotas, budgets, usage", () => {
  let model: ScriptedModel;
  let root: string;
  let router: Router;
  let worker: TestWorker;
  let url: string;
  let baseEnv: Record<string, string>;

  function cc(who: keyof typeof TOKENS, args: string[]): Promise<Result> {
    return new Promise((resolve, reject) => {
      const child = spawn(NODE, [MAIN, ...args], { env: { ...baseEnv, CC_TOKEN: TOKENS[who] }, cwd: root, stdio: ["pipe", "pipe", "pipe"] });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d: Buffer) => (stdout += d.toString("utf8")));
      child.stderr.on("data", (d: Buffer) => (stderr += d.toString("utf8")));
      child.on("error", reject);
      child.on("close", (code) => resolve({ code, stdout, stderr }));
      child.stdin.end("");
    });
  }
  const client = (token: string): Client<typeof RouterService> =>
    createClient(RouterService, createGrpcTransport({ baseUrl: url, interceptors: [(next) => (req) => (req.header.set("authorization", `Bearer ${token}`), next(req))] }));
  const ps = async (who: keyof typeof TOKENS) => {
    const r = await cc(who, ["ps", "--all", "--json"]);
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as TaskJson[];
  };
  const detached = async (who: keyof typeof TOKENS, prompt: string) => {
    const r = await cc(who, ["run", "-d", "--allowed-tools", "Bash", prompt]);
    expect(r.code, r.stderr).toBe(0);
    return r.stdout.trim();
  };
  const statusOf = async (id: string) => (await client(TOKENS.root).getTask({ taskId: id })).status;

  beforeAll(async () => {
    if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run \`npm run build\` first`);
    root = realpathSync(mkdtempSync(join(tmpdir(), "cc-test-teams-")));
    const tokensFile = join(root, "tokens");
    writeFileSync(
      tokensFile,
      [
        "# who may use this cluster",
        `alice user ${sha(TOKENS.alice)}`,
        `bob   user ${sha(TOKENS.bob)}   # plain digests: the file holds no usable token`,
        `root  admin ${sha(TOKENS.root)}`,
        `carol user ${sha(TOKENS.carol)} running=1 queued=1`,
        // Far below what one task costs: the second task is refused.
        `dave  user ${sha(TOKENS.dave)} daily=0.000001`,
        "",
      ].join("\n"),
    );
    model = await startModel(SCRIPT);
    router = createRouter(
      readRouterSettings({
        PORT: "0",
        CC_HOST: "127.0.0.1",
        CC_HEARTBEAT_INTERVAL: "1s",
        CC_WEB: "off",
        CC_STORE: "memory",
        CC_TOKENS_FILE: tokensFile,
        CC_WORKER_TOKEN: "worker-token",
      }),
      { logger: silentLogger() },
    );
    url = `http://127.0.0.1:${await router.listen()}`;
    worker = await startTestWorker({ ...modelEnv(model), CC_WORKER_ID: "w1", CC_ROUTER_URL: url, CC_WORKER_TOKEN: "worker-token", CC_MAX_SESSIONS: "8" });
    await until(() => router.registry.list().some((w) => w.id === "w1" && router.registry.health(w) === WorkerHealth.ONLINE));
    baseEnv = {
      PATH: process.env["PATH"] ?? "/usr/bin:/bin",
      HOME: join(root, "user-home"),
      XDG_CONFIG_HOME: join(root, "config"),
      XDG_STATE_HOME: join(root, "state"),
      CC_ROUTER_URL: url,
      NO_COLOR: "1",
    };
  });

  afterAll(async () => {
    await worker?.close();
    await router?.shutdown(0);
    await model?.close();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it("each user lists only its own tasks; another's is NOT_FOUND; the admin sees both with owners", async () => {
    const mine = await cc("alice", ["run", "say hello"]);
    expect(mine.code, mine.stderr).toBe(0);
    expect(mine.stdout).toBe("Done: say hello\n");
    const aliceTask = /task ([0-9a-z]{26})/.exec(mine.stderr)![1]!;
    const bobTask = await detached("bob", "hang for bob");
    await until(async () => (await statusOf(bobTask)) === TaskStatus.RUNNING);

    expect((await ps("alice")).map((t) => [t.id, t.owner])).toEqual([[aliceTask, "alice"]]);
    expect((await ps("bob")).map((t) => [t.id, t.owner])).toEqual([[bobTask, "bob"]]);
    // Naming another owner changes nothing for a user.
    expect((await client(TOKENS.alice).listTasks({ owner: "bob" })).tasks.map((t) => t.id)).toEqual([aliceTask]);

    // Another's task answers exactly as an unknown id does: exit 4, NOT_FOUND, no hint that it exists.
    const unknown = await cc("alice", ["cancel", "01nosuchtask000000000000000"]);
    expect(unknown).toMatchObject({ code: 4, stderr: `cc: no task "01nosuchtask000000000000000" on the router at ${url} — list tasks with \`cc ps --all\`\n` });
    for (const args of [["attach", bobTask], ["cancel", bobTask], ["send", bobTask, "hi"], ["show", bobTask], ["logs", bobTask]]) {
      const r = await cc("alice", args);
      expect(r.code, args.join(" ")).toBe(4);
      expect(r.stderr).toBe(`cc: no task "${bobTask}" on the router at ${url} — list tasks with \`cc ps --all\`\n`);
    }
    for (const call of <(() => Promise<unknown>)[]>[
      () => client(TOKENS.alice).getTask({ taskId: bobTask }),
      () => client(TOKENS.alice).answerPermission({ taskId: bobTask, requestId: "r1", decision: PermissionDecision.ALLOW }),
      () => client(TOKENS.alice).listFiles({ taskId: bobTask, path: "." }),
      () => client(TOKENS.alice).resize({ taskId: bobTask, size: { rows: 10, cols: 10 } }),
    ]) {
      const err = await Promise.resolve()
        .then(call)
        .then(() => undefined, (e: unknown) => ConnectError.from(e));
      expect(err?.code).toBe(Code.NotFound);
      expect(err?.rawMessage).toBe(`task ${bobTask} not found; list tasks with \`cc ps --all\`; ended tasks are kept only for a while`);
    }
    // An independent gRPC client (grpc-js, from the .proto files) sees the same: NOT_FOUND, and the admin gets the record.
    const grpcAlice = grpcJsRouter(url, TOKENS.alice);
    const grpcRoot = grpcJsRouter(url, TOKENS.root);
    try {
      const refused = await unary<PlainTask>((cb) => grpcAlice.GetTask({ taskId: bobTask }, cb)).catch((e: ServiceError) => e);
      expect(refused).toMatchObject({ code: grpcStatus.NOT_FOUND, details: `task ${bobTask} not found; list tasks with \`cc ps --all\`; ended tasks are kept only for a while` });
      const seen = await unary<PlainTask & { owner: string }>((cb) => grpcRoot.GetTask({ taskId: bobTask }, cb as never));
      expect(seen).toMatchObject({ id: bobTask, owner: "bob", status: "TASK_STATUS_RUNNING" });
    } finally {
      grpcAlice.close();
      grpcRoot.close();
    }
    // An admin filters by owner.
    const bobs = JSON.parse((await cc("root", ["ps", "--all", "--owner", "bob", "--json"])).stdout) as TaskJson[];
    expect(bobs.map((t) => t.id)).toEqual([bobTask]);

    // Workers list the ids of the tasks they run: a user sees its own among them only.
    const ids = async (token: string) => (await client(token).listWorkers({})).workers.flatMap((w) => w.info?.activeTaskIds ?? []);
    await until(async () => (await ids(TOKENS.root)).includes(bobTask));
    expect(await ids(TOKENS.alice)).not.toContain(bobTask);
    expect(await ids(TOKENS.bob)).toContain(bobTask);

    // Continuing another's session is NOT_FOUND too.
    const cont = await cc("bob", ["continue", aliceTask, "more"]);
    expect(cont.code).toBe(4);
    expect(cont.stderr).toBe(`cc: no task "${aliceTask}" on the router at ${url} — list tasks with \`cc ps --all\`\n`);
    // Bob's own task is still running: alice's cancel did nothing.
    expect(await statusOf(bobTask)).toBe(TaskStatus.RUNNING);

    // A user's live view holds its own tasks only.
    const watch = new AbortController();
    const seen: string[] = [];
    for await (const change of client(TOKENS.alice).watchTasks({}, { signal: watch.signal })) {
      if (change.change.case === "task") seen.push(change.change.value.id);
      if (change.change.case === "synced") break;
    }
    watch.abort();
    expect(seen).toEqual([aliceTask]);

    // The admin sees both, with an OWNER column.
    const all = await cc("root", ["ps", "--all"]);
    expect(all.code, all.stderr).toBe(0);
    const header = all.stdout.split("\n")[0]!;
    expect(header).toMatch(/^ID\s+OWNER\s+STATUS/);
    expect(all.stdout).toMatch(new RegExp(`${aliceTask}\\s+alice\\s`));
    expect(all.stdout).toMatch(new RegExp(`${bobTask}\\s+bob\\s`));
    // A user's table has no OWNER column (every row would be its own name).
    expect((await cc("alice", ["ps", "--all"])).stdout.split("\n")[0]).toMatch(/^ID\s+STATUS/);
    const me = await client(TOKENS.root).whoAmI({});
    expect(me).toMatchObject({ name: "root", role: Role.ADMIN, shared: true });
    // A request id is joined by its own caller only: another's Run with it is refused, naming no task.
    const events = [];
    for await (const e of client(TOKENS.alice).run({ prompt: "say once", requestId: "alice-req-1" })) events.push(e);
    const again = [];
    for await (const e of client(TOKENS.alice).run({ prompt: "say once", requestId: "alice-req-1" })) again.push(e);
    expect(again[0]?.taskId).toBe(events[0]?.taskId);
    const stolen = await (async () => {
      for await (const _ of client(TOKENS.bob).run({ prompt: "say once", requestId: "alice-req-1" }));
    })().then(() => undefined, (e: unknown) => ConnectError.from(e));
    expect(stolen?.code).toBe(Code.AlreadyExists);
    expect(stolen?.rawMessage).toBe("request_id is already used by a task of another caller; choose another (a fresh UUID)");

    // The admin acts on anyone's task.
    expect((await cc("root", ["cancel", bobTask])).code).toBe(0);
    expect(await statusOf(bobTask)).toBe(TaskStatus.CANCELLED);
  });

  it("a running quota of one queues the second task; a queued quota of one refuses the third", async () => {
    const first = await detached("carol", "hang one");
    await until(async () => (await statusOf(first)) === TaskStatus.RUNNING);
    const second = await detached("carol", "hang two");
    await until(async () => (await client(TOKENS.carol).getTask({ taskId: second })).latestLine.includes('quota "running"'));
    const waiting = await client(TOKENS.carol).getTask({ taskId: second });
    expect(waiting.status).toBe(TaskStatus.QUEUED);
    expect(waiting.latestLine).toBe("waiting for one of carol's own tasks to end: quota \"running\" is 1 task at once");
    // Others are not held back by carol's quota.
    const alice = await detached("alice", "hang for alice");
    await until(async () => (await statusOf(alice)) === TaskStatus.RUNNING);

    const third = await cc("carol", ["run", "-d", "hang three"]);
    expect(third.code).toBe(4);
    expect(third.stderr).toBe(
      'cc: the router refused: quota "queued" for carol is 1 task waiting at once, and 1 are waiting; it frees as soon as one of them starts or is cancelled (`cc ps`)\n',
    );
    // The first ends: the second starts.
    expect((await cc("carol", ["cancel", first])).code).toBe(0);
    await until(async () => (await statusOf(second)) === TaskStatus.RUNNING);
    for (const id of [second, alice]) expect((await cc("root", ["cancel", id])).code).toBe(0);
  });

  it("a daily budget below one task's cost: claude stops the task that crosses it, and the next is refused with the reset time", async () => {
    const first = await cc("dave", ["run", "a costly question"]);
    // The budget reached claude as --max-budget-usd for what was left: claude stopped once its cost passed it.
    expect(first.code).toBe(1);
    expect(first.stderr).toContain("✗ stopped by claude at its budget (--max-budget-usd, or what was left of yours: see `cc usage`)");
    const id = /task ([0-9a-z]{26})/.exec(first.stderr)![1]!;
    const record = await client(TOKENS.dave).getTask({ taskId: id });
    expect(record.agent?.maxBudgetUsd).toBe(0.000001);
    expect(record.exit?.result?.subtype).toBe("error_max_budget_usd");
    const cost = record.exit?.result?.totalCostUsd ?? 0;
    expect(cost).toBeGreaterThan(0.000001);

    const second = await cc("dave", ["run", "another one"]);
    expect(second.code).toBe(4);
    const now = new Date();
    const reset = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1)).toISOString();
    expect(second.stderr).toBe(
      `cc: the router refused: budget "daily" for dave is $0.000001, and its tasks have cost $${Number(cost.toFixed(6))} today (claude's own estimate); it resets at ${reset}\n`,
    );
    const me = await client(TOKENS.dave).whoAmI({});
    expect(me).toMatchObject({ name: "dave", role: Role.USER, spentTodayUsd: cost, quotas: { dailyUsd: 0.000001 } });
  });

  it("cc usage adds up the tasks' result summaries, per owner; a user sees its own only", async () => {
    const tasks = (await ps("root")).filter((t) => t.exit?.result?.totalCostUsd);
    expect(tasks.length).toBeGreaterThan(1);
    const r = await cc("root", ["usage", "--json", "--since", "1h"]);
    expect(r.code, r.stderr).toBe(0);
    const usage = JSON.parse(r.stdout) as { by: string; groups: { key: string; costUsd: number; tasks: number; inputTokens: number }[]; total: { costUsd: number; inputTokens: number; outputTokens: number } };
    const sum = (f: (t: TaskJson) => number, list = tasks) => list.reduce((n, t) => n + f(t), 0);
    expect(usage.by).toBe("owner");
    expect(usage.total.costUsd).toBeCloseTo(sum((t) => t.exit!.result!.totalCostUsd!), 9);
    expect(usage.total.inputTokens).toBe(sum((t) => Number(t.exit!.result!.usage?.inputTokens ?? 0)));
    expect(usage.total.outputTokens).toBe(sum((t) => Number(t.exit!.result!.usage?.outputTokens ?? 0)));
    const dave = tasks.filter((t) => t.owner === "dave");
    expect(usage.groups.find((g) => g.key === "dave")?.costUsd).toBeCloseTo(sum((t) => t.exit!.result!.totalCostUsd!, dave), 9);

    const own = JSON.parse((await cc("alice", ["usage", "--json", "--by", "worker"])).stdout) as { groups: { key: string }[]; total: { tasks: number } };
    expect(own.total.tasks).toBe((await ps("alice")).filter((t) => t.status !== "TASK_STATUS_RUNNING" && t.status !== "TASK_STATUS_QUEUED").length);
    expect(own.groups.map((g) => g.key)).toEqual(["w1"]);
    // By model: the model claude ran with, from its init event (kept in the record).
    const byModel = JSON.parse((await cc("root", ["usage", "--json", "--since", "1h", "--by", "model"])).stdout) as { groups: { key: string; tasks: number }[] };
    expect(tasks.every((t) => t.model?.startsWith("claude-"))).toBe(true);
    const ended = (await ps("root")).filter((t) => t.status !== "TASK_STATUS_RUNNING" && t.status !== "TASK_STATUS_QUEUED");
    const models = [...new Set(ended.map((t) => t.model || "default"))];
    expect(byModel.groups.map((g) => g.key).sort()).toEqual(models.sort());

    // The same per owner in /metrics, with a label value for each identity of the file (few and known).
    const metrics = await (await fetch(`${url}/metrics`)).text();
    const series = (name: string) => Number(metrics.split("\n").find((line) => line.startsWith(`${name} `))?.split(" ")[1] ?? NaN);
    expect(series('claudecluster_router_owner_cost_usd_total{owner="dave"}')).toBeCloseTo(sum((t) => t.exit!.result!.totalCostUsd!, dave), 9);
    expect(series('claudecluster_router_owner_tasks_ended_total{owner="alice"}')).toBe((await ps("alice")).filter((t) => t.status !== "TASK_STATUS_RUNNING").length);
    const table = await cc("root", ["usage"]);
    expect(table.stdout.split("\n")[0]).toMatch(/^OWNER\s+TASKS\s+INPUT\s+OUTPUT\s+CACHE\s+COST\s+DURATION/);
    expect(table.stderr).toContain("cost is claude's own estimate");
  });

  it("a user's token cannot register a worker; the worker token can, but not over an online id", async () => {
    const info = { workerId: "w1", capacity: 1, claudeVersion: "x" };
    const asUser = await client(TOKENS.alice)
      .registerWorker({ url: "http://127.0.0.1:1", info })
      .then(() => undefined, (e: unknown) => ConnectError.from(e));
    expect(asUser?.code).toBe(Code.Unauthenticated);
    const takeover = await client("worker-token")
      .registerWorker({ url: "http://127.0.0.1:1", info })
      .then(() => undefined, (e: unknown) => ConnectError.from(e));
    expect(takeover?.code).toBe(Code.AlreadyExists);
  });

  it("SIGHUP reloads the tokens file; a broken one is logged and the last good one kept", async () => {
    const file = join(root, "hup-tokens");
    writeFileSync(file, `erin user ${sha("erin-1")}\n`);
    const proc = await spawnRouterProcess({ CC_STORE: "memory", CC_WEB: "off", CC_TOKENS_FILE: file, CC_WORKER_TOKEN: "worker-token", CC_LOG_FORMAT: "json" });
    try {
      const as = (token: string) =>
        createClient(RouterService, createGrpcTransport({ baseUrl: proc.url, interceptors: [(next) => (req) => (req.header.set("authorization", `Bearer ${token}`), next(req))] }));
      const code = (token: string) => as(token).whoAmI({}).then((r) => r.name, (e: unknown) => ConnectError.from(e).code);
      expect(await code("erin-1")).toBe("erin");
      const logged = (text: string) => until(() => proc.logs.some((l) => l.includes(text)));

      // Broken: a duplicate token. The router says why and keeps erin.
      writeFileSync(file, `erin user ${sha("erin-2")}\nfrank user ${sha("erin-2")}\n`);
      proc.child.kill("SIGHUP");
      await logged("CC_TOKENS_FILE not reloaded");
      expect(proc.logs.find((l) => l.includes("CC_TOKENS_FILE not reloaded"))).toContain(`${file}:2: duplicate token: line 1 has the same one`);
      expect(await code("erin-1")).toBe("erin");
      expect(await code("erin-2")).toBe(Code.Unauthenticated);

      // Fixed: the new file holds, the old token is revoked.
      writeFileSync(file, `erin user ${sha("erin-2")}\nfrank admin ${sha("frank-1")}\n`);
      proc.child.kill("SIGHUP");
      await until(async () => (await code("frank-1")) === "frank");
      expect(await code("erin-2")).toBe("erin");
      expect(await code("erin-1")).toBe(Code.Unauthenticated);
      // No token, no digest in the log.
      expect(proc.logs.join("\n")).not.toMatch(/erin-1|erin-2|frank-1/);
    } finally {
      proc.child.kill("SIGTERM");
      await proc.exited;
    }
  });

  it("a malformed tokens file stops the router at start, naming the line", () => {
    const bad = join(root, "bad-tokens");
    writeFileSync(bad, `alice user ${sha("a")}\nbob boss b\n`);
    const r = spawnSync(NODE, [ROUTER_MAIN], { env: { ...baseEnv, PORT: "0", CC_HOST: "127.0.0.1", CC_STORE: "memory", CC_TOKENS_FILE: bad, CC_WORKER_TOKEN: "worker-token" }, encoding: "utf8", timeout: 30_000 });
    expect(r.status).toBe(2);
    expect(r.stderr).toBe(`router: CC_TOKENS_FILE: ${bad}:2: unknown role "boss": use admin or user\n`);
    // Identities without a worker token: anyone could register a worker, so the router does not start.
    writeFileSync(bad, `alice user ${sha("a")}\n`);
    const open = spawnSync(NODE, [ROUTER_MAIN], { env: { ...baseEnv, PORT: "0", CC_HOST: "127.0.0.1", CC_STORE: "memory", CC_TOKENS_FILE: bad }, encoding: "utf8", timeout: 30_000 });
    expect(open.status).toBe(2);
    expect(open.stderr).toBe("router: CC_TOKENS_FILE needs CC_WORKER_TOKEN (or CC_WORKER_TOKEN_FILE) too: without it anyone could register a worker and receive every user's tasks\n");
  });
});

describe("teams across a router restart (SQLite store)", () => {
  let model: ScriptedModel;
  let root: string;
  const routers: Router[] = [];
  let worker: TestWorker | undefined;

  afterAll(async () => {
    await worker?.close();
    for (const r of routers) await r.shutdown(0);
    await model?.close();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it("owners and spend survive a restart: the restarted router still scopes the tasks and refuses the spent budget", async () => {
    root = realpathSync(mkdtempSync(join(tmpdir(), "cc-test-teams-restart-")));
    const tokensFile = join(root, "tokens");
    writeFileSync(tokensFile, `dave user ${sha(TOKENS.dave)} daily=0.000001\nalice user ${sha(TOKENS.alice)}\n`);
    model = await startModel(SCRIPT);
    const settings = { PORT: "0", CC_HOST: "127.0.0.1", CC_HEARTBEAT_INTERVAL: "1s", CC_WEB: "off", CC_STORE: "sqlite", CC_DATA_DIR: join(root, "data"), CC_TOKENS_FILE: tokensFile, CC_WORKER_TOKEN: "worker-token" };
    const start = async () => {
      const router = createRouter(readRouterSettings(settings), { logger: silentLogger() });
      routers.push(router);
      return { router, url: `http://127.0.0.1:${await router.listen()}` };
    };
    const as = (url: string, token: string) =>
      createClient(RouterService, createGrpcTransport({ baseUrl: url, interceptors: [(next) => (req) => (req.header.set("authorization", `Bearer ${token}`), next(req))] }));

    const first = await start();
    worker = await startTestWorker({ ...modelEnv(model), CC_WORKER_ID: "w1", CC_ROUTER_URL: first.url, CC_WORKER_TOKEN: "worker-token" });
    await until(() => first.router.registry.list().some((w) => first.router.registry.health(w) === WorkerHealth.ONLINE));
    let taskId = "";
    for await (const e of as(first.url, TOKENS.dave).run({ prompt: "what does it cost" })) taskId ||= e.taskId;
    const cost = (await as(first.url, TOKENS.dave).getTask({ taskId })).exit?.result?.totalCostUsd ?? 0;
    expect(cost).toBeGreaterThan(0);
    await worker.close();
    worker = undefined;
    await first.router.shutdown(0);

    // A new router on the same store, no worker: the task is still dave's, and dave has still spent his budget.
    const second = await start();
    expect((await as(second.url, TOKENS.dave).listTasks({})).tasks.map((t) => [t.id, t.owner])).toEqual([[taskId, "dave"]]);
    expect((await as(second.url, TOKENS.alice).listTasks({})).tasks).toEqual([]);
    const hidden = await as(second.url, TOKENS.alice)
      .getTask({ taskId })
      .then(() => undefined, (e: unknown) => ConnectError.from(e));
    expect(hidden?.code).toBe(Code.NotFound);
    expect((await as(second.url, TOKENS.dave).whoAmI({})).spentTodayUsd).toBeCloseTo(cost, 12);
    const refused = await (async () => {
      for await (const _ of as(second.url, TOKENS.dave).run({ prompt: "again" }));
    })().then(() => undefined, (e: unknown) => ConnectError.from(e));
    expect(refused?.code).toBe(Code.ResourceExhausted);
    expect(refused?.rawMessage).toMatch(/^budget "daily" for dave is \$0\.000001, and its tasks have cost \$[0-9.]+ today \(claude's own estimate\); it resets at \d{4}-\d{2}-\d{2}T00:00:00\.000Z$/);
  });
});
