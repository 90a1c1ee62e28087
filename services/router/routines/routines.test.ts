// Routines against a fake dispatcher (tasks end when the test says) and a manual clock: schedules, overlap,
// missed runs after a restart, retries, webhooks and bad input. No sleeps: time moves only by clock.advance.
import { createServer, type Server } from "node:http";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import { TaskSchema, TaskStatus, type Task } from "../../../gen/claudecluster/v1/router_pb.js";
import { Phase, type RunRequest } from "../../../gen/claudecluster/v1/run_pb.js";
import { MissedRunPolicy, OverlapPolicy, RoutineSchema, SaveRoutineRequestSchema, WebhookSchema } from "../../../gen/claudecluster/v1/routines_pb.js";
import { silentLogger } from "../../common/logger.js";
import { until } from "../../../test/helpers/wait.js";
import type { Identity } from "../identity/identities.js";
import { ManualClock } from "./clock.js";
import { Routines } from "./routines.js";
import { MemoryRoutineStore } from "./store.js";
import { signature } from "./webhook.js";

const T0 = Date.parse("2026-01-05T08:00:00Z");

/** A dispatcher whose tasks end when `end(id, status)` is called. */
function fakeCluster() {
  const submitted: RunRequest[] = [];
  const callers: (Identity | undefined)[] = [];
  const waiting = new Map<string, (t: Task) => void>();
  const ended = new Map<string, Task>();
  return {
    submitted,
    callers,
    submit: async (req: RunRequest, caller?: Identity) => {
      submitted.push(req);
      callers.push(caller);
      return `task-${submitted.length}`;
    },
    ended: (id: string) => new Promise<Task>((resolve) => (ended.has(id) ? resolve(ended.get(id)!) : waiting.set(id, resolve))),
    end(id: string, status: TaskStatus) {
      const task = create(TaskSchema, { id, status, exit: { message: status === TaskStatus.FAILED ? "claude failed" : "" } });
      ended.set(id, task);
      waiting.get(id)?.(task);
    },
  };
}

function setup(store = new MemoryRoutineStore(), clock = new ManualClock(T0)) {
  const cluster = fakeCluster();
  const routines = new Routines({ store, submit: cluster.submit, ended: cluster.ended, clock, logger: silentLogger() });
  return { routines, cluster, clock, store };
}

const save = (routines: Routines, routine: MessageInitShape<typeof RoutineSchema>, extra: { replace?: boolean; newFireToken?: boolean } = {}) =>
  routines.save(create(SaveRoutineRequestSchema, { routine: create(RoutineSchema, routine), ...extra }));

async function codeOf(p: Promise<unknown>): Promise<[Code, string]> {
  try {
    await p;
  } catch (err) {
    const e = ConnectError.from(err);
    return [e.code, e.rawMessage];
  }
  throw new Error("expected an error");
}

