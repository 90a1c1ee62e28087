// Encoding one assistant turn the way the Anthropic Messages API does:
// as a Server-Sent Events stream (stream: true) or as one JSON message.
// Pure functions so the exact event sequence can be unit-tested.

import type { Block, Usage } from "./script.js";

/** A block as it goes on the wire: tool calls need ids, thinking needs a signature. */
export type WireBlock =
  | { type: "text"; text: string }
  | { type: "thinking"; thinking: string; signature: string }
  | { type: "tool_use"; id: string; name: string; input: unknown };

export interface WireMessage {
  id: string;
  model: string;
  content: WireBlock[];
  usage: Usage;
  /** The request's stop sequence this message ended on, if any. */
  stopSequence?: string | undefined;
}

export interface SseEvent {
  event: string;
  data: { type: string } & Record<string, unknown>;
}

/** Claude never verifies it against us; it only needs to be present to echo back. */
export const FAKE_SIGNATURE = "c2NyaXB0ZWQtbW9kZWw=";

/** Characters per text/thinking delta: small enough that streaming is visible. */
const TEXT_CHUNK = 24;
/** Characters per input_json_delta, mirroring how the API splits tool input. */
const JSON_CHUNK = 32;

/**
 * Gives tool calls stable ids derived from their position, so a retried request
 * gets the same ids and tests can predict them. Explicit ids win.
 */
export function toWireBlocks(blocks: Block[], idPrefix: string): WireBlock[] {
  return blocks.map((b, i): WireBlock => {
    switch (b.type) {
      case "text":
        return { type: "text", text: b.text };
      case "thinking":
        return { type: "thinking", thinking: b.thinking, signature: FAKE_SIGNATURE };
      case "tool_use":
        return { type: "tool_use", id: b.id ?? `${idPrefix}_${i}`, name: b.name, input: b.input };
    }
  });
}

type StopReason = "tool_use" | "end_turn" | "stop_sequence";

export function stopReason(msg: WireMessage): { stop_reason: StopReason; stop_sequence: string | null } {
  if (msg.stopSequence !== undefined) return { stop_reason: "stop_sequence", stop_sequence: msg.stopSequence };
  const usesTool = msg.content.some((b) => b.type === "tool_use");
  return { stop_reason: usesTool ? "tool_use" : "end_turn", stop_sequence: null };
}

/** The full non-streaming response body. */
export function messageJson(msg: WireMessage): Record<string, unknown> {
  return {
    id: msg.id,
    type: "message",
    role: "assistant",
    model: msg.model,
    content: msg.content,
    ...stopReason(msg),
    usage: fullUsage(msg.usage),
  };
}

/** The event sequence of a streamed message, in API order. */
export function messageEvents(msg: WireMessage): SseEvent[] {
  const events: SseEvent[] = [
    ev("message_start", {
      message: {
        id: msg.id,
        type: "message",
        role: "assistant",
        model: msg.model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        // Output is unknown until the end; the final count comes in message_delta.
        usage: fullUsage({ input_tokens: msg.usage.input_tokens, output_tokens: 0 }),
      },
    }),
    ev("ping", {}),
  ];
  msg.content.forEach((block, index) => events.push(...blockEvents(block, index)));
  events.push(
    ev("message_delta", {
      delta: stopReason(msg),
      usage: fullUsage(msg.usage),
    }),
    ev("message_stop", {}),
  );
  return events;
}

function blockEvents(block: WireBlock, index: number): SseEvent[] {
  const start = (content_block: WireBlock): SseEvent => ev("content_block_start", { index, content_block });
  const delta = (d: Record<string, unknown>): SseEvent => ev("content_block_delta", { index, delta: d });
  const stop = ev("content_block_stop", { index });
  switch (block.type) {
    case "text":
      return [
        start({ type: "text", text: "" }),
        ...chunkText(block.text, TEXT_CHUNK).map((text) => delta({ type: "text_delta", text })),
        stop,
      ];
    case "thinking":
      return [
        start({ type: "thinking", thinking: "", signature: "" }),
        ...chunkText(block.thinking, TEXT_CHUNK).map((thinking) => delta({ type: "thinking_delta", thinking })),
        delta({ type: "signature_delta", signature: block.signature }),
        stop,
      ];
    case "tool_use":
      return [
        start({ type: "tool_use", id: block.id, name: block.name, input: {} }),
        ...slices(JSON.stringify(block.input ?? {}), JSON_CHUNK).map((partial_json) =>
          delta({ type: "input_json_delta", partial_json }),
        ),
        stop,
      ];
  }
}

/** `event: <type>\ndata: <json>\n\n`, the framing the Anthropic SDK parses. */
export function formatSse(e: SseEvent): string {
  return `event: ${e.event}\ndata: ${JSON.stringify(e.data)}\n\n`;
}

/** The API's error envelope, used for scripted errors, 404s, 400s and 413s. */
export function errorJson(type: string, message: string, requestId: string): Record<string, unknown> {
  return { type: "error", error: { type, message }, request_id: requestId };
}

/** Splits at word boundaries into pieces of roughly `size` characters. */
export function chunkText(text: string, size: number): string[] {
  const chunks: string[] = [];
  let current = "";
  for (const word of text.split(/(?<=\s)/)) {
    if (current.length > 0 && current.length + word.length > size) {
      chunks.push(current);
      current = "";
    }
    current += word;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

function slices(s: string, size: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < s.length; i += size) out.push(s.slice(i, i + size));
  return out;
}

function fullUsage(u: Usage): Record<string, number> {
  return { input_tokens: u.input_tokens, output_tokens: u.output_tokens, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 };
}

function ev(event: string, rest: Record<string, unknown>): SseEvent {
  return { event, data: { type: event, ...rest } };
}
