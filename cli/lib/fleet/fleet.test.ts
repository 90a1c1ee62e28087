// Many tasks at once (cc run -n, cc batch): progress built from recorded claude output, the live rows and plain lines
// as golden files (test/fixtures/cli/views/), the summary table and JSON, and runMany against a stand-in router:
// the parallel limit, Ctrl-C, refusals and the exit codes. UPDATE_GOLDEN=1 rewrites the golden files.
import { EventEmitter } from "node:events";
import { join } from "node:path";
import { Readable } from "node:stream";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { RunRequestSchema, type RunEvent } from "../../../gen/claudecluster/v1/run_pb.js";
import { ExitCode } from "../../exit-codes.js";
import { networkError } from "../../testing/fake-router.js";
import { FleetRouter } from "../../testing/fleet-router.js";
import { Capture, eventsFor, expectGolden, FIXTURES, recordedCases } from "../../testing/fixtures.js";
import type { CommandIO, SignalSource } from "../io.js";
import type { Timers } from "../status-line.js";
import { COLOR, PLAIN } from "../style.js";
import { attemptJobs } from "./fan-out.js";
import { TaskTracker, type TaskProgress } from "./progress.js";
import { countResults, countsLine, progressRows, summaryTable, taskResultJson } from "./rows.js";
import { manyExitCode, runMany, type Job } from "./run-many.js";
import { LiveRows, PlainLines } from "./views.js";

const VIEWS = join(FIXTURES, "views");
const cases = Object.fromEntries(recordedCases().map((c) => [c.name, c]));
const T0 = 1_700_000_000_000;

class FakeSignals extends EventEmitter implements SignalSource {
  override on(signal: NodeJS.Signals, listener: () => void) {
    return super.on(signal, listener);
  }
  override off(signal: NodeJS.Signals, listener: () => void) {
    return super.off(signal, listener);
  }
}

class ManualTimers implements Timers {
  private fn: (() => void) | undefined;
  setInterval(fn: () => void) {
    this.fn = fn;
    return 1;
  }
  clearInterval() {
    this.fn = undefined;
  }
  tick() {
    this.fn?.();
  }
}

function io(tty = false): CommandIO & { stdout: Capture; stderr: Capture } {
  const stdout = new Capture(tty);
  stdout.columns = 100;
  return { env: {}, stdin: Readable.from([]), stdout, stderr: new Capture(tty) };
}

/** Three attempts as the real claude ran them: one answered, one wrote a file with a tool, one hit --max-turns. */
function recordedAttempts(): { trackers: TaskTracker[]; streams: RunEvent[][] } {
  const names = ["hello", "write-file", "max-turns"];
  const streams = names.map((name, i) => eventsFor(cases[name]!, `01jb3k5x2q7w9h4r8t6y1m0c3${i}`, `worker-${(i % 2) + 1}`));
  const trackers = names.map((_, i) => new TaskTracker(i + 1, String(i + 1)));
  trackers.forEach((t, i) => t.sent(T0 + i));
  return { trackers, streams };
}

/** Feeds events to trackers, `upTo` of each stream, in turn; the exited event ends a tracker. */
function feed(trackers: TaskTracker[], streams: RunEvent[][], upTo: number[], onUpdate?: (position: number, ev: RunEvent) => void) {
  for (let step = 0; step < Math.max(...upTo); step++) {
    streams.forEach((events, i) => {
      const ev = events[step];
      if (!ev || step >= upTo[i]!) return;
      if (ev.event.case === "exited") trackers[i]!.finish(ev.event.value, T0 + 5000 + i * 1000);
      else trackers[i]!.event(ev);
      onUpdate?.(i, ev);
    });
  }
}

const progressOf = (trackers: TaskTracker[]): TaskProgress[] => trackers.map((t) => ({ ...t.progress }));