describe("saving routines", () => {
  it("refuses a duplicate name with ALREADY_EXISTS, and replaces with replace", async () => {
    const { routines } = setup();
    expect((await save(routines, { name: "nightly", prompt: "a" })).created).toBe(true);
    const [code, message] = await codeOf(save(routines, { name: "nightly", prompt: "b" }));
    expect(code).toBe(Code.AlreadyExists);
    expect(message).toBe("routine nightly already exists; change it with `cc routine apply -f FILE`, or remove it first with `cc routine rm nightly`");
    const replaced = await save(routines, { name: "nightly", prompt: "b" }, { replace: true });
    expect(replaced.created).toBe(false);
    expect((await routines.get("nightly")).prompt).toBe("b");
  });

  it("refuses an invalid cron expression, an unknown time zone and a bad name, naming the field", async () => {
    const { routines } = setup();
    const [c1, m1] = await codeOf(save(routines, { name: "r", prompt: "p", schedule: { cron: "61 * * * *" } }));
    expect(c1).toBe(Code.InvalidArgument);
    expect(m1).toMatch(/^schedule\.cron: "61 \* \* \* \*" is not a cron expression \(.+\); use five fields/);
    const [c2, m2] = await codeOf(save(routines, { name: "r", prompt: "p", schedule: { cron: "0 9 * * *", timeZone: "Mars/Olympus" } }));
    expect(c2).toBe(Code.InvalidArgument);
    expect(m2).toBe('schedule.time_zone: unknown time zone "Mars/Olympus"; use an IANA name such as UTC, Europe/Paris or America/New_York');
    const [c3, m3] = await codeOf(save(routines, { name: "Bad Name", prompt: "p" }));
    expect(c3).toBe(Code.InvalidArgument);
    expect(m3).toMatch(/^routine\.name: "Bad Name" is not a routine name/);
  });

  it("gives a fire token once, keeps only its hash, and checks it", async () => {
    const { routines } = setup();
    const saved = await save(routines, { name: "ci", prompt: "p" }, { newFireToken: true });
    expect(saved.fireToken).toMatch(/^ccr_/);
    expect(saved.routine.hasFireToken).toBe(true);
    expect(await routines.checkFireToken("ci", saved.fireToken)).toBe("ok");
    expect(await routines.checkFireToken("ci", "ccr_wrong")).toBe("wrong");
    expect(await routines.checkFireToken("nope", saved.fireToken)).toBe("no-routine");
    // Replacing without asking for a new token keeps the old one.
    await save(routines, { name: "ci", prompt: "q" }, { replace: true });
    expect(await routines.checkFireToken("ci", saved.fireToken)).toBe("ok");
  });
});

describe("firing", () => {
  it("fills the template from the run's values, then the defaults, and appends text", async () => {
    const { routines, cluster } = setup();
    await save(routines, { name: "review", prompt: "Review {{branch}} for {{team}}.", defaults: { team: "core" }, task: { agent: { model: "sonnet" } } });
    await routines.fire("review", "manual", { branch: "main" }, "Be brief.");
    expect(cluster.submitted[0]!.prompt).toBe("Review main for core.\n\nBe brief.");
    expect(cluster.submitted[0]!.agent?.model).toBe("sonnet");
    expect(cluster.submitted[0]!.detach).toBe(true);
  });

  it("refuses a placeholder without a value with INVALID_ARGUMENT naming it and the flag", async () => {
    const { routines, cluster } = setup();
    await save(routines, { name: "review", prompt: "Review {{branch}} and {{pr}}." });
    const [code, message] = await codeOf(routines.fire("review", "manual", { pr: "1" }));
    expect(code).toBe(Code.InvalidArgument);
    expect(message).toBe("values: the prompt's {{branch}} has no value; pass --set branch=VALUE (or give the routine a default)");
    expect(cluster.submitted).toHaveLength(0);
  });

  it("NOT_FOUND for an unknown routine", async () => {
    const { routines } = setup();
    const [code, message] = await codeOf(routines.fire("ghost", "manual"));
    expect(code).toBe(Code.NotFound);
    expect(message).toBe("routine ghost not found; list routines with `cc routine ls`");
  });
});

