// Routines end to end: a router (its routine clock a manual one, so schedules and backoffs move when the test says)
// and a real worker running the real claude against the scripted model. A schedule fires; overlap skip skips while
// a run waits on a gate; the fire endpoint starts a task with the right token and refuses a wrong one; a webhook
// receiver verifies the signature and sees one retry after a 500; a failing routine is retried N times, each
// attempt a new task; a missed run after a router restart (SQLite) follows the policy; the cc commands (save with
// bad input, apply -f of deploy/routines, ls, run --set, watch on a temporary directory) do what the README says.
import { spawn } from "node:child_process";
import { createServer, type Server } from "node:http";
import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RouterService, TaskStatus, type Task } from "../../gen/claudecluster/v1/router_pb.js";
import { MissedRunPolicy, OverlapPolicy, RoutineSchema, RoutineService, SaveRoutineRequestSchema } from "../../gen/claudecluster/v1/routines_pb.js";
import { silentLogger } from "../../services/common/logger.js";
import { ManualClock, signature } from "../../services/router/routines/index.js";
import { createRouter, type Router } from "../../services/router/server.js";
import { readRouterSettings } from "../../services/router/settings.js";
import type { Script, ScriptedModel } from "../../services/scripted-model/index.js";
import { runCommand } from "../helpers/command.js";
import { modelEnv, startModel } from "../helpers/model.js";
import { until } from "../helpers/wait.js";
import { startTestWorker, type TestWorker } from "../helpers/worker.js";

const CC = new URL("../../dist/cc/main.js", import.meta.url).pathname;
const T0 = Date.parse("2026-01-05T00:00:30Z");

const script: Script = {
  conversations: [
    // Waits in a Bash call for the gate file in its working directory, then answers.
    {
      match: "gated ",
      turns: [
        { content: [{ type: "tool_use", name: "Bash", input: { command: "while [ ! -e gate ]; do sleep 0.2; done; echo gate-open", description: "Wait for the gate" } }] },
        { content: [{ type: "text", text: "gated run done" }] },
      ],
    },
    // The API refuses, for good: claude ends with an error, and the task fails.
    { match: "always fails ", turns: [{ content: [], error: { status: 400, type: "invalid_request_error", message: "scripted refusal", retry: false } }] },
    { turns: [{ content: [{ type: "text", text: "answer to: {{prompt}}" }] }] },
  ],
};

const userText = (model: ScriptedModel) => model.mainRequests().map((r) => JSON.stringify(r.body));

