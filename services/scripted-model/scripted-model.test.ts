// Unit tests for the scripted model server. They speak HTTP to a real server
// on an ephemeral port but never start claude (the e2e tests do that).

import { afterEach, describe, expect, it } from "vitest";
import { classify, turnContext, type MessagesRequest } from "./request.js";
import {
  END_OF_SCRIPT_TEXT,
  NO_MATCH_TEXT,
  parseScript,
  renderBlocks,
  selectTurn,
  type Script,
} from "./script.js";
import { startScriptedModel, type ScriptedModel } from "./server.js";
import { sideAnswer } from "./side.js";
import { until } from "../../test/helpers/wait.js";
import { chunkText, formatSse, messageEvents, messageJson, toWireBlocks, type SseEvent } from "./sse.js";

const TOOLS = [{ name: "Bash", input_schema: { type: "object" } }];
const REMINDER = "<system-reminder>\nEnd git commit messages with: Co-Authored-By\n</system-reminder>\n";

/** A request shaped like Claude Code 2.1's main loop: reminder block, env "system" message, tools. */
function mainRequest(messages: MessagesRequest["messages"], extra: Partial<MessagesRequest> = {}): MessagesRequest {
  return { model: "claude-test", tools: TOOLS, stream: true, messages, ...extra };
}

function user(text: string): MessagesRequest["messages"][number] {
  return { role: "user", content: [{ type: "text", text: REMINDER }, { type: "text", text }] };
}
const ENV = { role: "system", content: [{ type: "text", text: "# Environment\nPrimary working directory: /tmp" }] };
const ASSISTANT = { role: "assistant", content: [{ type: "text", text: "earlier answer" }] };
const TOOL_RESULT = { role: "user", content: [{ type: "tool_result", tool_use_id: "t1", content: "ok" }] };

describe("SSE encoding", () => {
  it("streams a text turn as the exact Messages API event sequence", () => {
    const events = messageEvents({
      id: "msg_1",
      model: "m",
      content: toWireBlocks([{ type: "text", text: "Hi there" }], "toolu"),
      usage: { input_tokens: 7, output_tokens: 3 },
    });
    const usage = (input: number, output: number): Record<string, number> => ({
      input_tokens: input,
      output_tokens: output,
      cache_creation_input_tokens: 0,
      cache_read_input_tokens: 0,
    });
    expect(events).toEqual([
      {
        event: "message_start",
        data: {
          type: "message_start",
          message: {
            id: "msg_1",
            type: "message",
            role: "assistant",
            model: "m",
            content: [],
            stop_reason: null,
            stop_sequence: null,
            usage: usage(7, 0),
          },
        },
      },
      { event: "ping", data: { type: "ping" } },
      { event: "content_block_start", data: { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } } },
      { event: "content_block_delta", data: { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "Hi there" } } },
      { event: "content_block_stop", data: { type: "content_block_stop", index: 0 } },
      {
        event: "message_delta",
        data: { type: "message_delta", delta: { stop_reason: "end_turn", stop_sequence: null }, usage: usage(7, 3) },
      },
      { event: "message_stop", data: { type: "message_stop" } },
    ]);
  });

  it("streams tool input as input_json_delta chunks that rebuild the input", () => {
    const input = { command: "echo hi > out.txt", description: "Create out.txt with a long-ish description" };
    const events = messageEvents({
      id: "msg_2",
      model: "m",
      content: toWireBlocks([{ type: "text", text: "Running it." }, { type: "tool_use", name: "Bash", input }], "toolu_x"),
      usage: { input_tokens: 1, output_tokens: 1 },
    });
    expect(events.map((e) => e.event)).toEqual([
      "message_start",
      "ping",
      "content_block_start",
      "content_block_delta",
      "content_block_stop",
      "content_block_start",
      "content_block_delta",
      "content_block_delta",
      "content_block_delta",
      "content_block_stop",
      "message_delta",
      "message_stop",
    ]);
    expect(events[5]!.data).toEqual({
      type: "content_block_start",
      index: 1,
      content_block: { type: "tool_use", id: "toolu_x_1", name: "Bash", input: {} },
    });
    const json = events
      .filter((e) => e.event === "content_block_delta" && e.data["index"] === 1)
      .map((e) => (e.data["delta"] as { partial_json: string }).partial_json)
      .join("");
    expect(JSON.parse(json)).toEqual(input);
    expect((events[10]!.data["delta"] as { stop_reason: string }).stop_reason).toBe("tool_use");
  });

  it("streams thinking with thinking_delta then signature_delta", () => {
    const events = messageEvents({
      id: "msg_3",
      model: "m",
      content: toWireBlocks([{ type: "thinking", thinking: "hmm" }], "t"),
      usage: { input_tokens: 1, output_tokens: 1 },
    });
    const deltas = events.filter((e) => e.event === "content_block_delta").map((e) => (e.data["delta"] as { type: string }).type);
    expect(deltas).toEqual(["thinking_delta", "signature_delta"]);
    expect(events[2]!.data["content_block"]).toEqual({ type: "thinking", thinking: "", signature: "" });
  });

  it("frames events as event/data lines and builds non-streaming messages", () => {
    const e: SseEvent = { event: "ping", data: { type: "ping" } };
    expect(formatSse(e)).toBe('event: ping\ndata: {"type":"ping"}\n\n');
    const msg = messageJson({
      id: "msg_4",
      model: "m",
      content: [{ type: "text", text: "<block>no" }],
      usage: { input_tokens: 1, output_tokens: 1 },
      stopSequence: "</block>",
    });
    expect(msg).toMatchObject({ type: "message", role: "assistant", stop_reason: "stop_sequence", stop_sequence: "</block>" });
  });

  it("chunks text at word boundaries without losing characters", () => {
    const text = "The quick brown fox jumps over the lazy dog, twice over.";
    const chunks = chunkText(text, 12);
    expect(chunks.length).toBeGreaterThan(3);
    expect(chunks.join("")).toBe(text);
  });
});

