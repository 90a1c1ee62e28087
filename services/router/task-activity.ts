// What a task is doing now, kept in its record for live views (WatchTasks, GetTask, a `top`): its phase and queue
// position, its latest line, the cost claude reported and the model it ran with. The router keeps worker events
// undecoded (undecoded-events.ts), so this reads only the few fields it needs straight from their bytes: the phase
// from a `status`, the text of a streaming delta, the tool names of an assistant message, the cost of a result, the
// model of the init event. claude's
// original JSON line, most of a message's bytes, is skipped over, never decoded.
import { fromBinary, type UnknownField } from "@bufbuild/protobuf";
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";
import type { Task } from "../../gen/claudecluster/v1/router_pb.js";
import {
  Phase,
  ResultSummarySchema,
  StatusSchema,
  StreamDeltaSchema,
  type ClaudeMessage,
  type ResultSummary,
  type RunEvent,
  type Status,
} from "../../gen/claudecluster/v1/run_pb.js";
import type { TaskEntry, TaskListener } from "./tasks.js";

/** The longest latest line kept, in characters. */
export const LATEST_LINE_CHARS = 200;
/** Tool inputs longer than this are not parsed for a summary: the line names the tool alone. */
const TOOL_INPUT_SUMMARY_MAX_BYTES = 16 * 1024;

/** Field numbers (proto/claudecluster/v1/run.proto). */
const RUN_EVENT = { message: 12, status: 13 } as const;
const CLAUDE_MESSAGE = { init: 10, assistant: 11, delta: 13, result: 14 } as const;
const SYSTEM_INIT_MODEL = 2;
const ASSISTANT_CONTENT = 3;
const CONTENT_BLOCK = { text: 1, toolUse: 3 } as const;
const TEXT_BLOCK_TEXT = 1;
const TOOL_USE = { name: 2, inputJson: 3 } as const;

/** The end of the text a task writes, one line at a time, bounded. */
class LatestLine {
  private last = "";
  private current = "";

  /** Adds streamed text: the line in progress grows until a newline ends it. */
  write(text: string): void {
    const lines = text.split("\n");
    this.current = clip(this.current + lines[0]!);
    for (const line of lines.slice(1)) {
      if (this.current.trim() !== "") this.last = this.current;
      this.current = clip(line);
    }
  }

  /** Replaces the line (a tool call, a status detail). */
  set(line: string): void {
    this.last = clip(line);
    this.current = "";
  }

  get value(): string {
    return (this.current.trim() !== "" ? this.current : this.last).trim();
  }
}

function clip(text: string): string {
  return text.length > LATEST_LINE_CHARS ? [...text].slice(0, LATEST_LINE_CHARS).join("") : text;
}

/** The payload of a length-delimited unknown field (its data starts with the length). */
function payload(field: UnknownField): Uint8Array {
  return new BinaryReader(field.data).bytes();
}

/** Each length-delimited field of `bytes` with its number; other wire types are skipped. */
function* fields(bytes: Uint8Array): Generator<[number, Uint8Array]> {
  const reader = new BinaryReader(bytes);
  while (reader.pos < reader.len) {
    const [no, wireType] = reader.tag();
    if (wireType === WireType.LengthDelimited) yield [no, reader.bytes()];
    else reader.skip(wireType, no);
  }
}

const utf8 = new TextDecoder();

/** "Bash: npm test": the tool and the one input a person would want to see. */
export function toolLine(name: string, inputJson: string): string {
  if (inputJson.length > TOOL_INPUT_SUMMARY_MAX_BYTES) return name;
  let input: unknown;
  try {
    input = JSON.parse(inputJson);
  } catch {
    return name;
  }
  if (input === null || typeof input !== "object") return name;
  const o = input as Record<string, unknown>;
  const pick = ["command", "description", "file_path", "path", "pattern", "url", "query", "prompt"].map((k) => o[k]).find((v) => typeof v === "string");
  const first = pick ?? Object.values(o).find((v) => typeof v === "string");
  const detail = typeof first === "string" ? first.split("\n", 1)[0]!.trim() : "";
  return detail ? `${name}: ${detail}` : name;
}

/** The activity of one task, updated event by event. */
class Activity {
  private readonly line = new LatestLine();

  constructor(private readonly record: Task) {}

