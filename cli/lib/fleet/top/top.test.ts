// `cc top` in memory: the view's state (snapshot, changes, removals, a re-sync after reconnecting, the cap), the
// rows it draws (golden files test/fixtures/cli/views/top-*.txt), the keys, the filters, and the feed against a
// router client that streams what a test tells it to.
import { join } from "node:path";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { UsageError } from "clipanion";
import { EventEmitter } from "node:events";
import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import type { TaskCommandContext } from "../../task-commands.js";
import { TaskChangeSchema, TaskSchema, TaskStatus, WorkerHealth, WorkerRecordSchema, type Task, type TaskChange, type WatchTasksRequest } from "../../../../gen/claudecluster/v1/router_pb.js";
import { ExitReason, FileChangeKind, Phase, RunMode } from "../../../../gen/claudecluster/v1/run_pb.js";
import { expectGolden, FIXTURES } from "../../../testing/fixtures.js";
import { PLAIN } from "../../style.js";
import { FleetFeed, watchRequest } from "./feed.js";
import { changeKey, changeLine, screenLines, scrollFor, snapshotText, taskRowsRoom, taskState } from "./rows.js";
import { keysOf, runScreen } from "./screen.js";
import { TopState } from "./state.js";
import { topQuery } from "./top.js";

const now = 1_700_000_600_000;
const VIEWS = join(FIXTURES, "views");

const task = (n: number, fields: MessageInitShape<typeof TaskSchema> = {}) =>
  create(TaskSchema, { id: `01jb3k5x2q7w9h4r8t6y1m0c${String(n).padStart(2, "0")}`, status: TaskStatus.RUNNING, promptSummary: `task number ${n}`, createdAt: timestampFromMs(now - n * 1000), ...fields });
const put = (t: Task): TaskChange => create(TaskChangeSchema, { change: { case: "task", value: t } });
const removed = (id: string): TaskChange => create(TaskChangeSchema, { change: { case: "removed", value: id } });
const synced = (count: number): TaskChange => create(TaskChangeSchema, { change: { case: "synced", value: { count } } });

const workers = [
  create(WorkerRecordSchema, { id: "local-1", url: "http://127.0.0.1:4001", health: WorkerHealth.ONLINE, assigned: 2, info: { capacity: 4, activeSessions: 2, claudeVersion: "2.1.330 (Claude Code)" }, lastSeen: timestampFromMs(now - 1000) }),
  create(WorkerRecordSchema, { id: "gpu-1", url: "http://10.0.0.7:4000", health: WorkerHealth.OFFLINE, assigned: 0, info: { capacity: 2 }, lastSeen: timestampFromMs(now - 95_000), problem: "heartbeats stopped" }),
];

/** One task in every state the view names, as the router's records have them. */
const fleet = [
  task(1, { workerId: "local-1", phase: Phase.RUNNING, costUsd: 0.0123, latestLine: "Bash: npm test" }),
  task(2, { workerId: "local-1", pendingPermissions: [{ requestId: "r1", toolName: "Bash" }], phase: Phase.WAITING_FOR_APPROVAL, latestLine: "wants Bash: rm -rf build" }),
  task(3, { status: TaskStatus.QUEUED, phase: Phase.QUEUED, queuePosition: 2, latestLine: "every worker is full (2 of 2)" }),
  task(4, { status: TaskStatus.QUEUED, phase: Phase.STARTING, workerId: "local-1", latestLine: "cloning https://github.com/acme/widgets.git" }),
  task(5, { mode: RunMode.INTERACTIVE, workerId: "local-1", phase: Phase.WAITING_FOR_INPUT, promptSummary: "refactor the parser\nand keep the tests green while you do it" }),
  task(6, {
    status: TaskStatus.SUCCEEDED,
    workerId: "local-1",
    costUsd: 0.0421,
    endedAt: timestampFromMs(now - 6000 + 58_000 - 58_000 + 2000),
    latestLine: "Done.",
    exit: { reason: ExitReason.COMPLETED, changes: { files: [{ path: "src/a.ts", kind: FileChangeKind.MODIFIED, insertions: 10, deletions: 4 }], filesTotal: 3, insertions: 12n, deletions: 4n, branch: "cc/x" } },
  }),
  task(7, { status: TaskStatus.FAILED, workerId: "gpu-1", endedAt: timestampFromMs(now - 7000 + 1000), latestLine: "API Error: 400 scripted failure" }),
  task(8, { status: TaskStatus.CANCELLED, workerId: "local-1", endedAt: timestampFromMs(now - 8000 + 500), exit: { reason: ExitReason.CANCELLED, changes: { baseCommit: "a", finalCommit: "a", branch: "cc/y" } } }),
];