describe("turn selection", () => {
  const script: Script = {
    conversations: [
      { match: "DEPLOY", turns: [{ content: [{ type: "text", text: "deploying" }] }] },
      { turns: [{ content: [{ type: "text", text: "zero" }] }, { content: [{ type: "text", text: "one" }] }] },
    ],
  };
  const textOf = (ctx: ReturnType<typeof turnContext>): string => {
    const block = selectTurn(script, ctx).turn.content[0];
    return block?.type === "text" ? block.text : "";
  };

  it("picks the turn by the number of assistant messages already sent", () => {
    expect(textOf(turnContext(mainRequest([user("hi"), ENV])))).toBe("zero");
    expect(textOf(turnContext(mainRequest([user("hi"), ENV, ASSISTANT, TOOL_RESULT])))).toBe("one");
    expect(textOf(turnContext(mainRequest([user("hi"), ENV, ASSISTANT, user("again"), ASSISTANT, user("more")])))).toBe(
      END_OF_SCRIPT_TEXT,
    );
  });

  it("matches conversations case-insensitively on the first user prompt only", () => {
    expect(textOf(turnContext(mainRequest([user("please deploy it"), ENV])))).toBe("deploying");
    // "deploy" in a later prompt does not switch conversations mid-session.
    expect(textOf(turnContext(mainRequest([user("hi"), ENV, ASSISTANT, user("deploy")])))).toBe("one");
    // Claude's injected system reminders never count as the prompt.
    expect(turnContext(mainRequest([user("hi")])).firstPrompt).toBe("hi");
    const strict: Script = { conversations: [{ match: "nope", turns: [] }] };
    const none = selectTurn(strict, turnContext(mainRequest([user("hi")])));
    expect(none.conversationIndex).toBe(-1);
    expect(none.turn.content).toEqual([{ type: "text", text: NO_MATCH_TEXT }]);
  });

  it("uses the latest typed prompt, skipping tool-result-only messages", () => {
    const ctx = turnContext(mainRequest([user("first"), ENV, ASSISTANT, user("  second  "), ASSISTANT, TOOL_RESULT]));
    expect(ctx).toEqual({ firstPrompt: "first", lastPrompt: "second", assistantCount: 2, toolResults: ["ok"] });
  });

  it("templates {{prompt}} into text and nested tool input strings", () => {
    const rendered = renderBlocks(
      [
        { type: "text", text: "You said: {{prompt}}" },
        { type: "tool_use", name: "Write", input: { file_path: "a.txt", content: "{{prompt}}!", n: 3, list: ["{{prompt}}"] } },
      ],
      { prompt: "hey" },
    );
    expect(rendered).toEqual([
      { type: "text", text: "You said: hey" },
      { type: "tool_use", name: "Write", input: { file_path: "a.txt", content: "hey!", n: 3, list: ["hey"] } },
    ]);
  });

  it("templates tool results: the latest one, and values collected from the JSON ones", () => {
    const results = [
      JSON.stringify({ task_id: "t1", worker_id: "w1" }),
      "not json",
      JSON.stringify({ task_id: "t2", nested: { task_id: "t3" } }),
      JSON.stringify({ tasks: [{ task_id: "t1", result: "one" }, { task_id: "t2", result: "two" }] }),
    ];
    const rendered = renderBlocks(
      [
        { type: "tool_use", name: "mcp__x__wait", input: { task_ids: "{{collect:task_id}}", note: "ids: {{collect:task_id}}" } },
        { type: "tool_use", name: "mcp__x__diff", input: { task_id: "{{first:task_id}}", tasks: "{{first:tasks}}", none: "{{first:missing}}" } },
        { type: "text", text: "Results:\n{{collect:result}}\nfirst: {{first:task_id}}\nlast: {{lastToolResult}}" },
      ],
      { prompt: "p", toolResults: results },
    );
    expect(rendered).toEqual([
      { type: "tool_use", name: "mcp__x__wait", input: { task_ids: ["t1", "t2", "t3"], note: "ids: t1\nt2\nt3" } },
      { type: "tool_use", name: "mcp__x__diff", input: { task_id: "t1", tasks: [{ task_id: "t1", result: "one" }, { task_id: "t2", result: "two" }], none: "" } },
      { type: "text", text: `Results:\none\ntwo\nfirst: t1\nlast: ${results[3]}` },
    ]);
    // Tool results arrive as a string or as text blocks.
    const blocks = { role: "user", content: [{ type: "tool_result", tool_use_id: "x", content: [{ type: "text", text: '{"a":1}' }, { type: "text", text: "more" }] }] };
    expect(turnContext(mainRequest([user("hi"), ENV, ASSISTANT, blocks])).toolResults).toEqual(['{"a":1}\nmore']);
  });

  it("rejects malformed scripts with the offending path", () => {
    expect(() => parseScript({ conversations: [{ turns: [{ content: [{ type: "image" }] }] }] })).toThrow(
      "conversations[0].turns[0].content[0].type",
    );
    expect(() => parseScript({ conversations: [{ turns: [{ content: [], error: { status: 200 } }] }] })).toThrow(
      "conversations[0].turns[0].error.status",
    );
    expect(() => parseScript({})).toThrow("conversations");
  });
});

