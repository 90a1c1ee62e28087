// Script format and turn selection for the scripted model server.
//
// Everything here is pure and JSON-serialisable so that unit tests, the offline
// demo and fixture files on disk can all share one script format.

/** One content block the scripted assistant emits. */
export type Block =
  | { type: "text"; text: string }
  | { type: "thinking"; thinking: string }
  | { type: "tool_use"; name: string; input: unknown; id?: string };

/** Token counts reported to the client; claude derives its cost report from them. */
export interface Usage {
  input_tokens: number;
  output_tokens: number;
}

/** An Anthropic API error answered instead of the turn's content. */
export interface TurnError {
  status: number; // HTTP status, e.g. 429, 500, 529
  type: string; // Anthropic error type, e.g. "rate_limit_error", "overloaded_error"
  message: string;
  /**
   * Fail only the first `times` attempts of this request, then play the turn's
   * content; absent = every attempt fails. Claude retries with an identical
   * body (and always sends `x-stainless-retry-count: 0`), so attempts are
   * counted per session id + message history: the one bit of server state.
   */
  times?: number;
  /**
   * Sent as `x-should-retry`. Claude obeys `false` and gives up at once;
   * otherwise it retries 429/5xx/529 up to 10 times with backoff (~3 min).
   */
  retry?: boolean;
}

export interface Turn {
  content: Block[];
  /** Wait before sending response headers (latency, or "never answers" with a huge value). */
  delayMs?: number;
  /** Wait between SSE events so streaming is observable. */
  chunkDelayMs?: number;
  error?: TurnError;
  usage?: Usage;
}

export interface Conversation {
  /** Case-insensitive substring of the first user prompt; absent matches anything. */
  match?: string;
  turns: Turn[];
}

export interface Script {
  /** Tried in order; the first matching conversation answers. */
  conversations: Conversation[];
}

/** What a request tells us about where it is in its conversation. */
export interface TurnContext {
  /** Text of the first user prompt (used for `match`). */
  firstPrompt: string;
  /** Text of the latest user prompt (substituted for `{{prompt}}`). */
  lastPrompt: string;
  /** Assistant messages already in the request = index of the turn to play. */
  assistantCount: number;
  /** The text of every tool result in the request, oldest first (for `{{lastToolResult}}` and `{{collect:…}}`). */
  toolResults?: string[];
}

export interface SelectedTurn {
  turn: Turn;
  /** Index of the conversation in the script, or -1 when nothing matched. */
  conversationIndex: number;
  turnIndex: number;
}

export const END_OF_SCRIPT_TEXT = "(end of script)";
export const NO_MATCH_TEXT = "(no scripted conversation matches this prompt)";

export const DEFAULT_SCRIPT: Script = {
  conversations: [
    {
      turns: [{ content: [{ type: "text", text: "Hello from the scripted model. You said: {{prompt}}" }] }],
    },
  ],
};

/**
 * Picks the turn for a request. Stateless on purpose: the turn index is the
 * number of assistant messages the client already holds, so any number of
 * concurrent sessions (and client retries) can share one server.
 */
export function selectTurn(script: Script, ctx: TurnContext): SelectedTurn {
  const prompt = ctx.firstPrompt.toLowerCase();
  const conversationIndex = script.conversations.findIndex(
    (c) => c.match === undefined || prompt.includes(c.match.toLowerCase()),
  );
  const turnIndex = ctx.assistantCount;
  if (conversationIndex < 0) {
    return { turn: textTurn(NO_MATCH_TEXT), conversationIndex, turnIndex };
  }
  const turns = script.conversations[conversationIndex]!.turns;
  const turn = turns[turnIndex] ?? textTurn(END_OF_SCRIPT_TEXT);
  return { turn, conversationIndex, turnIndex };
}

export function textTurn(text: string): Turn {
  return { content: [{ type: "text", text }] };
}

/**
 * Fills in the templates, in text, thinking and every string inside tool inputs:
 * - `{{prompt}}`: the latest prompt the user typed;
 * - `{{lastToolResult}}`: the text of the latest tool result in the conversation;
 * - `{{collect:NAME}}`: every value of the key NAME in the tool results that are JSON (found at any depth, oldest
 *   first, each once) — joined by newlines in text, and, as a tool input string of its own, the array itself. So a
 *   script can pass ids an earlier tool returned to a later call, e.g. `"task_ids": "{{collect:task_id}}"`;
 * - `{{first:NAME}}`: the first of those values (empty when there is none), itself as a whole tool-input string:
 *   `"task_id": "{{first:task_id}}"` passes one id.
 */
export function renderBlocks(blocks: Block[], vars: { prompt: string; toolResults?: string[] }): Block[] {
  const results = vars.toolResults ?? [];
  const collect = (name: string): unknown[] => collectValues(results, name);
  const sub = (s: string): string =>
    s
      .replaceAll("{{prompt}}", vars.prompt)
      .replaceAll("{{lastToolResult}}", results.at(-1) ?? "")
      .replace(/\{\{collect:([^}]+)\}\}/g, (_, name: string) => collect(name).map(asText).join("\n"))
      .replace(/\{\{first:([^}]+)\}\}/g, (_, name: string) => asText(collect(name)[0] ?? ""));
  const subInput = (s: string): unknown => {
    const whole = /^\{\{(collect|first):([^}]+)\}\}$/.exec(s);
    if (!whole) return sub(s);
    const values = collect(whole[2]!);
    return whole[1] === "collect" ? values : (values[0] ?? "");
  };
  return blocks.map((b): Block => {
    switch (b.type) {
      case "text":
        return { ...b, text: sub(b.text) };
      case "thinking":
        return { ...b, thinking: sub(b.thinking) };
      case "tool_use":
        return { ...b, input: mapStrings(b.input, subInput) };
    }
  });
}