describe("the view's state", () => {
  it("the snapshot, then changes and removals; newest first", () => {
    const s = new TopState(100);
    expect(s.apply(put(task(2)))).toBe(true);
    s.apply(put(task(1)));
    s.apply(synced(2));
    expect(s.synced).toBe(true);
    expect(s.apply(put(task(3)))).toBe(true);
    // A new latest line is not a move; a new status is.
    expect(s.apply(put(task(2, { latestLine: "more" })))).toBe(false);
    expect(s.apply(put(task(2, { status: TaskStatus.SUCCEEDED })))).toBe(true);
    expect(s.list().map((t) => t.id.slice(-2))).toEqual(["03", "02", "01"]);
    expect(s.get(task(2).id)?.status).toBe(TaskStatus.SUCCEEDED);
    expect(s.apply(removed(task(3).id))).toBe(true);
    expect(s.apply(removed(task(3).id))).toBe(false);
    expect(s.size).toBe(2);
  });

  it("after a reconnect, what the new snapshot does not hold is dropped once it is synced", () => {
    const s = new TopState(100);
    [1, 2, 3].forEach((n) => s.apply(put(task(n))));
    s.apply(synced(3));
    s.restart();
    s.apply(put(task(1)));
    s.apply(put(task(3)));
    expect(s.size).toBe(3);
    expect(s.apply(synced(2))).toBe(true);
    expect(s.list().map((t) => t.id.slice(-2))).toEqual(["03", "01"]);
  });

  it("holds at most its cap: the oldest ended task makes room first, then the oldest", () => {
    const s = new TopState(3);
    s.apply(put(task(1, { status: TaskStatus.SUCCEEDED })));
    s.apply(put(task(2)));
    s.apply(put(task(3)));
    s.apply(put(task(4)));
    expect(s.list().map((t) => t.id.slice(-2))).toEqual(["04", "03", "02"]);
    s.apply(put(task(5)));
    expect(s.list().map((t) => t.id.slice(-2))).toEqual(["05", "04", "03"]);
    for (let n = 10; n < 2000; n++) s.apply(put(task(n)));
    expect(s.size).toBe(3);
  });
});