describe("side requests", () => {
  it("classifies the main loop by its tools and everything else as side", () => {
    expect(classify(mainRequest([user("hi")]))).toBe("main");
    // Session-title generation: no tools, structured output.
    const title: MessagesRequest = {
      tools: [],
      messages: [user("<session>\nfix the flaky router test\n</session>\n\nWrite the title...")],
      output_config: { format: { type: "json_schema", schema: { type: "object", properties: { title: { type: "string" } } } } },
    };
    expect(classify(title)).toBe("side");
    expect(sideAnswer(title).content).toEqual([{ type: "text", text: '{"title":"Fix the flaky router test"}' }]);
    // Auto-mode permission classifier: no tools, stops at </block>.
    const guard: MessagesRequest = { messages: [user("<transcript>...</transcript>")], stop_sequences: ["</block>"] };
    expect(classify(guard)).toBe("side");
    expect(sideAnswer(guard)).toEqual({ content: [{ type: "text", text: "<block>no" }], stopSequence: "</block>" });
  });
});

describe("server", () => {
  let model: ScriptedModel | undefined;
  afterEach(async () => {
    await model?.close();
    model = undefined;
  });

  const start = async (script?: Script, opts: { maxRecorded?: number; maxBodyBytes?: number } = {}): Promise<ScriptedModel> => {
    model = await startScriptedModel({ ...(script ? { script } : {}), ...opts });
    return model;
  };
  const post = (m: ScriptedModel, body: unknown, path = "/v1/messages?beta=true", headers: Record<string, string> = {}): Promise<Response> =>
    fetch(m.url + path, {
      method: "POST",
      headers: { "content-type": "application/json", "x-api-key": "sk-secret", ...headers },
      body: JSON.stringify(body),
    });
  const sseText = async (res: Response): Promise<string> => {
    const events = (await res.text())
      .split("\n\n")
      .filter((frame) => frame.startsWith("event:"))
      .map((frame) => JSON.parse(frame.split("\ndata: ")[1]!) as { type: string; delta?: { text?: string } });
    return events.map((e) => (e.type === "content_block_delta" ? (e.delta?.text ?? "") : "")).join("");
  };

  it("streams the default echo script over SSE", async () => {
    const m = await start();
    const res = await post(m, mainRequest([user("what is up")]));
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/event-stream");
    expect(res.headers.get("request-id")).toMatch(/^req_/);
    expect(await sseText(res)).toBe("Hello from the scripted model. You said: what is up");
  });

  it("answers non-streaming requests with one JSON message", async () => {
    const m = await start();
    const res = await post(m, mainRequest([user("plain")], { stream: false }));
    const body = (await res.json()) as { content: unknown[]; stop_reason: string; usage: { output_tokens: number } };
    expect(body.content).toEqual([{ type: "text", text: "Hello from the scripted model. You said: plain" }]);
    expect(body.stop_reason).toBe("end_turn");
    expect(body.usage.output_tokens).toBeGreaterThan(0);
  });

  it("answers error turns with the status and Anthropic error body", async () => {
    const m = await start({
      conversations: [{ turns: [{ content: [], error: { status: 529, type: "overloaded_error", message: "Overloaded", retry: false } }] }],
    });
    const res = await post(m, mainRequest([user("hi")]));
    expect(res.status).toBe(529);
    expect(res.headers.get("x-should-retry")).toBe("false");
    expect(await res.json()).toMatchObject({ type: "error", error: { type: "overloaded_error", message: "Overloaded" } });
  });

  it("fails only the first `times` attempts of an identical request", async () => {
    const m = await start({
      conversations: [
        { turns: [{ content: [{ type: "text", text: "recovered" }], error: { status: 500, type: "api_error", message: "boom", times: 1 } }] },
      ],
    });
    const req = mainRequest([user("hi")]);
    const session = { "x-claude-code-session-id": "s1" };
    expect((await post(m, req, undefined, session)).status).toBe(500);
    expect(await sseText(await post(m, req, undefined, session))).toBe("recovered");
    // Another session's first attempt still fails.
    expect((await post(m, req, undefined, { "x-claude-code-session-id": "s2" })).status).toBe(500);
  });

  it("keeps side requests out of turn selection", async () => {
    const m = await start({ conversations: [{ turns: [{ content: [{ type: "text", text: "turn zero" }] }] }] });
    const side = await post(m, { model: "m", tools: [], messages: [user("title please")], output_config: { format: { type: "json_schema", schema: { type: "object", properties: { title: { type: "string" } } } } }, stream: true });
    expect(await sseText(side)).toBe('{"title":"Title please"}');
    const tokens = await post(m, { model: "m", messages: [user("hi")] }, "/v1/messages/count_tokens");
    expect(((await tokens.json()) as { input_tokens: number }).input_tokens).toBeGreaterThan(0);
    expect(await sseText(await post(m, mainRequest([user("hi")])))).toBe("turn zero");
    expect(m.requests().map((r) => r.kind)).toEqual(["side", "side", "main"]);
    expect(m.mainRequests()).toHaveLength(1);
    expect(m.mainRequests()[0]!.turn).toEqual({ conversation: 0, index: 0 });
  });

  it("answers unknown paths and bad bodies with Anthropic-style errors", async () => {
    const m = await start();
    const missing = await fetch(m.url + "/v1/nope");
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ type: "error", error: { type: "not_found_error" } });
    const bad = await post(m, { model: "m" });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: { type: "invalid_request_error" } });
    expect((await fetch(m.url + "/api/hello", { method: "HEAD" })).status).toBe(200);
  });

  it("records requests with credentials redacted, keeping only the newest", async () => {
    const m = await start(undefined, { maxRecorded: 2 });
    await (await post(m, mainRequest([user("one")]), undefined, { authorization: "Bearer secret" })).text();
    await (await post(m, mainRequest([user("two")]))).text();
    await (await post(m, mainRequest([user("three")]))).text();
    const recorded = m.requests();
    expect(recorded).toHaveLength(2);
    expect(recorded[0]!.headers["x-api-key"]).toBe("[redacted]");
    expect(JSON.stringify(recorded)).not.toContain("sk-secret");
    expect(recorded[0]).toMatchObject({ method: "POST", path: "/v1/messages", url: "/v1/messages?beta=true", kind: "main" });
    expect(turnContext(recorded[1]!.body as MessagesRequest).lastPrompt).toBe("three");
    m.clearRequests();
    expect(m.requests()).toEqual([]);
  });

  it("rejects oversized bodies with 413", async () => {
    const m = await start(undefined, { maxBodyBytes: 1024 });
    const res = await post(m, mainRequest([user("x".repeat(4096))]));
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ error: { type: "request_too_large" } });
  });

  it("switches scripts with setScript", async () => {
    const m = await start();
    m.setScript({ conversations: [{ turns: [{ content: [{ type: "text", text: "new script" }] }] }] });
    expect(await sseText(await post(m, mainRequest([user("hi")])))).toBe("new script");
  });

  it("close() ends open streams and never-answering requests promptly", async () => {
    const m = await start({
      conversations: [
        { match: "slow", turns: [{ chunkDelayMs: 60_000, content: [{ type: "text", text: "never finishes" }] }] },
        { match: "silent", turns: [{ delayMs: 10 * 24 * 3600 * 1000, content: [] }] },
      ],
    });
    const streaming = await post(m, mainRequest([user("slow")]));
    const reader = streaming.body!.getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    expect(first).toContain("message_start");
    const silent = post(m, mainRequest([user("silent")]));
    await until(() => m.requests().length === 2); // the silent request has arrived
    // Resolving at all proves close() does not wait for the silent request's 10-day delay.
    await m.close();
    await expect(silent).rejects.toThrow();
    await expect(reader.read()).rejects.toThrow();
    model = undefined;
  });
});
