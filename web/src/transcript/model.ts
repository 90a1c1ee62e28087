// A headless task's events as a conversation: the items a transcript shows, built event by event. Pure (no DOM), so
// it is tested on real claude output (test/web/transcript-model.test.ts).
//
// claude streams a message twice: first as deltas (`stream_event`, with --include-partial-messages, which the worker
// always passes), then whole, one `assistant` event per content block, all with the message's id. The deltas make a
// draft that the page shows as it is written; each whole block then replaces its draft block, so nothing appears
// twice. Tool results come back in `user` events and join the tool call they answer. A tool call claude asks
// permission for (`permission_request`, by its tool_use id) is marked as waiting for approval until it is settled.
import { ExitReason, type Phase, type ResultSummary, type RunEvent, type SystemInit } from "../../../gen/claudecluster/v1/run_pb.js";

export type Block =
  | { kind: "text"; text: string; streaming: boolean }
  | { kind: "thinking"; text: string; streaming: boolean }
  | { kind: "tool"; id: string; name: string; input: string; streaming: boolean; result: ToolResult | undefined; asking?: boolean };

export interface ToolResult {
  content: string;
  isError: boolean;
}

export type Item =
  | { kind: "session"; key: string; version: number; init: SystemInit }
  | { kind: "assistant"; key: string; version: number; messageId: string; subagent: boolean; blocks: Block[] }
  | { kind: "user"; key: string; version: number; text: string }
  | { kind: "result"; key: string; version: number; result: ResultSummary }
  | { kind: "stderr"; key: string; version: number; text: string }
  | { kind: "exit"; key: string; version: number; reason: ExitReason; exitCode: number; message: string };

/** stderr kept for the page, at most: the rest is cut with a note (the full log stays on the router). */
export const STDERR_MAX_CHARS = 64 * 1024;

const decoder = new TextDecoder();

export class Transcript {
  readonly items: Item[] = [];
  /** Items changed since the last `takeChanged`. */
  private changed = new Set<Item>();
  private draft: Extract<Item, { kind: "assistant" }> | undefined;
  /** Whole blocks received per message id: the index of the draft block the next one replaces. */
  private readonly finalBlocks = new Map<string, number>();
  private readonly messages = new Map<string, Extract<Item, { kind: "assistant" }>>();
  private readonly tools = new Map<string, Extract<Block, { kind: "tool" }>>();
  private readonly toolOwner = new Map<string, Item>();
  private stderr: Extract<Item, { kind: "stderr" }> | undefined;
  /** Permission requests waiting, by request id: the tool_use id each is about. */
  private readonly asking = new Map<string, string>();
  private nextKey = 0;
  /** The latest phase, for the page's header. */
  phase: Phase | undefined;

  /** Applies one event, in seq order. */
  apply(event: RunEvent): void {
    const e = event.event;
    switch (e.case) {
      case "message":
        return this.message(e.value);
      case "output":
        return this.output(e.value.data);
      case "status":
        this.phase = e.value.phase;
        return;
      case "permissionRequest":
        this.asking.set(e.value.requestId, e.value.toolUseId);
        return this.markAsking(e.value.toolUseId);
      case "permissionResolved": {
        const toolUseId = this.asking.get(e.value.requestId);
        this.asking.delete(e.value.requestId);
        if (toolUseId !== undefined) this.markAsking(toolUseId);
        return;
      }
      case "exited":
        this.draftDone();
        if (e.value.reason !== ExitReason.COMPLETED || !this.items.some((i) => i.kind === "result")) {
          this.add({ kind: "exit", key: this.key(), version: 0, reason: e.value.reason, exitCode: e.value.exitCode, message: e.value.message });
        }
        return;
      default:
        return;
    }
  }

  /** The items added or changed since the last call. */
  takeChanged(): Item[] {
    const out = [...this.changed];
    this.changed = new Set();
    return out;
  }

  private message(m: Extract<RunEvent["event"], { case: "message" }>["value"]): void {
    const body = m.body;
    switch (body.case) {
      case "init":
        this.add({ kind: "session", key: this.key(), version: 0, init: body.value });
        return;
      case "delta":
        return this.delta(body.value.eventType, body.value.index, body.value.deltaType, body.value.text, m.parentToolUseId !== "");
      case "assistant": {
        const item = this.assistantItem(body.value.id, m.parentToolUseId !== "");
        for (const block of body.value.content) {
          const b = block.block;
          let next: Block | undefined;
          if (b.case === "text") next = { kind: "text", text: b.value.text, streaming: false };
          else if (b.case === "thinking") next = { kind: "thinking", text: b.value.thinking, streaming: false };
          else if (b.case === "toolUse") {
            const tool: Block = { kind: "tool", id: b.value.id, name: b.value.name, input: b.value.inputJson, streaming: false, result: this.tools.get(b.value.id)?.result, asking: this.isAsking(b.value.id) };
            this.tools.set(b.value.id, tool);
            this.toolOwner.set(b.value.id, item);
            next = tool;
          }
          if (!next) continue;
          const index = this.finalBlocks.get(item.messageId) ?? 0;
          this.finalBlocks.set(item.messageId, index + 1);
          if (index < item.blocks.length) item.blocks[index] = next;
          else item.blocks.push(next);
        }
        this.touch(item);
        return;
      }
      case "user": {
        const texts: string[] = [];
        for (const block of body.value.content) {
          const b = block.block;
          if (b.case === "toolResult") {
            const tool = this.tools.get(b.value.toolUseId);
            const result = { content: b.value.content, isError: b.value.isError };
            if (tool) {
              tool.result = result;
              const owner = this.toolOwner.get(b.value.toolUseId);
              if (owner) this.touch(owner);
            }
          } else if (b.case === "text" && m.parentToolUseId === "") {
            texts.push(b.value.text);
          }
        }
        if (texts.length > 0) this.add({ kind: "user", key: this.key(), version: 0, text: texts.join("\n") });
        return;
      }
      case "result":
        this.draftDone();
        this.add({ kind: "result", key: this.key(), version: 0, result: body.value });
        return;
      default:
        return;
    }
  }

