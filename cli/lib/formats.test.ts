// cc's --output-format text|json|stream-json against what the real claude printed for the same scripts.
import { describe, expect, it } from "vitest";
import { Capture, eventsFor, recordedCases, type RecordedCase } from "../testing/fixtures.js";
import { formatCost, formatDuration, jsonResult, streamJsonLine, summaryText, textResult } from "./formats.js";
import { COLOR, PLAIN } from "./style.js";
import { TaskOutput, type Format } from "./task-output.js";

type Json = Record<string, unknown>;

/** Fields whose values differ from run to run (ids, timings); everything else must match claude's. */
const VOLATILE = new Set(["session_id", "uuid", "duration_ms", "duration_api_ms", "ttft_ms", "ttft_stream_ms", "time_to_request_ms", "first_content_frame_ms"]);

function stable(o: Json): Json {
  return Object.fromEntries(Object.entries(o).filter(([k]) => !VOLATILE.has(k)));
}

function limitsOf(c: RecordedCase) {
  const maxTurns = c.args.find((a) => a.startsWith("--max-turns="))?.split("=")[1];
  return maxTurns ? { maxTurns: Number(maxTurns) } : {};
}

function runOutput(c: RecordedCase, format: Format, includePartials = false) {
  const stdout = new Capture();
  const stderr = new Capture();
  const out = new TaskOutput({ format, stdout, stderr, outStyle: PLAIN, errStyle: PLAIN, width: 80, includePartials, limits: limitsOf(c) });
  const events = eventsFor(c);
  for (const ev of events) out.event(ev);
  const last = events.at(-1)!;
  const outcome = out.finish(last.event.case === "exited" ? last.event.value : (undefined as never));
  return { stdout: stdout.text, stderr: stderr.text, outcome };
}

describe("output formats match claude -p", () => {
  for (const c of recordedCases()) {
    const resultLine = c.stream.find((l) => l.includes('"type":"result"'))!;

    it(`${c.name}: json has claude's keys in claude's order and the same values`, () => {
      const ours = JSON.parse(jsonResult(resultLine)) as Json;
      const theirs = JSON.parse(c.json) as Json;
      expect(Object.keys(ours)).toEqual(Object.keys(theirs));
      expect(stable(ours)).toEqual(stable(theirs));
      expect(c.json.endsWith("}\n")).toBe(true);
    });

    it(`${c.name}: text is byte for byte what claude printed`, () => {
      expect(textResult(JSON.parse(resultLine) as Json, limitsOf(c))).toBe(c.text);
    });

    it(`${c.name}: stream-json without partials has the lines claude --verbose prints`, () => {
      const ours = c.stream
        .map((l) => {
          const o = JSON.parse(l) as Json;
          return streamJsonLine(l, String(o["type"]), String(o["subtype"] ?? ""), false);
        })
        .filter((l): l is string => l !== undefined);
      const shape = (l: string) => {
        const o = JSON.parse(l) as Json;
        return `${String(o["type"])}/${String(o["subtype"] ?? "")}`;
      };
      expect(ours.map(shape)).toEqual(c.verbose.map(shape));
      const keys = (l: string) => Object.keys(JSON.parse(l) as Json);
      expect(ours.map(keys)).toEqual(c.verbose.map(keys));
    });

    it(`${c.name}: TaskOutput prints only claude's output on stdout, with claude's exit code`, () => {
      const json = runOutput(c, "json");
      expect(Object.keys(JSON.parse(json.stdout) as Json)).toEqual(Object.keys(JSON.parse(c.json) as Json));
      expect(json.stdout.split("\n").length).toBe(2);
      expect(json.outcome.exitCode).toBe(c.exitCodes["json"]);

      const text = runOutput(c, "text");
      expect(text.stdout).toBe(c.text);
      expect(text.outcome.exitCode).toBe(c.exitCodes["text"]);

      const partial = runOutput(c, "stream-json", true);
      expect(partial.stdout).toBe(c.stream.join("\n") + "\n");
      for (const r of [json, text, partial]) expect(r.stderr).toBe("");
    });

    it(`${c.name}: the default format renders on stdout and summarises on stderr`, () => {
      const pretty = runOutput(c, "pretty");
      expect(pretty.stdout.length).toBeGreaterThan(0);
      const ok = c.exitCodes["json"] === 0;
      expect(pretty.stderr.startsWith(ok ? "✓ done" : "✗ ")).toBe(true);
      expect(pretty.stderr).toContain("worker worker-1 · task task-1");
      expect(pretty.stderr).toMatch(/session [0-9a-f-]{36}/);
    });
  }
});

describe("text results for every ending claude knows", () => {
  it("words errors as claude does", () => {
    expect(textResult({ subtype: "success", result: "ok\n" })).toBe("ok\n");
    expect(textResult({ subtype: "error_during_execution" })).toBe("Execution error");
    expect(textResult({ subtype: "error_max_turns", errors: ["Reached maximum number of turns (3)"] })).toBe("Error: Reached max turns (3)");
    expect(textResult({ subtype: "error_max_budget_usd" }, { maxBudgetUsd: 0.5 })).toBe("Error: Exceeded USD budget (0.5)");
    expect(textResult({ subtype: "error_max_structured_output_retries", errors: [] })).toBe("Error: Failed to provide valid structured output after maximum retries");
  });

  it("keeps stream-json lines byte for byte, with partials", () => {
    const line = '{"type":"result","begun_message_ids":["a"],"x":1}';
    expect(streamJsonLine(line, "result", "success", true)).toBe(line);
    expect(streamJsonLine(line, "result", "success", false)).toBe('{"type":"result","x":1}');
    expect(streamJsonLine('{"type":"stream_event"}', "stream_event", "", false)).toBeUndefined();
    expect(streamJsonLine('{"type":"system","subtype":"status"}', "system", "status", false)).toBeUndefined();
  });
});

describe("summary", () => {
  it("says how it went, how long, what it cost and where it ran", () => {
    expect(summaryText({ ok: true, outcome: "done", durationMs: 2345, turns: 2, costUsd: 0.00172, sessionId: "s-1", workerId: "w1", taskId: "t1" }, PLAIN)).toBe(
      "✓ done · 2.3s · 2 turns · $0.0017 · session s-1 · worker w1 · task t1\n",
    );
    expect(summaryText({ ok: false, outcome: "timed out", taskId: "t1", message: "the task ran longer than its timeout of 30s" }, PLAIN)).toBe(
      "✗ timed out · task t1\n  the task ran longer than its timeout of 30s\n",
    );
    expect(summaryText({ ok: true, outcome: "done", turns: 1 }, COLOR)).toBe("\x1b[32m✓ done\x1b[39m\x1b[2m · 1 turn\x1b[22m\n");
    expect([formatDuration(221), formatDuration(59_999), formatDuration(65_000), formatDuration(3_700_000)]).toEqual(["221ms", "60.0s", "1m 05s", "1h 01m"]);
    expect([formatCost(0), formatCost(0.5), formatCost(0.001234)]).toEqual(["$0", "$0.50", "$0.0012"]);
  });
});