describe("task progress from recorded claude output", () => {
  it("follows phase, worker, turns and the latest line, then the outcome", () => {
    const { trackers, streams } = recordedAttempts();
    const write = trackers[1]!;
    const events = streams[1]!;
    write.event(events[0]!);
    expect(write.progress).toMatchObject({ phase: "running", workerId: "worker-2", taskId: "01jb3k5x2q7w9h4r8t6y1m0c31", turns: 0 });
    const toolAt = events.findIndex((e) => e.event.case === "message" && e.event.value.type === "assistant" && e.event.value.json.includes('"tool_use"'));
    for (const e of events.slice(1, toolAt + 1)) write.event(e);
    expect(write.progress.latestLine).toMatch(/^⏺ Bash\(/);
    expect(write.progress.turns).toBe(1);
    for (const e of events.slice(toolAt + 1, -1)) write.event(e);
    const exited = events.at(-1)!;
    if (exited.event.case !== "exited") throw new Error("no exited");
    write.finish(exited.event.value, T0 + 9000);
    expect(write.progress.outcome?.summary).toMatchObject({ ok: true, outcome: "done", turns: 2 });
  });
});

describe("the views (golden files)", () => {
  it("live rows on a terminal: drawn, redrawn in place, and the final state", () => {
    const { trackers, streams } = recordedAttempts();
    const out = new Capture(true);
    out.columns = 110;
    const timers = new ManualTimers();
    const live = new LiveRows(out, { tasks: () => progressOf(trackers), now: () => T0 + 3000 }, PLAIN, timers);
    live.start();
    feed(trackers, streams, [1, 1, 1]);
    timers.tick();
    feed(trackers, streams, [8, 12, 6]);
    timers.tick();
    live.note("cc: a notice goes above the rows");
    feed(trackers, streams, streams.map((s) => s.length));
    live.close();
    expectGolden(out.text, join(VIEWS, "fan-out-live.txt"));
    // Every drawing moves up exactly the rows it drew before.
    expect(out.text.match(/\x1b\[3A/g)).toHaveLength(4);
  });

  it("more tasks than the terminal has rows: the active ones, then a count of the rest", () => {
    const trackers = Array.from({ length: 12 }, (_, i) => new TaskTracker(i + 1, `t${i + 1}`));
    trackers.slice(0, 3).forEach((t, i) => t.sent(T0 + i));
    const out = new Capture(true);
    out.columns = 80;
    out.rows = 6;
    new LiveRows(out, { tasks: () => progressOf(trackers), now: () => T0 + 2000 }, PLAIN, new ManualTimers()).draw();
    expect(out.text.split("\n").filter(Boolean).map((l) => l.replace(/^\r\x1b\[2K/, ""))).toEqual([
      "⠋  t1  sending  -  -  2.0s",
      "⠋  t2  sending  -  -  2.0s",
      "⠋  t3  sending  -  -  2.0s",
      "  … and 9 more (9 waiting)",
    ]);
  });

  it("plain lines without a terminal: each attempt's output and changes, prefixed", () => {
    const { trackers, streams } = recordedAttempts();
    const out = new Capture();
    const plain = new PlainLines(out, { tasks: () => progressOf(trackers), now: () => T0 }, PLAIN, { output: true, width: 100, notes: new Capture() });
    feed(trackers, streams, streams.map((s) => s.length), (i, ev) => plain.update(i, ev));
    plain.close();
    expectGolden(out.text, join(VIEWS, "fan-out-plain.txt"));
    // No line of one attempt is split by another's.
    for (const line of out.text.trimEnd().split("\n")) expect(line).toMatch(/^\[\d\] /);
  });

  it("the summary table and the JSON of each task", () => {
    const { trackers, streams } = recordedAttempts();
    feed(trackers, streams, streams.map((s) => s.length));
    const refused = new TaskTracker(4, "4");
    refused.sent(T0);
    refused.fail("the router refused: no online worker has the labels gpu=true; check `cc workers`", ExitCode.Refused, T0 + 10);
    const skipped = new TaskTracker(5, "5");
    skipped.skip(T0);
    const all = [...progressOf(trackers), { ...refused.progress }, { ...skipped.progress }];
    expectGolden(summaryTable(all, "ATTEMPT"), join(VIEWS, "fan-out-summary.txt"));
    expectGolden(JSON.stringify(all.map(taskResultJson), null, 2) + "\n", join(VIEWS, "tasks.json"));
    expect(countsLine(countResults(all))).toBe("2 succeeded, 2 failed, 1 not started");
    expect(progressRows(all.slice(0, 1), T0, 80, COLOR)[0]).toMatch(/^\x1b\[32m✓\x1b\[39m/);
  });
});

describe("runMany against a stand-in router", () => {
  const jobs = (n: number): Job[] => attemptJobs(create(RunRequestSchema, { prompt: "p" }), n);

  it("never has more than --parallel tasks running, and runs every one", async () => {
    const router = new FleetRouter(() => ({ events: eventsFor(cases["hello"]!), hold: true }));
    const o = io();
    const run = runMany({ io: o, client: router.client, router: "http://r", jobs: jobs(7), parallel: 3, viewOn: "stdout", plainOutput: false, interrupt: "ask", noun: "tasks", signals: new FakeSignals() });
    // Release the held tasks one at a time; each release lets exactly one more start.
    for (let released = 0; released < 7; released++) {
      await router.whenHeld(Math.min(3, 7 - released));
      expect(router.held().length).toBe(Math.min(3, 7 - released));
      router.release(router.held()[0]!);
    }
    const result = await run;
    expect(router.maxRunning).toBe(3);
    expect(router.requests).toHaveLength(7);
    expect(result.tasks.map((t) => t.outcome?.summary.ok)).toEqual(Array(7).fill(true));
    expect(manyExitCode(result, "all")).toBe(ExitCode.Ok);
  });

  it("gives each attempt its own request id and one spread group", () => {
    const js = jobs(3);
    expect(new Set(js.map((j) => j.request.requestId)).size).toBe(3);
    expect(new Set(js.map((j) => j.request.spreadGroup)).size).toBe(1);
    expect(js[0]!.request.spreadGroup).toMatch(/^run-[0-9a-f-]{36}$/);
    expect(js.map((j) => j.label)).toEqual(["1", "2", "3"]);
  });

  it("Ctrl-C cancels every task it started and starts no more", async () => {
    const router = new FleetRouter(() => ({ events: eventsFor(cases["hello"]!), hold: true }));
    const signals = new FakeSignals();
    const o = io();
    const run = runMany({ io: o, client: router.client, router: "http://r", jobs: jobs(5), parallel: 2, viewOn: "stdout", plainOutput: false, interrupt: "ask", noun: "tasks of this batch", signals });
    await router.whenHeld(2);
    signals.emit("SIGINT");
    const result = await run;
    expect(result.interrupted).toBe(true);
    expect(router.cancelled.sort()).toEqual(["task-1", "task-2"]);
    expect(router.requests).toHaveLength(2);
    expect(countResults(result.tasks)).toEqual({ succeeded: 0, failed: 0, cancelled: 2, not_started: 3 });
    expect(manyExitCode(result, "all")).toBe(ExitCode.Interrupted);
    // Without a terminal there is no one to ask: it says what it does, on stderr.
    expect(o.stderr.text).toBe("cc: cancelling the tasks of this batch… (Ctrl-C again to quit at once)\n");
  });

  it("a second Ctrl-C leaves at once", async () => {
    const router = new FleetRouter(() => ({ events: eventsFor(cases["hello"]!), hold: true }));
    const signals = new FakeSignals();
    const exits: number[] = [];
    // A cancel the router never answers: the tasks stay held.
    (router.client as { cancelTask: unknown }).cancelTask = () => new Promise(() => undefined);
    const run = runMany({ io: io(), client: router.client, router: "http://r", jobs: jobs(2), parallel: 2, viewOn: "stdout", plainOutput: false, interrupt: "cancel", noun: "attempts", signals, exit: (c) => exits.push(c) });
    await router.whenHeld(2);
    signals.emit("SIGINT");
    signals.emit("SIGINT");
    expect(exits).toEqual([ExitCode.Interrupted]);
    void run;
  });

  it("exit codes: any or all succeeded, and one reason for every refusal", async () => {
    const refuse = new ConnectError("no online worker has the labels gpu=true; check `cc workers`", Code.Unavailable);
    const mixed = new FleetRouter((_req, i) => (i === 1 ? { events: eventsFor(cases["hello"]!) } : { refuse }));
    const r1 = await runMany({ io: io(), client: mixed.client, router: "http://r", jobs: jobs(3), parallel: 3, viewOn: "stdout", plainOutput: false, interrupt: "cancel", noun: "attempts", signals: new FakeSignals() });
    expect(r1.tasks.map((t) => t.error ?? "ok")).toEqual([`the router refused: ${refuse.rawMessage}`, "ok", `the router refused: ${refuse.rawMessage}`]);
    expect(manyExitCode(r1, "any")).toBe(ExitCode.Ok);
    expect(manyExitCode(r1, "all")).toBe(ExitCode.AgentError);

    const refused = new FleetRouter(() => ({ refuse }));
    const r2 = await runMany({ io: io(), client: refused.client, router: "http://r", jobs: jobs(2), parallel: 2, viewOn: "stdout", plainOutput: false, interrupt: "cancel", noun: "attempts", signals: new FakeSignals() });
    expect(manyExitCode(r2, "any")).toBe(ExitCode.Refused);

    const down = new FleetRouter(() => ({ refuse: networkError("ECONNREFUSED") }));
    const r3 = await runMany({ io: io(), client: down.client, router: "http://r", jobs: jobs(2), parallel: 2, viewOn: "stdout", plainOutput: false, interrupt: "cancel", noun: "attempts", signals: new FakeSignals() });
    expect(manyExitCode(r3, "any")).toBe(ExitCode.Unreachable);

    const failing = new FleetRouter(() => ({ events: eventsFor(cases["max-turns"]!) }));
    const r4 = await runMany({ io: io(), client: failing.client, router: "http://r", jobs: jobs(2), parallel: 1, viewOn: "stdout", plainOutput: false, interrupt: "cancel", noun: "attempts", signals: new FakeSignals() });
    expect(r4.tasks.map((t) => t.outcome?.summary.outcome)).toEqual(["error_max_turns", "error_max_turns"]);
    expect(manyExitCode(r4, "any")).toBe(ExitCode.AgentError);
  });
});