describe("schedules", () => {
  afterEach(() => undefined);

  it("fires at each scheduled time and records the next and last run", async () => {
    const { routines, cluster, clock } = setup();
    await routines.start();
    await save(routines, { name: "tick", prompt: "tick", schedule: { cron: "*/5 * * * *", timeZone: "UTC" } });
    expect((await routines.get("tick")).nextRunAt?.seconds).toBe(BigInt((T0 + 5 * 60_000) / 1000));
    clock.advance(5 * 60_000);
    await until(() => cluster.submitted.length === 1);
    expect(cluster.submitted[0]!.requestId).toBe(`routine/tick/${T0 + 5 * 60_000}/0`);
    cluster.end("task-1", TaskStatus.SUCCEEDED);
    await routines.idle();
    const r = await routines.get("tick");
    expect(r.lastRun).toMatchObject({ firstTaskId: "task-1", outcome: "succeeded", trigger: "schedule" });
    expect(r.nextRunAt?.seconds).toBe(BigInt((T0 + 10 * 60_000) / 1000));
    await routines.stop();
  });

  it("reads the expression in the routine's time zone", async () => {
    const { routines } = setup();
    await routines.start();
    // 09:00 in Paris is 08:00 UTC in January: T0 is 08:00 UTC, so the next is the next day's.
    await save(routines, { name: "paris", prompt: "p", schedule: { cron: "0 9 * * *", timeZone: "Europe/Paris" } });
    expect(new Date(Number((await routines.get("paris")).nextRunAt!.seconds) * 1000).toISOString()).toBe("2026-01-06T08:00:00.000Z");
    await routines.stop();
  });

  it("overlap skip: a fire while the last run goes is skipped and counted", async () => {
    const { routines, cluster, clock } = setup();
    await routines.start();
    await save(routines, { name: "slow", prompt: "p", schedule: { cron: "* * * * *", overlap: OverlapPolicy.SKIP } });
    clock.advance(60_000);
    await until(() => cluster.submitted.length === 1);
    clock.advance(60_000);
    await until(async () => (await routines.get("slow")).skippedRuns === 1);
    expect(cluster.submitted).toHaveLength(1);
    cluster.end("task-1", TaskStatus.SUCCEEDED);
    await routines.idle();
    clock.advance(60_000);
    await until(() => cluster.submitted.length === 2);
    await routines.stop();
  });

  it("overlap queue: one fire waits for the running run, later ones are dropped", async () => {
    const { routines, cluster, clock } = setup();
    await routines.start();
    await save(routines, { name: "q", prompt: "p", schedule: { cron: "* * * * *", overlap: OverlapPolicy.QUEUE } });
    clock.advance(60_000);
    await until(() => cluster.submitted.length === 1);
    clock.advance(60_000);
    await until(() => clock.pending === 1 && cluster.submitted.length === 1);
    clock.advance(60_000);
    await until(() => clock.pending === 1);
    expect(cluster.submitted).toHaveLength(1);
    cluster.end("task-1", TaskStatus.SUCCEEDED);
    await until(() => cluster.submitted.length === 2);
    cluster.end("task-2", TaskStatus.SUCCEEDED);
    await routines.idle();
    expect(cluster.submitted).toHaveLength(2);
    await routines.stop();
  });

  it("overlap allow: fires run side by side", async () => {
    const { routines, cluster, clock } = setup();
    await routines.start();
    await save(routines, { name: "a", prompt: "p", schedule: { cron: "* * * * *", overlap: OverlapPolicy.ALLOW } });
    clock.advance(60_000);
    await until(() => cluster.submitted.length === 1);
    clock.advance(60_000);
    await until(() => cluster.submitted.length === 2);
    await routines.stop();
  });

  for (const [policy, runs] of [
    [MissedRunPolicy.SKIP, 0],
    [MissedRunPolicy.RUN_ONCE, 1],
  ] as const) {
    it(`missed runs after a restart, policy ${MissedRunPolicy[policy]}: ${runs} run(s) at start, then the schedule`, async () => {
      const store = new MemoryRoutineStore();
      // What the store holds after a router that was down for 3 scheduled times.
      await store.put({
        routine: create(RoutineSchema, { name: "m", prompt: "p", schedule: { cron: "* * * * *", missed: policy }, nextRunAt: timestampFromMs(T0 - 3 * 60_000) }),
        fireTokenHash: "",
      });
      const { routines, cluster, clock } = setup(store);
      await routines.start();
      await until(async () => cluster.submitted.length === runs && (await routines.get("m")).nextRunAt?.seconds === BigInt((T0 + 60_000) / 1000));
      if (runs) {
        expect((await routines.get("m")).lastRun?.trigger).toBe("missed");
        cluster.end("task-1", TaskStatus.SUCCEEDED);
        await routines.idle();
      }
      clock.advance(60_000);
      await until(() => cluster.submitted.length === runs + 1);
      await routines.stop();
    });
  }
});