describe("the rows (golden files)", () => {
  it("the live screen: title and counts, the workers, every state a task can be in, the selection, the keys", () => {
    const view = { router: "http://127.0.0.1:7300", tasks: fleet, workers, selected: fleet[1]!.id, scroll: 0, message: "", synced: true };
    const lines = screenLines(view, now, 150, 20, PLAIN);
    expect(lines).toHaveLength(20);
    for (const line of lines) expect(Array.from(line).length).toBeLessThanOrEqual(150);
    expectGolden(lines.join("\n") + "\n", join(VIEWS, "top-screen.txt"));
  });

  it("a small terminal: rows cut to its width, the list scrolled, the rest counted, a message instead of the keys", () => {
    const room = taskRowsRoom(14, workers.length);
    expect(room).toBe(5);
    const view = { router: "http://127.0.0.1:7300", tasks: fleet, workers, selected: fleet[6]!.id, scroll: scrollFor(6, 0, room, fleet.length), message: `cancel ${fleet[6]!.id}? [y/N]`, synced: true };
    const lines = screenLines(view, now, 80, 14, PLAIN);
    expect(lines).toHaveLength(14);
    for (const line of lines) expect(Array.from(line).length).toBeLessThanOrEqual(80);
    expectGolden(lines.join("\n") + "\n", join(VIEWS, "top-screen-small.txt"));
  });

  it("before the first snapshot, and with no tasks or workers", () => {
    const waiting = screenLines({ router: "r", tasks: [], workers: [], selected: undefined, scroll: 0, message: "", synced: false }, now, 80, 10, PLAIN);
    expect(waiting).toContain("reading the task list…");
    expect(waiting).toContain("no workers (`cc workers` says more)");
    const none = screenLines({ router: "r", tasks: [], workers: [], selected: undefined, scroll: 0, message: "", synced: true }, now, 80, 10, PLAIN);
    expect(none).toContain('no tasks match (start one with `cc run -d "prompt"`)');
  });

  it("--once: the workers' table and the tasks' table", () => {
    expectGolden(snapshotText(fleet, workers, now), join(VIEWS, "top-once.txt"));
    expect(snapshotText([], [], now)).toBe("no workers\n\nno tasks match\n");
  });

  it("the state word of each phase", () => {
    expect(fleet.map(taskState)).toEqual(["running", "waiting for approval", "queued #2", "starting", "waiting for input", "succeeded", "failed", "cancelled"]);
    expect(taskState(task(9, { status: TaskStatus.QUEUED }))).toBe("queued");
  });

  it("a change line says a task again only when its state, worker or changes changed", () => {
    const t = fleet[0]!;
    expect(changeKey(task(1, { ...t, latestLine: "something else", costUsd: 1 }))).toBe(changeKey(t));
    expect(changeKey(task(1, { ...t, status: TaskStatus.SUCCEEDED }))).not.toBe(changeKey(t));
    expect(changeLine(t, now)).toBe("22:23:20  01jb3k5x2q7w9h4r8t6y1m0c01  running  local-1  1s  $0.01  -  task number 1  Bash: npm test\n");
  });

  it("scrolling keeps the selection in view and moves as little as it can", () => {
    expect(scrollFor(0, 0, 5, 20)).toBe(0);
    expect(scrollFor(7, 0, 5, 20)).toBe(3);
    expect(scrollFor(5, 3, 5, 20)).toBe(3);
    expect(scrollFor(1, 3, 5, 20)).toBe(1);
    // The list shrank under the scroll.
    expect(scrollFor(2, 10, 5, 3)).toBe(0);
  });
});

describe("keys and flags", () => {
  it("keys: arrows and page keys as one token each, letters one by one", () => {
    expect(keysOf("jj\x1b[A\x1bOB\x1b[5~q\r")).toEqual(["j", "j", "\x1b[A", "\x1bOB", "\x1b[5~", "q", "\r"]);
  });

  it("the filters become a WatchTasks request: every status by default, --limit within 1 to 1000", () => {
    expect(topQuery({ once: false })).toMatchObject({ statuses: [], labels: {}, workerId: "", limit: 100 });
    expect(topQuery({ once: false, statuses: ["running,queued"], labels: ["team=a"], worker: "w1", limit: "20" })).toMatchObject({ statuses: [TaskStatus.RUNNING, TaskStatus.QUEUED], labels: { team: "a" }, workerId: "w1", limit: 20 });
    expect(() => topQuery({ once: false, limit: "0" })).toThrow(new UsageError('--limit expects a whole number from 1 to 1000, got "0"'));
    expect(() => topQuery({ once: false, limit: "5000" })).toThrow(UsageError);
    expect(() => topQuery({ once: false, statuses: ["asleep"] })).toThrow(/--status must be one of/);
  });
});