describe("routines (real claude, scripted model)", () => {
  let model: ScriptedModel;
  let worker: TestWorker;
  let router: Router;
  let url: string;
  let clock: ManualClock;
  let routines: Client<typeof RoutineService>;
  let tasks: Client<typeof RouterService>;
  const roots: string[] = [];

  function routerOn(env: Record<string, string>, c: ManualClock): Router {
    return createRouter(
      readRouterSettings({ CC_STORE: "memory", PORT: "0", CC_HOST: "127.0.0.1", CC_HEARTBEAT_INTERVAL: "500ms", CC_LOG_LEVEL: "silent", CC_WORKERS: worker.url, ...env }),
      { logger: silentLogger(), clock: c },
    );
  }

  const ended = async (taskId: string): Promise<Task> => {
    let task: Task | undefined;
    await until(async () => {
      task = await tasks.getTask({ taskId });
      return task.endedAt !== undefined;
    }, 50_000);
    return task!;
  };

  const save = (routine: Parameters<typeof create<typeof RoutineSchema>>[1], extra: { newFireToken?: boolean; replace?: boolean } = {}) =>
    routines.saveRoutine(create(SaveRoutineRequestSchema, { routine: create(RoutineSchema, routine), ...extra }));

  beforeAll(async () => {
    model = await startModel(script);
    worker = await startTestWorker({ ...modelEnv(model), CC_MAX_SESSIONS: "4" });
    clock = new ManualClock(T0);
    router = routerOn({}, clock);
    url = `http://127.0.0.1:${await router.listen()}`;
    routines = createClient(RoutineService, createGrpcTransport({ baseUrl: url }));
    tasks = createClient(RouterService, createGrpcTransport({ baseUrl: url }));
    await until(async () => (await tasks.listWorkers({})).workers.length === 1);
  });

  afterAll(async () => {
    await router?.shutdown(0);
    await worker?.close();
    await model?.close();
    for (const r of roots) rmSync(r, { recursive: true, force: true });
  });

  it("a schedule fires, and overlap skip skips while the run goes", async () => {
    await save({ name: "gated", prompt: "gated run", schedule: { cron: "* * * * *", overlap: OverlapPolicy.SKIP }, task: { agent: { allowedTools: ["Bash"] }, workspace: { source: { case: "directory", value: "gated" } } } });
    expect((await routines.getRoutine({ name: "gated" })).nextRunAt?.seconds).toBe(BigInt((T0 + 30_000) / 1000));
    clock.advance(30_000);
    let taskId = "";
    await until(async () => {
      taskId = (await routines.getRoutine({ name: "gated" })).lastRun?.firstTaskId ?? "";
      return taskId !== "" && (await tasks.getTask({ taskId })).status === TaskStatus.RUNNING;
    });
    clock.advance(60_000);
    await until(async () => (await routines.getRoutine({ name: "gated" })).skippedRuns === 1);
    expect((await tasks.listTasks({ limit: 100 })).tasks.filter((t) => t.promptSummary.startsWith("gated run"))).toHaveLength(1);
    mkdirSync(join(worker.workspaces, "gated"), { recursive: true });
    writeFileSync(join(worker.workspaces, "gated", "gate"), "");
    expect((await ended(taskId)).status).toBe(TaskStatus.SUCCEEDED);
    await until(async () => (await routines.getRoutine({ name: "gated" })).lastRun?.outcome === "succeeded");
    await routines.deleteRoutine({ name: "gated" });
  });

  it("POST /routines/NAME/fire starts a task with the right token and refuses a wrong one; FireRoutine does too", async () => {
    const saved = await save({ name: "ci-check", prompt: "check {{what}}", defaults: { what: "the build" } }, { newFireToken: true });
    const fire = (token: string, body: object) =>
      fetch(`${url}/routines/ci-check/fire`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify(body) });
    const wrong = await fire("ccr_not-the-token", { text: "nope" });
    expect(wrong.status).toBe(401);
    expect(await wrong.json()).toEqual({ error: "wrong or missing fire token: send Authorization: Bearer <the routine's fire token>", code: "unauthenticated" });
    const before = (await tasks.listTasks({ limit: 100 })).tasks.length;
    const ok = await fire(saved.fireToken, { text: "Commit abc123 is new." });
    expect(ok.status).toBe(202);
    const { task_id: taskId } = (await ok.json()) as { task_id: string };
    expect((await ended(taskId)).status).toBe(TaskStatus.SUCCEEDED);
    expect(userText(model).some((t) => t.includes("check the build\\n\\nCommit abc123 is new."))).toBe(true);
    expect((await tasks.listTasks({ limit: 100 })).tasks.length).toBe(before + 1);
    // A placeholder without a value: refused, with the flag to pass.
    await save({ name: "ci-check", prompt: "check {{what}} on {{branch}}" }, { replace: true });
    const missing = await fire(saved.fireToken, {});
    expect(missing.status).toBe(400);
    expect(((await missing.json()) as { error: string }).error).toBe("values: the prompt's {{what}}, {{branch}} have no value; pass --set what=VALUE --set branch=VALUE (or give the routine a default)");
    const rpc = await routines.fireRoutine({ name: "ci-check", values: { what: "the docs", branch: "main" } });
    expect((await ended(rpc.taskId)).status).toBe(TaskStatus.SUCCEEDED);
  });

  it("a webhook receiver verifies the signature and sees one retry after answering 500 once", async () => {
    const seen: { body: string; sig: string }[] = [];
    const receiver: Server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        seen.push({ body: Buffer.concat(chunks).toString(), sig: String(req.headers["x-claudecluster-signature-256"]) });
        res.statusCode = seen.length === 1 ? 500 : 200;
        res.end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r));
    try {
      const hook = `http://127.0.0.1:${(receiver.address() as { port: number }).port}/`;
      await save({ name: "hooked", prompt: "hooked run", webhook: { url: hook, secret: "team-secret" } });
      const { taskId } = await routines.fireRoutine({ name: "hooked" });
      await ended(taskId);
      await until(() => seen.length === 1 && clock.pending > 0);
      clock.advance(1000);
      await until(async () => (await routines.getRoutine({ name: "hooked" })).lastDelivery?.outcome === "delivered");
      expect(seen).toHaveLength(2);
      for (const s of seen) expect(s.sig).toBe(signature("team-secret", s.body));
      expect(JSON.parse(seen[1]!.body)).toMatchObject({ event: "task.ended", routine: "hooked", task_id: taskId, status: "succeeded", result: "answer to: hooked run" });
      expect((await routines.getRoutine({ name: "hooked" })).lastDelivery).toMatchObject({ httpStatus: 200, attempts: 2 });
    } finally {
      await new Promise<void>((r) => receiver.close(() => r()));
    }
  });

  it("a failing routine is retried N times, each attempt a new task linked to the first", async () => {
    await save({ name: "flaky", prompt: "always fails here", retry: { maxRetries: 2, backoff: { seconds: 1n } } });
    const { taskId } = await routines.fireRoutine({ name: "flaky" });
    expect((await ended(taskId)).status).toBe(TaskStatus.FAILED);
    for (const [attempt, waitMs] of [
      [2, 1000],
      [3, 2000],
    ] as const) {
      await until(() => clock.pending > 0 && (router.routines as unknown as { pending: Set<unknown> }).pending.size > 0);
      clock.advance(waitMs);
      await until(async () => (await routines.getRoutine({ name: "flaky" })).lastRun?.taskIds.length === attempt);
      expect((await ended((await routines.getRoutine({ name: "flaky" })).lastRun!.taskIds.at(-1)!)).status).toBe(TaskStatus.FAILED);
    }
    await until(async () => (await routines.getRoutine({ name: "flaky" })).lastRun?.outcome === "failed");
    const run = (await routines.getRoutine({ name: "flaky" })).lastRun!;
    expect(run.firstTaskId).toBe(taskId);
    expect(new Set(run.taskIds).size).toBe(3);
    expect((await tasks.getTask({ taskId })).routine).toBe("flaky");
    for (const id of run.taskIds.slice(1)) {
      const retry = await tasks.getTask({ taskId: id });
      expect(retry.requestId).toMatch(new RegExp(`^routine/${taskId}/retry/[12]$`));
      expect([retry.routine, retry.retryOf]).toEqual(["flaky", taskId]);
    }
  });

  it("refuses an invalid cron expression, an unknown time zone and a duplicate name with clear codes", async () => {
    const codeOf = async (p: Promise<unknown>) => {
      try {
        await p;
      } catch (err) {
        return [ConnectError.from(err).code, ConnectError.from(err).rawMessage] as const;
      }
      return [undefined, ""] as const;
    };
    expect((await codeOf(save({ name: "bad", prompt: "p", schedule: { cron: "every day" } })))[0]).toBe(Code.InvalidArgument);
    expect(await codeOf(save({ name: "bad", prompt: "p", schedule: { cron: "0 9 * * *", timeZone: "Europe/Atlantis" } }))).toEqual([
      Code.InvalidArgument,
      'schedule.time_zone: unknown time zone "Europe/Atlantis"; use an IANA name such as UTC, Europe/Paris or America/New_York',
    ]);
    await save({ name: "twice", prompt: "p" });
    expect((await codeOf(save({ name: "twice", prompt: "p" })))[0]).toBe(Code.AlreadyExists);
  });

  it("buf curl (an independent client, from the .proto alone) saves and fires a routine, and is refused with the right codes", async () => {
    const buf = (protocol: string, method: string, body: object) =>
      runCommand(new URL("../../node_modules/.bin/buf", import.meta.url).pathname, [
        "curl",
        "--protocol", protocol,
        ...(protocol === "grpc" ? ["--http2-prior-knowledge"] : []),
        "--schema", new URL("../../proto", import.meta.url).pathname,
        "-d", JSON.stringify(body),
        `${url}/claudecluster.v1.RoutineService/${method}`,
      ]);
    const saved = await buf("connect", "SaveRoutine", { routine: { name: "from-buf", prompt: "from buf curl for {{who}}", schedule: { cron: "0 12 * * *", timeZone: "Asia/Tokyo", overlap: "OVERLAP_POLICY_QUEUE" } } });
    expect(saved.stderr).toBe("");
    expect(JSON.parse(saved.stdout)).toMatchObject({ created: true, routine: { name: "from-buf", schedule: { overlap: "OVERLAP_POLICY_QUEUE" }, nextRunAt: expect.any(String) } });
    const dup = await buf("grpc", "SaveRoutine", { routine: { name: "from-buf", prompt: "again" } });
    expect(dup.stderr).toContain("already_exists");
    const fired = await buf("grpc", "FireRoutine", { name: "from-buf", values: { who: "the contract" } });
    const { taskId } = JSON.parse(fired.stdout) as { taskId: string };
    expect((await ended(taskId)).status).toBe(TaskStatus.SUCCEEDED);
    expect(userText(model).some((t) => t.includes("from buf curl for the contract"))).toBe(true);
    const missing = await buf("grpc", "FireRoutine", { name: "from-buf" });
    expect(missing.stderr).toContain("invalid_argument");
    expect(missing.stderr).toContain("{{who}} has no value");
  });

  describe("cc", () => {
    const cc = (args: string[]) => runCommand("node", [CC, ...args], { CC_ROUTER_URL: url, NO_COLOR: "1", NIGHTLY_WEBHOOK_SECRET: "from-the-ci-secrets" });

    it("cc routine save refuses bad input; apply -f deploy/routines; ls shows next and last run; run --set streams the answer", async () => {
      const bad = await cc(["routine", "save", "x", "--schedule", "0 25 * * *", "hello"]);
      expect(bad.code).not.toBe(0);
      expect(bad.stderr).toMatch(/^cc: the router refused: schedule\.cron: "0 25 \* \* \*" is not a cron expression/);
      const tz = await cc(["routine", "save", "x", "--schedule", "0 9 * * *", "--tz", "Nowhere/Land", "hello"]);
      expect(tz.stderr).toContain('schedule.time_zone: unknown time zone "Nowhere/Land"');
      const applied = await cc(["routine", "apply", "-f", new URL("../../deploy/routines", import.meta.url).pathname]);
      expect(applied.stderr).toBe("");
      expect(applied.code).toBe(0);
      expect(applied.stdout).toMatch(/routine nightly-tests created/);
      const again = await cc(["routine", "apply", "-f", new URL("../../deploy/routines", import.meta.url).pathname]);
      expect(again.stdout).toMatch(/routine nightly-tests configured/);
      expect((await cc(["routine", "save", "nightly-tests", "hi"])).stderr).toContain("routine nightly-tests already exists");
      const ran = await cc(["routine", "run", "review", "--set", "branch=feature-x"]);
      expect(ran.stderr.split("\n").filter((l) => l.startsWith("cc:"))).toEqual([]);
      expect(ran.code).toBe(0);
      expect(ran.stdout).toContain("answer to: Review the changes on feature-x");
      const missing = await cc(["routine", "run", "review"]);
      expect(missing.stderr).toContain("pass --set branch=VALUE");
      const ls = await cc(["routine", "ls"]);
      expect(ls.stdout.split("\n")[0]).toMatch(/^NAME\s+SCHEDULE\s+NEXT RUN\s+LAST RUN\s+OUTCOME\s+TASK$/);
      expect(ls.stdout).toMatch(/nightly-tests\s+0 3 \* \* 1-5 \(Europe\/Paris\)\s+2026-01-\d\d 02:00Z\s+-\s+-/);
      expect(ls.stdout).toMatch(/review\s+-\s+-\s+\d{4}-\d\d-\d\d \d\d:\d\dZ\s+succeeded\s+\S+/);
      const json = JSON.parse((await cc(["routine", "ls", "--json"])).stdout) as { name: string }[];
      expect(json.map((r) => r.name)).toContain("nightly-tests");
      expect((await cc(["routine", "rm", "review"])).stdout).toBe("routine review removed\n");
      expect((await cc(["routine", "show", "review"])).stderr).toContain("routine review not found");
    });

    it("cc watch on a temporary directory runs one task for a burst of writes and passes the changed paths, not those git ignores", async () => {
      const dir = realpathSync(mkdtempSync(join(tmpdir(), "cc-watch-")));
      roots.push(dir);
      await save({ name: "on-change", prompt: "Look at these files: {{changed}}" });
      // A git checkout whose .gitignore leaves out logs: cc watch asks git.
      expect((await runCommand("git", ["init", "-q", dir])).code).toBe(0);
      writeFileSync(join(dir, ".gitignore"), "*.log\n");
      const child = spawn("node", [CC, "watch", ".", "--routine", "on-change", "--debounce", "400ms"], { cwd: dir, env: { ...process.env, CC_ROUTER_URL: url, NO_COLOR: "1" } });
      let stderr = "";
      child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
      const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
      await until(() => stderr.includes("watching"));
      mkdirSync(join(dir, "sub"));
      for (const f of ["a.txt", "b.txt", "sub/c.txt", "debug.log"]) writeFileSync(join(dir, f), "x");
      for (const f of ["a.txt", "b.txt"]) writeFileSync(join(dir, f), "y");
      await until(() => /task \S+ succeeded/.test(stderr), 50_000).catch((err) => {
        throw new Error(`${String(err)}; cc watch printed: ${stderr}`);
      });
      expect(stderr.match(/→ task/g)).toHaveLength(1);
      const prompt = userText(model).find((t) => t.includes("Look at these files:"))!;
      for (const f of ["a.txt", "b.txt", "sub/c.txt"]) expect(prompt).toContain(f);
      expect(prompt).not.toContain("debug.log");
      expect(prompt).not.toContain(".git/");
      child.kill("SIGINT");
      expect(await exited).toBe(0);
    });

    it("cc watch --prompt runs its own prompt with the changed paths appended", async () => {
      const dir = realpathSync(mkdtempSync(join(tmpdir(), "cc-watch-prompt-")));
      roots.push(dir);
      const child = spawn("node", [CC, "watch", dir, "--prompt", "Summarise what changed", "--debounce", "300ms"], { cwd: realpathSync(tmpdir()), env: { ...process.env, CC_ROUTER_URL: url, NO_COLOR: "1" } });
      let stderr = "";
      child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
      const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
      await until(() => stderr.includes("watching"));
      writeFileSync(join(dir, "notes.md"), "x");
      await until(() => /task \S+ succeeded/.test(stderr), 50_000);
      const rel = join(dir, "notes.md").slice(realpathSync(tmpdir()).length + 1);
      expect(userText(model).some((t) => t.includes(`Summarise what changed\\n\\nFiles changed:\\n- ${rel}`))).toBe(true);
      child.kill("SIGINT");
      expect(await exited).toBe(0);
    });
  });

  it("a missed run after a router restart follows the routine's policy (SQLite)", async () => {
    const data = realpathSync(mkdtempSync(join(tmpdir(), "cc-routines-restart-")));
    roots.push(data);
    const env = { CC_STORE: "sqlite", CC_DATA_DIR: data };
    const first = routerOn(env, new ManualClock(T0));
    const firstUrl = `http://127.0.0.1:${await first.listen()}`;
    const c = createClient(RoutineService, createGrpcTransport({ baseUrl: firstUrl }));
    // Every six hours: the next is 06:00, missed by a router that is down until 07:00.
    for (const [name, missed] of [
      ["missed-once", MissedRunPolicy.RUN_ONCE],
      ["missed-skip", MissedRunPolicy.SKIP],
    ] as const) {
      await c.saveRoutine(create(SaveRoutineRequestSchema, { routine: create(RoutineSchema, { name, prompt: `${name} run`, schedule: { cron: "0 */6 * * *", missed } }) }));
    }
    await first.shutdown(0);
    const later = new ManualClock(Date.parse("2026-01-05T07:00:00Z"));
    const second = routerOn(env, later);
    const secondUrl = `http://127.0.0.1:${await second.listen()}`;
    try {
      const c2 = createClient(RoutineService, createGrpcTransport({ baseUrl: secondUrl }));
      const t2 = createClient(RouterService, createGrpcTransport({ baseUrl: secondUrl }));
      // A submit refused while the worker is not seen yet is tried again a second later (on this clock).
      await until(async () => {
        later.advance(1000);
        return (await c2.getRoutine({ name: "missed-once" })).lastRun?.outcome === "succeeded";
      }, 50_000);
      const once = await c2.getRoutine({ name: "missed-once" });
      expect(once.lastRun?.trigger).toBe("missed");
      expect((await t2.getTask({ taskId: once.lastRun!.firstTaskId })).status).toBe(TaskStatus.SUCCEEDED);
      const skip = await c2.getRoutine({ name: "missed-skip" });
      expect(skip.lastRun).toBeUndefined();
      expect(new Date(Number(skip.nextRunAt!.seconds) * 1000).toISOString()).toBe("2026-01-05T12:00:00.000Z");
      expect((await t2.listTasks({ limit: 100 })).tasks.filter((t) => t.promptSummary.startsWith("missed-"))).toHaveLength(1);
    } finally {
      await second.shutdown(0);
    }
  });
});
