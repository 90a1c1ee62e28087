// Reading the parts of a Messages API request body that decide what to answer.
//
// Claude Code's request bodies carry much more (system prompt, tool schemas,
// thinking config, metadata); it is recorded verbatim but ignored here.

import type { TurnContext } from "./script.js";

/** A JSON Schema as claude sends it for structured outputs (only what we read). */
export interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  enum?: unknown[];
  const?: unknown;
}

export interface ContentBlockParam {
  type: string;
  text?: string;
  /** tool_result blocks: a string or text blocks. */
  content?: string | ContentBlockParam[];
}

export interface MessageParam {
  // "user" | "assistant", and Claude Code 2.1.x also sends "system" messages
  // (its environment block) inside `messages`.
  role: string;
  content: string | ContentBlockParam[];
}

/** The slice of a POST /v1/messages body this server reads. */
export interface MessagesRequest {
  model?: string;
  messages: MessageParam[];
  tools?: unknown[];
  stream?: boolean;
  stop_sequences?: string[];
  output_config?: { format?: { type?: string; schema?: JsonSchema } };
}

export type RequestKind = "main" | "side";

/** Narrows a parsed JSON body to a Messages request, or explains why not. */
export function asMessagesRequest(body: unknown): MessagesRequest | string {
  if (body === null || typeof body !== "object" || Array.isArray(body)) return "body must be a JSON object";
  const messages = (body as { messages?: unknown }).messages;
  if (!Array.isArray(messages)) return "messages: Field required";
  for (const m of messages) {
    const ok = m !== null && typeof m === "object" && typeof m.role === "string" &&
      (typeof m.content === "string" || Array.isArray(m.content));
    if (!ok) return "messages: each message needs a role and content";
  }
  return body as MessagesRequest;
}

/**
 * The main agent loop always offers tools (Bash, Read, ...). Claude's side
 * requests observed so far (session-title generation) send `tools: []` and a
 * JSON-schema output format. So: main = has tools and wants no structured
 * output; everything else is a side request that must not consume turns.
 */
export function classify(req: MessagesRequest): RequestKind {
  const hasTools = Array.isArray(req.tools) && req.tools.length > 0;
  const wantsSchema = req.output_config?.format !== undefined;
  return hasTools && !wantsSchema ? "main" : "side";
}

const SYSTEM_REMINDER = /<system-reminder>[\s\S]*?<\/system-reminder>/g;

/**
 * The human-typed text of a message. Claude injects `<system-reminder>` blocks
 * (git attribution, todo nudges, ...) into user messages; they are stripped so
 * they neither satisfy a `match` nor leak into `{{prompt}}`.
 */
export function userText(message: MessageParam): string {
  const parts = typeof message.content === "string"
    ? [message.content]
    : message.content.filter((b) => b.type === "text" && typeof b.text === "string").map((b) => b.text as string);
  return parts
    .map((p) => p.replace(SYSTEM_REMINDER, "").trim())
    .filter((p) => p.length > 0)
    .join("\n");
}

/** Where a request stands in its conversation; see selectTurn. */
export function turnContext(req: MessagesRequest): TurnContext {
  const userTexts = req.messages.filter((m) => m.role === "user").map(userText);
  // A user message that only carries tool_results has no text; the prompt is
  // the latest one the human actually typed.
  const typed = userTexts.filter((t) => t.length > 0);
  return {
    firstPrompt: userTexts[0] ?? "",
    lastPrompt: typed[typed.length - 1] ?? "",
    assistantCount: req.messages.filter((m) => m.role === "assistant").length,
    toolResults: toolResultTexts(req),
  };
}

/** The text of each tool_result block in the request, oldest first. */
export function toolResultTexts(req: MessagesRequest): string[] {
  const out: string[] = [];
  for (const m of req.messages) {
    if (typeof m.content === "string") continue;
    for (const b of m.content) {
      if (b.type !== "tool_result") continue;
      const c = b.content;
      out.push(typeof c === "string" ? c : Array.isArray(c) ? c.filter((p) => p.type === "text").map((p) => p.text ?? "").join("\n") : "");
    }
  }
  return out;
}