/** A router client whose WatchTasks streams are fed by the test, one stream per call. */
function scriptedRouter() {
  const streams: { request: WatchTasksRequest; push(c: TaskChange): void; fail(err: Error): void }[] = [];
  let workerReads = 0;
  let workersGate: Promise<void> = Promise.resolve();
  const cancels: string[] = [];
  let cancelError: Error | undefined;
  const client = {
    async cancelTask(req: { taskId: string; reason: string }) {
      cancels.push(`${req.taskId}: ${req.reason}`);
      if (cancelError) throw cancelError;
      return create(TaskSchema, { id: req.taskId, status: TaskStatus.CANCELLED });
    },
    watchTasks(request: WatchTasksRequest, options?: { signal?: AbortSignal }) {
      const queue: (TaskChange | Error)[] = [];
      let wake: (() => void) | undefined;
      streams.push({ request, push: (c) => (queue.push(c), wake?.()), fail: (e) => (queue.push(e), wake?.()) });
      return (async function* () {
        while (!options?.signal?.aborted) {
          const next = queue.shift();
          if (next instanceof Error) throw next;
          if (next) yield next;
          else await new Promise<void>((resolve) => ((wake = resolve), options?.signal?.addEventListener("abort", () => resolve(), { once: true })));
        }
      })();
    },
    async listWorkers() {
      workerReads += 1;
      await workersGate;
      return { workers };
    },
  };
  return { client, streams, cancels, failCancels: (e: Error) => (cancelError = e), reads: () => workerReads, gateWorkers: (p: Promise<void>) => (workersGate = p) };
}

describe("the feed", () => {
  it("reads the snapshot and the workers, reconnects after a dropped stream and re-syncs, and says so meanwhile", async () => {
    const r = scriptedRouter();
    let retry!: () => void;
    const trouble: string[] = [];
    const feed = new FleetFeed({ client: r.client as never, request: watchRequest({ statuses: [], labels: {}, workerId: "", limit: 10 }), workersEveryMs: 60_000, reconnect: true, retryDelay: () => new Promise((resolve) => (retry = resolve)) });
    feed.listener = { update: () => undefined, trouble: (m) => trouble.push(m) };
    const started = feed.start();
    expect(r.streams[0]!.request.limit).toBe(10);
    r.streams[0]!.push(put(task(1)));
    r.streams[0]!.push(put(task(2)));
    r.streams[0]!.push(synced(2));
    await started;
    expect(feed.state.list().map((t) => t.id.slice(-2))).toEqual(["02", "01"]);
    expect(feed.state.workers.map((w) => w.id)).toEqual(["local-1", "gpu-1"]);

    r.streams[0]!.fail(new ConnectError("connection reset", Code.Unavailable));
    await until(() => trouble.length === 1);
    expect(trouble[0]).toBe("lost the router's task stream (connection reset); reconnecting…");
    retry();
    await until(() => r.streams.length === 2);
    r.streams[1]!.push(put(task(2, { status: TaskStatus.SUCCEEDED })));
    r.streams[1]!.push(synced(1));
    await until(() => trouble.length === 2);
    expect(trouble[1]).toBe("");
    expect(feed.state.list().map((t) => [t.id.slice(-2), t.status])).toEqual([["02", TaskStatus.SUCCEEDED]]);
    feed.close();
    await feed.done;
  });

  it("without reconnecting, a failed stream ends the feed with its error; a failed first read fails start()", async () => {
    const r = scriptedRouter();
    const feed = new FleetFeed({ client: r.client as never, request: watchRequest({ statuses: [], labels: {}, workerId: "", limit: 10 }), workersEveryMs: 60_000, reconnect: false });
    const started = feed.start();
    r.streams[0]!.push(synced(0));
    await started;
    r.streams[0]!.fail(new ConnectError("gone", Code.Unavailable));
    await expect(feed.done).rejects.toThrow("gone");
    feed.close();

    const r2 = scriptedRouter();
    const feed2 = new FleetFeed({ client: r2.client as never, request: watchRequest({ statuses: [], labels: {}, workerId: "", limit: 10 }), workersEveryMs: 60_000, reconnect: true });
    r2.streams[0]!.fail(new ConnectError("permission denied", Code.PermissionDenied));
    await expect(feed2.start()).rejects.toThrow("permission denied");
    feed2.close();
  });

  it("workers are read again when a task starts or ends, at most one read behind the one under way", async () => {
    const r = scriptedRouter();
    const feed = new FleetFeed({ client: r.client as never, request: watchRequest({ statuses: [], labels: {}, workerId: "", limit: 10 }), workersEveryMs: 60_000, reconnect: false });
    const started = feed.start();
    r.streams[0]!.push(put(task(1)));
    r.streams[0]!.push(synced(1));
    await started;
    expect(r.reads()).toBe(1);
    let open!: () => void;
    r.gateWorkers(new Promise((resolve) => (open = resolve)));
    r.streams[0]!.push(put(task(1, { status: TaskStatus.SUCCEEDED })));
    await until(() => r.reads() === 2);
    // Three more moves while that read is under way: one more read after it, not three.
    for (const n of [2, 3, 4]) r.streams[0]!.push(put(task(n)));
    await until(() => feed.state.size === 4);
    // A task's new latest line is not a reason to read them.
    r.streams[0]!.push(put(task(4, { latestLine: "x" })));
    await until(() => feed.state.get(task(4).id)?.latestLine === "x");
    r.gateWorkers(Promise.resolve());
    open();
    await until(() => r.reads() === 3);
    await new Promise((resolve) => setImmediate(resolve));
    expect(r.reads()).toBe(3);
    feed.close();
  });
});