describe("retries", () => {
  it("re-runs a failing routine up to N times with doubling backoff, each attempt a new task linked to the first", async () => {
    const { routines, cluster, clock } = setup();
    await save(routines, { name: "flaky", prompt: "p", retry: { maxRetries: 2, backoff: { seconds: 5n } } });
    expect(await routines.fire("flaky", "manual")).toBe("task-1");
    cluster.end("task-1", TaskStatus.FAILED);
    await until(() => clock.pending === 1);
    clock.advance(4_999);
    expect(cluster.submitted).toHaveLength(1);
    clock.advance(1);
    await until(() => cluster.submitted.length === 2);
    expect(cluster.submitted[1]!.requestId).toBe("routine/task-1/retry/1");
    cluster.end("task-2", TaskStatus.FAILED);
    await until(() => clock.pending === 1);
    clock.advance(10_000);
    await until(() => cluster.submitted.length === 3);
    cluster.end("task-3", TaskStatus.FAILED);
    await routines.idle();
    expect(cluster.submitted).toHaveLength(3);
    expect((await routines.get("flaky")).lastRun).toMatchObject({ firstTaskId: "task-1", taskIds: ["task-1", "task-2", "task-3"], outcome: "failed" });
  });

  it("a run fired by a caller is theirs, its retries too; a scheduled one belongs to no one", async () => {
    const { routines, cluster, clock } = setup();
    const ada: Identity = { name: "ada", role: "user", quotas: {} };
    await save(routines, { name: "flaky", prompt: "p", retry: { maxRetries: 1, backoff: { seconds: 1n } } });
    await routines.fire("flaky", "manual", {}, "", ada);
    cluster.end("task-1", TaskStatus.FAILED);
    await until(() => clock.pending === 1);
    clock.advance(1_000);
    await until(() => cluster.submitted.length === 2);
    cluster.end("task-2", TaskStatus.SUCCEEDED);
    await routines.idle();
    expect(cluster.callers).toEqual([ada, ada]);
    await routines.fire("flaky", "http");
    expect(cluster.callers[2]).toBeUndefined();
  });

  it("stops retrying once an attempt succeeds", async () => {
    const { routines, cluster, clock } = setup();
    await save(routines, { name: "flaky", prompt: "p", retry: { maxRetries: 5 } });
    await routines.fire("flaky", "manual");
    cluster.end("task-1", TaskStatus.FAILED);
    await until(() => clock.pending === 1);
    clock.advance(10_000);
    await until(() => cluster.submitted.length === 2);
    cluster.end("task-2", TaskStatus.SUCCEEDED);
    await routines.idle();
    expect((await routines.get("flaky")).lastRun).toMatchObject({ taskIds: ["task-1", "task-2"], outcome: "succeeded" });
  });
});