  observe(event: RunEvent): void {
    const e = event.event;
    if (e.case === "status") return this.status(e.value);
    if (e.case === "message") return this.message(e.value);
    if (e.case === "exited") {
      if (e.value.result) this.result(e.value.result);
      return;
    }
    if (e.case !== undefined) return;
    for (const field of event.$unknown ?? []) {
      if (field.no === RUN_EVENT.status) this.status(fromBinary(StatusSchema, payload(field)));
      else if (field.no === RUN_EVENT.message) this.undecodedMessage(payload(field));
    }
  }

  ended(): void {
    this.record.phase = Phase.UNSPECIFIED;
    this.record.queuePosition = 0;
    if (this.record.exit?.result) this.result(this.record.exit.result);
  }

  private status(status: Status): void {
    this.record.phase = status.phase;
    this.record.queuePosition = status.phase === Phase.QUEUED ? status.queuePosition : 0;
    if (status.detail) this.setLine(status.detail);
  }

  /** A typed message (a caller's own decoded event, in tests and the embedded cluster). */
  private message(message: ClaudeMessage): void {
    const body = message.body;
    if (body.case === "init") {
      this.record.model = clip(body.value.model);
    } else if (body.case === "delta") {
      if (body.value.deltaType === "text_delta") this.writeText(body.value.text);
    } else if (body.case === "assistant") {
      for (const block of body.value.content) {
        if (block.block.case === "toolUse") this.setLine(toolLine(block.block.value.name, block.block.value.inputJson));
        else if (block.block.case === "text") this.finalText(block.block.value.text);
      }
    } else if (body.case === "result") {
      this.result(body.value);
    }
  }

  private undecodedMessage(bytes: Uint8Array): void {
    for (const [no, value] of fields(bytes)) {
      if (no === CLAUDE_MESSAGE.init) {
        for (const [field, v] of fields(value)) if (field === SYSTEM_INIT_MODEL) this.record.model = clip(utf8.decode(v.subarray(0, 4 * LATEST_LINE_CHARS)));
      } else if (no === CLAUDE_MESSAGE.delta) {
        const delta = fromBinary(StreamDeltaSchema, value);
        if (delta.deltaType === "text_delta") this.writeText(delta.text);
      } else if (no === CLAUDE_MESSAGE.assistant) {
        for (const [field, block] of fields(value)) if (field === ASSISTANT_CONTENT) this.undecodedBlock(block);
      } else if (no === CLAUDE_MESSAGE.result) {
        this.result(fromBinary(ResultSummarySchema, value));
      }
    }
  }

  private undecodedBlock(bytes: Uint8Array): void {
    for (const [no, value] of fields(bytes)) {
      if (no === CONTENT_BLOCK.toolUse) {
        let name = "";
        let input = "";
        for (const [field, v] of fields(value)) {
          if (field === TOOL_USE.name) name = utf8.decode(v);
          else if (field === TOOL_USE.inputJson && v.length <= TOOL_INPUT_SUMMARY_MAX_BYTES) input = utf8.decode(v);
        }
        this.setLine(toolLine(name, input));
      } else if (no === CONTENT_BLOCK.text) {
        for (const [field, v] of fields(value)) if (field === TEXT_BLOCK_TEXT) this.finalText(utf8.decode(v.subarray(-4 * LATEST_LINE_CHARS)));
      }
    }
  }

  private writeText(text: string): void {
    this.line.write(text);
    this.record.latestLine = this.line.value;
  }

  /**
   * A complete text block: its last line, unless streamed deltas already showed this text (they come first when
   * claude streams partial messages) — the line stays where the deltas left it.
   */
  private finalText(text: string): void {
    const lines = text.split("\n").filter((l) => l.trim() !== "");
    const last = lines.at(-1);
    if (last === undefined) return;
    if (this.record.latestLine !== "" && text.includes(this.record.latestLine)) return;
    this.setLine(last);
  }

  private result(result: ResultSummary): void {
    this.record.costUsd = result.totalCostUsd;
  }

  private setLine(line: string): void {
    this.line.set(line);
    this.record.latestLine = this.line.value;
  }
}

/** A TaskStore listener that keeps each task's phase, queue position, latest line and cost in its record. */
export function taskActivity(): TaskListener {
  const activities = new WeakMap<TaskEntry, Activity>();
  return {
    changed(entry, event) {
      let activity = activities.get(entry);
      if (!activity) activities.set(entry, (activity = new Activity(entry.record)));
      if (event) activity.observe(event);
      if (entry.ended) activity.ended();
    },
    removed(entry) {
      activities.delete(entry);
    },
  };
}