describe("the screen, on a fake terminal", () => {
  /** A terminal: raw-mode stdin that the test types into, a stdout that keeps what was drawn, signals it sends. */
  function terminal() {
    const stdin = Object.assign(new EventEmitter(), { isTTY: true, raw: [] as boolean[], setRawMode: (r: boolean) => stdin.raw.push(r), resume: () => undefined, pause: () => undefined });
    let drawn = "";
    const stdout = Object.assign(new Writable({ write: (chunk: Buffer, _e, cb) => ((drawn += chunk.toString("utf8")), cb()) }), { isTTY: true, columns: 150, rows: 16 });
    const signals = new EventEmitter();
    const type = (keys: string) => stdin.emit("data", Buffer.from(keys));
    /** The last frame drawn, as lines. */
    const frame = () => drawn.slice(drawn.lastIndexOf("\x1b[H") + 3).split("\x1b[K\r\n").map((l) => l.replace(/\x1b\[[KJ]/g, ""));
    return { stdin, stdout, signals, type, frame, drawn: () => drawn };
  }

  async function screenOn(tasks: Task[]) {
    const r = scriptedRouter();
    const feed = new FleetFeed({ client: r.client as never, request: watchRequest({ statuses: [], labels: {}, workerId: "", limit: 10 }), workersEveryMs: 60_000, reconnect: true });
    const started = feed.start();
    for (const t of tasks) r.streams[0]!.push(put(t));
    r.streams[0]!.push(synced(tasks.length));
    await started;
    const t = terminal();
    const attached: string[] = [];
    const c = { io: { env: {}, stdin: t.stdin, stdout: t.stdout, stderr: t.stdout }, client: r.client, router: "http://router:1" } as unknown as TaskCommandContext;
    const result = runScreen(c, feed, { style: PLAIN, attach: async (id) => (attached.push(id), 0), signals: t.signals as never, now: () => now });
    return { r, feed, t, attached, result };
  }

  it("select, cancel (asks first; an ended task cannot be), attach and come back, and the terminal restored on SIGTERM", async () => {
    const { r, feed, t, attached, result } = await screenOn([fleet[0]!, fleet[5]!]);
    await until(() => t.frame().some((l) => l.startsWith(">  01jb3k5x2q7w9h4r8t6y1m0c06  succeeded")));
    expect(t.drawn().startsWith("\x1b[?1049h\x1b[?25l")).toBe(true);
    expect(t.stdin.raw).toEqual([true]);
    expect(t.frame()[0]).toMatch(/^cc top · http:\/\/router:1 · 2 workers · 1 running · 0 queued · 1 ended +22:23:20$/);

    t.type("c");
    await until(() => t.frame().at(-1) === "01jb3k5x2q7w9h4r8t6y1m0c06 has already ended");
    t.type("j");
    await until(() => t.frame().some((l) => l.startsWith(">  01jb3k5x2q7w9h4r8t6y1m0c01  running")));
    expect(t.frame().at(-1)).toBe("↑/↓ select · enter attach · c cancel · q quit");
    t.type("cn");
    await until(() => t.frame().at(-1)!.startsWith("↑/↓"));
    expect(r.cancels).toEqual([]);
    t.type("c");
    await until(() => t.frame().at(-1) === "cancel 01jb3k5x2q7w9h4r8t6y1m0c01? [y/N]");
    t.type("y");
    await until(() => t.frame().at(-1) === "01jb3k5x2q7w9h4r8t6y1m0c01 cancelled");
    expect(r.cancels).toEqual(["01jb3k5x2q7w9h4r8t6y1m0c01: cancelled from cc top"]);
    r.failCancels(new ConnectError("task 01jb3k5x2q7w9h4r8t6y1m0c01 not found", Code.NotFound));
    t.type("cy");
    await until(() => t.frame().at(-1)!.startsWith("could not cancel 01jb3k5x2q7w9h4r8t6y1m0c01: "));

    // The router's record changes: the row follows, the selection stays on it.
    r.streams[0]!.push(put(task(1, { ...fleet[0]!, status: TaskStatus.CANCELLED, endedAt: timestampFromMs(now) })));
    await until(() => t.frame().some((l) => l.startsWith(">  01jb3k5x2q7w9h4r8t6y1m0c01  cancelled")));

    const before = t.drawn().length;
    t.type("\r");
    await until(() => t.drawn().slice(before).includes("— press a key to go back to cc top —"));
    expect(attached).toEqual(["01jb3k5x2q7w9h4r8t6y1m0c01"]);
    expect(t.drawn().slice(before).startsWith("\x1b[?25h\x1b[?1049l")).toBe(true);
    t.type("x");
    await until(() => t.drawn().slice(before).includes("\x1b[?1049h"));
    await until(() => t.frame().some((l) => l.startsWith(">  01jb3k5x2q7w9h4r8t6y1m0c01")));

    t.signals.emit("SIGTERM");
    expect(await result).toBe(0);
    expect(t.drawn().endsWith("\x1b[?25h\x1b[?1049l")).toBe(true);
    expect(t.stdin.raw.at(-1)).toBe(false);
    expect(t.stdin.listenerCount("data")).toBe(0);
    expect(t.signals.eventNames()).toEqual([]);
    feed.close();
  });

  it("q and Ctrl-C quit; a dropped stream shows on the bottom line until the view is synced again", async () => {
    const a = await screenOn([fleet[0]!]);
    a.t.type("q");
    expect(await a.result).toBe(0);
    expect(a.t.drawn().endsWith("\x1b[?25h\x1b[?1049l")).toBe(true);
    a.feed.close();

    const b = await screenOn([fleet[0]!]);
    b.r.streams[0]!.fail(new ConnectError("connection reset", Code.Unavailable));
    await until(() => b.t.frame().at(-1) === "lost the router's task stream (connection reset); reconnecting…");
    b.t.type("\x03");
    expect(await b.result).toBe(0);
    b.feed.close();
  });
});

/** Waits for a condition that follows from the events the test already sent (a few turns of the event loop). */
async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !condition(); i++) await new Promise((resolve) => setImmediate(resolve));
  expect(condition()).toBe(true);
}