  private isAsking(toolUseId: string): boolean {
    for (const id of this.asking.values()) if (id === toolUseId) return true;
    return false;
  }

  private markAsking(toolUseId: string): void {
    const tool = this.tools.get(toolUseId);
    if (!tool) return;
    tool.asking = this.isAsking(toolUseId);
    const owner = this.toolOwner.get(toolUseId);
    if (owner) this.touch(owner);
  }

  private delta(eventType: string, index: number, deltaType: string, text: string, subagent: boolean): void {
    if (eventType === "message_start") {
      this.draftDone();
      this.draft = { kind: "assistant", key: this.key(), version: 0, messageId: "", subagent, blocks: [] };
      this.add(this.draft);
      return;
    }
    const draft = this.draft;
    if (!draft) return;
    if (eventType === "message_stop") {
      this.draftDone();
      return;
    }
    // content_block_start carries no delta type (a tool's name comes with the whole block): a block is drafted
    // from its first delta.
    if (eventType !== "content_block_delta") return;
    // A block the whole message already replaced is not drafted again.
    if (draft.messageId && index < (this.finalBlocks.get(draft.messageId) ?? 0)) return;
    const block = draft.blocks[index] ?? newDraftBlock(draft, index, deltaType);
    if (block.kind === "tool" && deltaType === "input_json_delta") block.input += text;
    else if (block.kind !== "tool" && (deltaType === "text_delta" || deltaType === "thinking_delta")) block.text += text;
    this.touch(draft);
  }

  /** The item for a whole message: the draft its deltas built, or a new one. */
  private assistantItem(messageId: string, subagent: boolean): Extract<Item, { kind: "assistant" }> {
    const known = this.messages.get(messageId);
    if (known) return known;
    let item = this.draft && this.draft.messageId === "" ? this.draft : undefined;
    if (!item) {
      this.draftDone();
      item = { kind: "assistant", key: this.key(), version: 0, messageId, subagent, blocks: [] };
      this.add(item);
    }
    item.messageId = messageId;
    this.messages.set(messageId, item);
    return item;
  }

  /** The draft is complete: blocks no whole message replaced stay as they were streamed. */
  private draftDone(): void {
    const draft = this.draft;
    if (!draft) return;
    this.draft = undefined;
    for (const block of draft.blocks) block.streaming = false;
    draft.blocks = draft.blocks.filter((b) => b.kind === "tool" || b.text !== "");
    this.touch(draft);
  }

  private output(data: Uint8Array): void {
    const text = decoder.decode(data, { stream: true });
    if (!this.stderr) {
      this.stderr = { kind: "stderr", key: this.key(), version: 0, text: "" };
      this.add(this.stderr);
    }
    if (this.stderr.text.length >= STDERR_MAX_CHARS) return;
    this.stderr.text += text;
    if (this.stderr.text.length > STDERR_MAX_CHARS) this.stderr.text = this.stderr.text.slice(0, STDERR_MAX_CHARS) + "\n… (cut here: see `cc logs` for all of it)";
    this.touch(this.stderr);
  }

  private add(item: Item): void {
    this.items.push(item);
    this.changed.add(item);
  }

  private touch(item: Item): void {
    item.version += 1;
    this.changed.add(item);
  }

  private key(): string {
    this.nextKey += 1;
    return `i${this.nextKey}`;
  }
}

/** A draft block for the first delta at `index` (gaps before it are empty text, dropped when the draft is done). */
function newDraftBlock(draft: Extract<Item, { kind: "assistant" }>, index: number, deltaType: string): Block {
  const block: Block =
    deltaType === "input_json_delta"
      ? { kind: "tool", id: "", name: "", input: "", streaming: true, result: undefined }
      : { kind: deltaType === "thinking_delta" ? "thinking" : "text", text: "", streaming: true };
  while (draft.blocks.length < index) draft.blocks.push({ kind: "text", text: "", streaming: true });
  draft.blocks[index] = block;
  return block;
}
