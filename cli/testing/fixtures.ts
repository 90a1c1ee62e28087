// Test helpers: the recorded claude output under test/fixtures/cli/<case>/ (see record.sh there), golden-file
// comparison with UPDATE_GOLDEN=1 to rewrite, RunEvents built from recorded lines, and in-memory streams.
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Writable } from "node:stream";
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { expect } from "vitest";
import { ExitedSchema, ExitReason, RunEventSchema, RunMode, StartedSchema, type RunEvent } from "../../gen/claudecluster/v1/run_pb.js";
import { parseStreamJsonLine, resultSummary } from "../../services/worker/stream-json.js";

export const FIXTURES = new URL("../../test/fixtures/cli/", import.meta.url).pathname;

export interface RecordedCase {
  name: string;
  dir: string;
  prompt: string;
  args: string[];
  /** claude -p --output-format=stream-json --verbose --include-partial-messages */
  stream: string[];
  /** claude -p --output-format=stream-json --verbose */
  verbose: string[];
  /** claude -p --output-format=json, as printed */
  json: string;
  /** claude -p --output-format=text, as printed */
  text: string;
  exitCodes: Record<string, number>;
}

const lines = (text: string) => text.split("\n").filter((l) => l !== "");

export function recordedCases(): RecordedCase[] {
  return readdirSync(FIXTURES, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(FIXTURES, d.name, "case.json")))
    .map((d) => {
      const dir = join(FIXTURES, d.name);
      const read = (f: string) => readFileSync(join(dir, f), "utf8");
      const meta = JSON.parse(read("case.json")) as { prompt: string; args: string[] };
      return {
        name: d.name,
        dir,
        prompt: meta.prompt,
        args: meta.args,
        stream: lines(read("stream.jsonl")),
        verbose: lines(read("stream-verbose.jsonl")),
        json: read("claude.json"),
        text: read("claude.txt"),
        exitCodes: JSON.parse(read("exit-codes.json")) as Record<string, number>,
      };
    });
}

/** Compares with a golden file; UPDATE_GOLDEN=1 writes it instead. */
export function expectGolden(actual: string, file: string): void {
  if (process.env["UPDATE_GOLDEN"] === "1" || !existsSync(file)) {
    writeFileSync(file, actual);
    if (process.env["UPDATE_GOLDEN"] !== "1") throw new Error(`golden file ${file} was missing and has been written; check it and run again`);
    return;
  }
  expect(actual).toBe(readFileSync(file, "utf8"));
}

/** The RunEvents a router would send for a recorded headless run: started, one message per line, exited. */
export function eventsFor(c: RecordedCase, taskId = "task-1", workerId = "worker-1"): RunEvent[] {
  const events: RunEvent[] = [];
  let seq = 0n;
  const t0 = 1_700_000_000_000;
  const push = (event: RunEvent["event"]) => {
    seq += 1n;
    events.push(create(RunEventSchema, { taskId, seq, time: timestampFromMs(t0 + Number(seq) * 10), event }));
  };
  push({ case: "started", value: create(StartedSchema, { workerId, pid: 42, mode: RunMode.HEADLESS, workspace: "/ws", claudeVersion: "2.1.330", attempt: 1 }) });
  let result;
  for (const line of c.stream) {
    const m = parseStreamJsonLine(line)!;
    if (m.type === "result") result = resultSummary(JSON.parse(line) as Record<string, unknown>);
    push({ case: "message", value: m });
  }
  const code = c.exitCodes["stream-json"] ?? 0;
  push({ case: "exited", value: create(ExitedSchema, { exitCode: code, reason: ExitReason.COMPLETED, ...(result ? { result } : {}) }) });
  return events;
}

/** A Writable that keeps what is written, with a configurable isTTY. */
export class Capture extends Writable {
  chunks: string[] = [];
  isTTY: boolean;
  columns = 80;
  rows = 24;
  constructor(tty = false) {
    super();
    this.isTTY = tty;
  }
  override _write(chunk: Buffer | string, _enc: BufferEncoding, cb: () => void): void {
    this.chunks.push(typeof chunk === "string" ? chunk : chunk.toString("utf8"));
    cb();
  }
  get text(): string {
    return this.chunks.join("");
  }
}
