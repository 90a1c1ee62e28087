// Renders claude's stream-json lines as a person wants to read them: the assistant's text streamed as it arrives
// (from text_delta partials, or whole text blocks of a message for which no partials came), each tool call as one
// compact line, and tool errors as one indented line. Pure: it writes strings to a Writer, so golden files pin it.
import type { Style } from "./style.js";

export interface Writer {
  write(s: string): unknown;
}

export interface RenderOptions {
  style: Style;
  /** Columns available; tool lines are cut to fit. */
  width: number;
}

type Json = Record<string, unknown>;
const obj = (v: unknown): Json => (typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Json) : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string => (typeof v === "string" ? v : "");

/** Which input field says best what a tool call does, for the tools claude ships. */
const MAIN_ARGUMENT: Record<string, string> = {
  Bash: "command",
  BashOutput: "bash_id",
  KillShell: "shell_id",
  Read: "file_path",
  Write: "file_path",
  Edit: "file_path",
  MultiEdit: "file_path",
  NotebookEdit: "notebook_path",
  Glob: "pattern",
  Grep: "pattern",
  WebFetch: "url",
  WebSearch: "query",
  Task: "description",
  Agent: "description",
  Skill: "skill",
  SlashCommand: "command",
};

/** Cuts to `max` characters, marking the cut with an ellipsis. */
export function truncate(s: string, max: number): string {
  if (max <= 1) return s.length > 0 ? "…" : "";
  const chars = Array.from(s);
  return chars.length <= max ? s : chars.slice(0, max - 1).join("") + "…";
}

/** The one-line summary of a tool call's input, e.g. `echo hi > out.txt` for Bash. */
export function toolArgument(name: string, input: unknown): string {
  const lines = mainArgument(name, input).split("\n");
  const first = lines[0] ?? "";
  return lines.length > 1 ? `${first} …` : first;
}

/** What a tool call does, whole: the command of a Bash call, the path of a Write, else the first string input. */
export function mainArgument(name: string, input: unknown): string {
  const o = obj(input);
  const key = MAIN_ARGUMENT[name];
  if (key !== undefined && typeof o[key] === "string") return o[key];
  if (name === "TodoWrite" && Array.isArray(o["todos"])) return `${o["todos"].length} todos`;
  const firstString = Object.values(o).find((v): v is string => typeof v === "string");
  return firstString ?? (Object.keys(o).length > 0 ? JSON.stringify(o) : "");
}

/** `⏺ Bash(echo hi > out.txt)`, cut to the width. */
export function toolLine(name: string, input: unknown, width: number, style: Style, indent = ""): string {
  const arg = toolArgument(name, input);
  const room = Math.max(10, width - indent.length - name.length - 4);
  const shown = arg === "" ? "" : `(${truncate(arg, room)})`;
  return `${indent}${style.green("⏺")} ${style.bold(name)}${shown}\n`;
}

export class TextRenderer {
  private atLineStart = true;
  private wroteAnything = false;
  /** Message ids whose text arrived as partials, so their whole text blocks are not printed again. */
  private readonly streamedText = new Set<string>();
  private currentMessageId = "";

  constructor(
    private readonly out: Writer,
    private readonly options: RenderOptions,
  ) {}

  /** Whether anything was written yet (the status line stops at the first output). */
  get started(): boolean {
    return this.wroteAnything;
  }

  /** One line of claude's stream-json output, as claude printed it. */
  line(json: string): void {
    let ev: Json;
    try {
      ev = obj(JSON.parse(json));
    } catch {
      return;
    }
    const sub = ev["parent_tool_use_id"] != null && ev["parent_tool_use_id"] !== "";
    switch (ev["type"]) {
      case "stream_event":
        if (!sub) this.streamEvent(ev);
        break;
      case "assistant":
        this.assistant(obj(ev["message"]), sub);
        break;
      case "user":
        this.toolResults(obj(ev["message"]), sub);
        break;
      default:
        break;
    }
  }

  /** Ends the output on a new line. */
  finish(): void {
    this.newline();
  }

  private streamEvent(ev: Json): void {
    const e = obj(ev["event"]);
    if (e["type"] === "message_start") {
      this.currentMessageId = str(obj(e["message"])["id"]);
      return;
    }
    if (e["type"] !== "content_block_delta") return;
    const delta = obj(e["delta"]);
    if (delta["type"] !== "text_delta") return;
    const text = str(delta["text"]);
    if (text === "") return;
    this.streamedText.add(str(ev["api_message_id"]) || this.currentMessageId);
    this.write(text);
  }

  private assistant(message: Json, sub: boolean): void {
    const id = str(message["id"]);
    for (const block of arr(message["content"]).map(obj)) {
      switch (block["type"]) {
        case "text":
          if (sub) break;
          if (!this.streamedText.has(id)) this.write(str(block["text"]));
          // A text block is complete when its message arrives: end its line.
          this.newline();
          break;
        case "tool_use":
          this.newline();
          this.write(toolLine(str(block["name"]), block["input"], this.options.width, this.options.style, sub ? "  " : ""));
          break;
        default:
          break;
      }
    }
  }

  private toolResults(message: Json, sub: boolean): void {
    const { style, width } = this.options;
    for (const block of arr(message["content"]).map(obj)) {
      if (block["type"] !== "tool_result" || block["is_error"] !== true) continue;
      const content = block["content"];
      const text = typeof content === "string" ? content : arr(content).map((p) => str(obj(p)["text"])).filter(Boolean).join("\n");
      const first = text.replace(/<\/?tool_use_error>/g, "").trim().split("\n")[0] ?? "";
      const indent = sub ? "    " : "  ";
      this.newline();
      this.write(`${indent}${style.red(`⎿  ${truncate(first, Math.max(10, width - indent.length - 3))}`)}\n`);
    }
  }

  private newline(): void {
    if (!this.atLineStart) this.write("\n");
  }

  private write(s: string): void {
    if (s === "") return;
    this.out.write(s);
    this.wroteAnything = true;
    this.atLineStart = s.endsWith("\n");
  }
}