describe("webhooks", () => {
  let server: Server | undefined;
  afterEach(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));

  it("signs the body with HMAC-SHA256, retries after a 500, and records the delivery", async () => {
    const seen: { body: string; signature: string; event: string }[] = [];
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        seen.push({ body: Buffer.concat(chunks).toString(), signature: String(req.headers["x-claudecluster-signature-256"]), event: String(req.headers["x-claudecluster-event"]) });
        res.statusCode = seen.length === 1 ? 500 : 204;
        res.end();
      });
    });
    await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/hook`;
    const { routines, cluster, clock } = setup();
    await save(routines, { name: "hooked", prompt: "p", webhook: { url, secret: "s3cret" } });
    expect((await routines.get("hooked")).webhook).toMatchObject({ url, secret: "", hasSecret: true });
    await routines.fire("hooked", "manual");
    cluster.end("task-1", TaskStatus.SUCCEEDED);
    await until(() => seen.length === 1 && clock.pending === 1);
    clock.advance(1000);
    await routines.idle();
    expect(seen).toHaveLength(2);
    for (const s of seen) expect(s.signature).toBe(signature("s3cret", s.body));
    expect(seen[1]!.body).toBe(seen[0]!.body);
    expect(seen[0]!.event).toBe("task.ended");
    expect(JSON.parse(seen[0]!.body)).toMatchObject({ event: "task.ended", routine: "hooked", task_id: "task-1", first_task_id: "task-1", attempt: 1, status: "succeeded" });
    expect((await routines.get("hooked")).lastDelivery).toMatchObject({ httpStatus: 204, attempts: 2, outcome: "delivered", event: "task.ended" });
  });

  it("posts task.waiting_for_approval and task.waiting_for_input once per wait, for a routine's tasks only", async () => {
    const posts: { event: string; body: Record<string, unknown> }[] = [];
    const clock = new ManualClock(T0);
    const cluster = fakeCluster();
    const routines = new Routines({
      store: new MemoryRoutineStore(),
      submit: cluster.submit,
      ended: cluster.ended,
      clock,
      logger: silentLogger(),
      post: async (_url, body, headers) => {
        posts.push({ event: headers["x-claudecluster-event"]!, body: JSON.parse(body) as Record<string, unknown> });
        return 200;
      },
    });
    await save(routines, { name: "asks", prompt: "p", webhook: { url: "http://hooks.invalid/", secret: "k" } });
    const task = (phase: Phase, extra: { pendingPermissions?: { requestId: string; toolName: string }[] } = {}) => create(TaskSchema, { id: "task-9", routine: "asks", phase, ...extra });
    routines.taskChanged(task(Phase.RUNNING));
    routines.taskChanged(task(Phase.WAITING_FOR_APPROVAL, { pendingPermissions: [{ requestId: "r1", toolName: "Bash" }] }));
    routines.taskChanged(task(Phase.WAITING_FOR_APPROVAL, { pendingPermissions: [{ requestId: "r1", toolName: "Bash" }] }));
    routines.taskChanged(task(Phase.RUNNING));
    routines.taskChanged(task(Phase.WAITING_FOR_INPUT));
    routines.taskChanged(create(TaskSchema, { id: "other", phase: Phase.WAITING_FOR_INPUT }));
    await routines.idle();
    expect(posts.map((p) => p.event)).toEqual(["task.waiting_for_approval", "task.waiting_for_input"]);
    expect(posts[0]!.body).toMatchObject({ routine: "asks", task_id: "task-9", pending_permissions: [{ request_id: "r1", tool: "Bash" }] });
  });

  it("CC_WEBHOOK_URL hears of every task's end and waits, routine or not", async () => {
    const posts: { url: string; event: string; body: Record<string, unknown> }[] = [];
    const cluster = fakeCluster();
    const routines = new Routines({
      store: new MemoryRoutineStore(),
      submit: cluster.submit,
      ended: cluster.ended,
      clock: new ManualClock(T0),
      logger: silentLogger(),
      globalWebhook: create(WebhookSchema, { url: "http://global.invalid/", secret: "g" }),
      post: async (url, body, headers) => {
        posts.push({ url, event: headers["x-claudecluster-event"]!, body: JSON.parse(body) as Record<string, unknown> });
        expect(headers["x-claudecluster-signature-256"]).toBe(signature("g", body));
        return 204;
      },
    });
    routines.taskChanged(create(TaskSchema, { id: "plain", phase: Phase.WAITING_FOR_INPUT }));
    routines.taskLeft(create(TaskSchema, { id: "plain", status: TaskStatus.SUCCEEDED, endedAt: timestampFromMs(T0) }));
    // Released to another router, not ended: nothing to say.
    routines.taskLeft(create(TaskSchema, { id: "moved", status: TaskStatus.RUNNING }));
    await routines.idle();
    expect(posts.map((p) => [p.url, p.event, p.body["task_id"]])).toEqual([
      ["http://global.invalid/", "task.waiting_for_input", "plain"],
      ["http://global.invalid/", "task.ended", "plain"],
    ]);
    expect(posts[1]!.body).toMatchObject({ status: "succeeded", routine: "" });
  });
});
