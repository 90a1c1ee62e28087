import { readFileSync } from "node:fs";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { EmptySchema } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { ExitedSchema, ExitReason, Phase, RunEventSchema, RunRequestSchema, type RunEvent } from "../../gen/claudecluster/v1/run_pb.js";
import { parseStreamJsonLine } from "../worker/stream-json.js";
import { LATEST_LINE_CHARS, taskActivity, toolLine } from "./task-activity.js";
import { TaskEntry } from "./tasks.js";
import { adoptWorkerEvent } from "./undecoded-events.js";

/** A task with the activity listener on it, as Tasks wires one. */
function store(): { entry: TaskEntry } {
  const activity = taskActivity();
  const entry = new TaskEntry("t1", create(RunRequestSchema, { prompt: "p" }), { maxBytes: 1 << 20, maxLagBytes: 1 << 20, stallMs: 30_000 });
  entry.changed = (e, event) => activity.changed(e, event);
  entry.changed(entry);
  return { entry };
}

/** The event as the router holds a worker's: encoded by the worker, read back undecoded. */
function fromWorker(event: RunEvent): RunEvent {
  return adoptWorkerEvent(fromBinary(EmptySchema, toBinary(RunEventSchema, event)));
}

function messages(fixture: string): RunEvent[] {
  const lines = readFileSync(new URL(`../../test/fixtures/stream-json/${fixture}/input.jsonl`, import.meta.url), "utf8").trim().split("\n");
  return lines.map((line) => create(RunEventSchema, { event: { case: "message", value: parseStreamJsonLine(line)! } }));
}

/** The model of the fixture's init event. */
const MODEL = "claude-opus-5-5";

describe("task activity in the record", () => {
  for (const [how, adopt] of [
    ["undecoded, as the router forwards a worker's events", fromWorker],
    ["decoded", (e: RunEvent) => e],
  ] as const) {
    it(`follows a real claude run (${how}): streamed text, the tool it called, the cost`, () => {
      const { entry } = store();
      const seen: string[] = [];
      for (const event of messages("write-file")) {
        entry.append(adopt(event));
        if (seen.at(-1) !== entry.record.latestLine) seen.push(entry.record.latestLine);
      }
      expect(seen).toEqual(["", "I'll create out.txt.", "Bash: echo hi > out.txt", "Done."]);
      expect(entry.record.costUsd).toBe(0.00172);
      // The model claude ran with, from its init event.
      expect(entry.record.model).toBe(MODEL);
    });
  }

  it("takes phase and queue position from status events, and the router's detail while queued", () => {
    const { entry } = store();
    entry.emit({ case: "status", value: { phase: Phase.QUEUED, queuePosition: 3, detail: "waiting for a free slot on 2 busy worker(s)" } });
    expect(entry.record).toMatchObject({ phase: Phase.QUEUED, queuePosition: 3, latestLine: "waiting for a free slot on 2 busy worker(s)" });
    entry.append(fromWorker(create(RunEventSchema, { event: { case: "status", value: { phase: Phase.RUNNING } } })));
    expect(entry.record).toMatchObject({ phase: Phase.RUNNING, queuePosition: 0 });
    entry.end({ reason: ExitReason.COMPLETED, result: { totalCostUsd: 0.5 } });
    expect(entry.record).toMatchObject({ phase: Phase.UNSPECIFIED, costUsd: 0.5 });
  });

  it("keeps the latest line to one line of at most 200 characters, across deltas", () => {
    const { entry } = store();
    const delta = (text: string) =>
      fromWorker(create(RunEventSchema, { event: { case: "message", value: { type: "stream_event", body: { case: "delta", value: { deltaType: "text_delta", text } } } } }));
    entry.append(delta("first line\nsecond "));
    expect(entry.record.latestLine).toBe("second");
    entry.append(delta("line\n\n"));
    expect(entry.record.latestLine).toBe("second line");
    entry.append(delta("x".repeat(500)));
    expect(entry.record.latestLine).toBe("x".repeat(LATEST_LINE_CHARS));
  });

  it("names a tool by the input a person would look for", () => {
    expect(toolLine("Bash", JSON.stringify({ command: "npm test\nnpm run lint", description: "Run the tests" }))).toBe("Bash: npm test");
    expect(toolLine("Read", JSON.stringify({ file_path: "/w/a.ts" }))).toBe("Read: /w/a.ts");
    expect(toolLine("mcp__x__y", JSON.stringify({ n: 1 }))).toBe("mcp__x__y");
    expect(toolLine("Bash", "not json")).toBe("Bash");
  });
});