const asText = (v: unknown): string => (typeof v === "string" ? v : JSON.stringify(v));

/** Every value of `name` in the JSON tool results, at any depth, in order, each once. */
export function collectValues(toolResults: readonly string[], name: string): unknown[] {
  const out: unknown[] = [];
  const seen = new Set<string>();
  const visit = (v: unknown): void => {
    if (Array.isArray(v)) return v.forEach(visit);
    if (v === null || typeof v !== "object") return;
    for (const [k, inner] of Object.entries(v)) {
      if (k === name) {
        const key = JSON.stringify(inner);
        if (!seen.has(key)) {
          seen.add(key);
          out.push(inner);
        }
      }
      visit(inner);
    }
  };
  for (const text of toolResults) {
    try {
      visit(JSON.parse(text));
    } catch {
      // Not JSON: nothing to collect from it.
    }
  }
  return out;
}

function mapStrings(value: unknown, f: (s: string) => unknown): unknown {
  if (typeof value === "string") return f(value);
  if (Array.isArray(value)) return value.map((v) => mapStrings(v, f));
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, mapStrings(v, f)]));
  }
  return value;
}

/**
 * Validates untrusted JSON (a script file, a test's literal) into a Script.
 * Errors name the offending path so a typo in a fixture is quick to find.
 */
export function parseScript(json: unknown): Script {
  const root = asObject(json, "script");
  const conversations = asArray(root["conversations"], "conversations");
  return { conversations: conversations.map((c, i) => parseConversation(c, `conversations[${i}]`)) };
}

function parseConversation(json: unknown, path: string): Conversation {
  const o = asObject(json, path);
  const turns = asArray(o["turns"], `${path}.turns`).map((t, i) => parseTurn(t, `${path}.turns[${i}]`));
  const match = o["match"];
  if (match === undefined) return { turns };
  if (typeof match !== "string") throw new Error(`${path}.match: expected a string`);
  return { match, turns };
}

function parseTurn(json: unknown, path: string): Turn {
  const o = asObject(json, path);
  const content = asArray(o["content"] ?? [], `${path}.content`).map((b, i) =>
    parseBlock(b, `${path}.content[${i}]`),
  );
  const turn: Turn = { content };
  if (o["delayMs"] !== undefined) turn.delayMs = asNonNegative(o["delayMs"], `${path}.delayMs`);
  if (o["chunkDelayMs"] !== undefined) turn.chunkDelayMs = asNonNegative(o["chunkDelayMs"], `${path}.chunkDelayMs`);
  if (o["usage"] !== undefined) {
    const u = asObject(o["usage"], `${path}.usage`);
    turn.usage = {
      input_tokens: asNonNegative(u["input_tokens"], `${path}.usage.input_tokens`),
      output_tokens: asNonNegative(u["output_tokens"], `${path}.usage.output_tokens`),
    };
  }
  if (o["error"] !== undefined) turn.error = parseError(o["error"], `${path}.error`);
  return turn;
}

function parseError(json: unknown, path: string): TurnError {
  const e = asObject(json, path);
  const status = asNonNegative(e["status"], `${path}.status`);
  if (status < 400 || status > 599) throw new Error(`${path}.status: expected an HTTP error status`);
  const error: TurnError = {
    status,
    type: asString(e["type"], `${path}.type`),
    message: asString(e["message"], `${path}.message`),
  };
  if (e["times"] !== undefined) error.times = asNonNegative(e["times"], `${path}.times`);
  if (e["retry"] !== undefined) {
    if (typeof e["retry"] !== "boolean") throw new Error(`${path}.retry: expected a boolean`);
    error.retry = e["retry"];
  }
  return error;
}

function parseBlock(json: unknown, path: string): Block {
  const o = asObject(json, path);
  switch (o["type"]) {
    case "text":
      return { type: "text", text: asString(o["text"], `${path}.text`) };
    case "thinking":
      return { type: "thinking", thinking: asString(o["thinking"], `${path}.thinking`) };
    case "tool_use": {
      const block: Block = { type: "tool_use", name: asString(o["name"], `${path}.name`), input: o["input"] ?? {} };
      if (o["id"] !== undefined) block.id = asString(o["id"], `${path}.id`);
      return block;
    }
    default:
      throw new Error(`${path}.type: expected "text", "thinking" or "tool_use"`);
  }
}

function asObject(v: unknown, path: string): Record<string, unknown> {
  if (v === null || typeof v !== "object" || Array.isArray(v)) throw new Error(`${path}: expected an object`);
  return v as Record<string, unknown>;
}

function asArray(v: unknown, path: string): unknown[] {
  if (!Array.isArray(v)) throw new Error(`${path}: expected an array`);
  return v;
}

function asString(v: unknown, path: string): string {
  if (typeof v !== "string") throw new Error(`${path}: expected a string`);
  return v;
}

function asNonNegative(v: unknown, path: string): number {
  if (typeof v !== "number" || !Number.isFinite(v) || v < 0) throw new Error(`${path}: expected a number >= 0`);
  return v;
}
