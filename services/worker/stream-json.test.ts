// Golden files recorded from the real, pinned claude (`claude -p --output-format=stream-json --verbose
// --include-partial-messages`) talking to the scripted model: test/fixtures/stream-json/<case>/input.jsonl is claude's
// stdout as it printed it, expected.json is what parseStreamJsonLine makes of each line (toJson of ClaudeMessage).
// `UPDATE_GOLDEN=1 vitest run services/worker/stream-json.test.ts` rewrites expected.json from input.jsonl.
import { readFileSync, writeFileSync } from "node:fs";
import { toJson, type JsonValue } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { ClaudeMessageSchema, type ClaudeMessage, type ContentBlock } from "../../gen/claudecluster/v1/run_pb.js";
import { parseStreamJsonLine } from "./stream-json.js";

const FIXTURES = new URL("../../test/fixtures/stream-json/", import.meta.url);
const UPDATE = process.env["UPDATE_GOLDEN"] === "1";

function parseFixture(name: string): { lines: string[]; messages: ClaudeMessage[] } {
  const lines = readFileSync(new URL(`${name}/input.jsonl`, FIXTURES), "utf8").split("\n").filter((l) => l !== "");
  const messages = lines.map((line, i) => {
    const m = parseStreamJsonLine(line);
    if (!m) throw new Error(`${name}/input.jsonl line ${i + 1} did not parse`);
    return m;
  });
  return { lines, messages };
}

const texts = (blocks: ContentBlock[]) => blocks.flatMap((b) => (b.block.case === "text" ? [b.block.value.text] : []));
const assistantBlocks = (ms: ClaudeMessage[]) => ms.flatMap((m) => (m.body.case === "assistant" ? m.body.value.content : []));
const deltas = (ms: ClaudeMessage[], type: string) =>
  ms.flatMap((m) => (m.body.case === "delta" && m.body.value.deltaType === type ? [m.body.value.text] : []));

describe("stream-json golden files", () => {
  for (const name of ["hello", "write-file", "thinking", "structured-output"]) {
    it(`${name}: every line parses to expected.json`, () => {
      const { lines, messages } = parseFixture(name);
      const actual = messages.map((m) => toJson(ClaudeMessageSchema, m));
      const file = new URL(`${name}/expected.json`, FIXTURES);
      if (UPDATE) writeFileSync(file, JSON.stringify(actual, null, 2) + "\n");
      const expected = JSON.parse(readFileSync(file, "utf8")) as JsonValue[];
      expect(actual).toEqual(expected);
      // The original line is kept byte for byte.
      expect(messages.map((m) => m.json)).toEqual(lines);
    });
  }

  it("hello: init, text deltas that add up to the assistant text, and a successful result", () => {
    const { messages } = parseFixture("hello");
    const first = messages[0]!;
    expect(first.type).toBe("system");
    expect(first.subtype).toBe("init");
    expect(first.body.case).toBe("init");
    if (first.body.case !== "init") return;
    expect(first.body.value.tools).toContain("Bash");
    expect(first.body.value.claudeCodeVersion).toBe("2.1.330");
    const sessionId = first.sessionId;
    expect(sessionId).toMatch(/^[0-9a-f-]{36}$/);
    expect(messages.every((m) => m.sessionId === sessionId)).toBe(true);

    const text = "Hello from the scripted model. You said: say hello";
    expect(texts(assistantBlocks(messages))).toEqual([text]);
    expect(deltas(messages, "text_delta").join("")).toBe(text);

    const last = messages.at(-1)!;
    expect(last.body.case).toBe("result");
    if (last.body.case !== "result") return;
    expect(last.body.value).toMatchObject({ subtype: "success", isError: false, result: text, sessionId, numTurns: 1 });
    expect(last.body.value.usage).toMatchObject({ inputTokens: 100n, outputTokens: 20n });
    expect(last.body.value.totalCostUsd).toBeGreaterThan(0);
  });

  it("structured-output: with --json-schema the result carries claude's structured_output as JSON text", () => {
    const { messages } = parseFixture("structured-output");
    const last = messages.at(-1)!;
    expect(last.body.case).toBe("result");
    if (last.body.case !== "result") return;
    expect(JSON.parse(last.body.value.structuredOutputJson)).toEqual({ name: "Ada", age: 36 });
    expect(last.body.value.result).toBe('{"name":"Ada","age":36}');
    const hello = parseFixture("hello").messages.at(-1)!;
    expect(hello.body.case === "result" && hello.body.value.structuredOutputJson).toBe("");
  });

  it("write-file: a Bash tool use with its input, its result fed back, then the final text", () => {
    const { messages } = parseFixture("write-file");
    const toolUses = assistantBlocks(messages).flatMap((b) => (b.block.case === "toolUse" ? [b.block.value] : []));
    expect(toolUses).toHaveLength(1);
    expect(toolUses[0]!.name).toBe("Bash");
    expect(JSON.parse(toolUses[0]!.inputJson)).toEqual({ command: "echo hi > out.txt", description: "Create out.txt" });
    expect(JSON.parse(deltas(messages, "input_json_delta").join(""))).toEqual(JSON.parse(toolUses[0]!.inputJson));

    const results = messages.flatMap((m) => (m.body.case === "user" ? m.body.value.content : []));
    expect(results.map((b) => b.block)).toEqual([
      { case: "toolResult", value: expect.objectContaining({ toolUseId: toolUses[0]!.id, content: "(Bash completed with no output)", isError: false }) },
    ]);
    const last = messages.at(-1)!;
    expect(last.body.case === "result" && last.body.value.result).toBe("Done.");
    expect(last.body.case === "result" && last.body.value.numTurns).toBe(2);
  });

  it("thinking: thinking deltas add up to the thinking block; signature deltas carry no text", () => {
    const { messages } = parseFixture("thinking");
    const thinking = assistantBlocks(messages).flatMap((b) => (b.block.case === "thinking" ? [b.block.value.thinking] : []));
    expect(thinking).toEqual(['The user said "think about it". A short friendly answer will do.']);
    expect(deltas(messages, "thinking_delta").join("")).toBe(thinking[0]);
    expect(deltas(messages, "signature_delta")).toEqual([""]);
    // claude's own progress events (system/thinking_tokens, system/status) pass through without a body.
    const others = messages.filter((m) => m.type === "system" && m.subtype !== "init");
    expect(others.length).toBeGreaterThan(0);
    expect(others.every((m) => m.body.case === undefined)).toBe(true);
  });
});

describe("parseStreamJsonLine", () => {
  it.each([["not json"], [""], ["{"], ["[1,2]"], ["[]"], ["null"], ["42"], ['"text"'], ["true"]])("%j is not a message", (line) => {
    expect(parseStreamJsonLine(line)).toBeUndefined();
  });

  it("passes an unknown type through with type, subtype, session and json set and no body", () => {
    const line = '{"type":"rate_limit_event","subtype":"warning","session_id":"s-1","anything":{"x":1}}';
    const m = parseStreamJsonLine(line)!;
    expect(m.type).toBe("rate_limit_event");
    expect(m.subtype).toBe("warning");
    expect(m.sessionId).toBe("s-1");
    expect(m.json).toBe(line);
    expect(m.body.case).toBeUndefined();
  });

  it("an object without type still parses, with empty fields", () => {
    const m = parseStreamJsonLine("{}")!;
    expect(m).toMatchObject({ type: "", subtype: "", sessionId: "", parentToolUseId: "", json: "{}" });
    expect(m.body.case).toBeUndefined();
  });

  it("fields of the wrong type become empty, not errors", () => {
    const m = parseStreamJsonLine('{"type":"system","subtype":"init","session_id":7,"tools":"Bash","mcp_servers":[null,{"name":1}]}')!;
    expect(m.sessionId).toBe("");
    expect(m.body.case).toBe("init");
    if (m.body.case !== "init") return;
    expect(m.body.value.tools).toEqual([]);
    expect(m.body.value.mcpServers.map((s) => [s.name, s.status])).toEqual([["", ""], ["", ""]]);
  });

  it("system/init: cwd, model, tools, permission mode, version, MCP servers", () => {
    const line = JSON.stringify({
      type: "system",
      subtype: "init",
      session_id: "s",
      cwd: "/w",
      model: "opus",
      tools: ["Bash", "Edit"],
      permissionMode: "plan",
      claude_code_version: "9.9.9",
      mcp_servers: [{ name: "github", status: "connected" }],
    });
    const m = parseStreamJsonLine(line)!;
    expect(m.body.case).toBe("init");
    expect(m.body.value).toMatchObject({
      cwd: "/w",
      model: "opus",
      tools: ["Bash", "Edit"],
      permissionMode: "plan",
      claudeCodeVersion: "9.9.9",
      mcpServers: [expect.objectContaining({ name: "github", status: "connected" })],
    });
  });

  it("tool_result with string content", () => {
    const line = JSON.stringify({
      type: "user",
      parent_tool_use_id: "toolu_parent",
      message: { role: "user", content: [{ type: "tool_result", tool_use_id: "toolu_1", content: "plain output", is_error: true }] },
    });
    const m = parseStreamJsonLine(line)!;
    expect(m.parentToolUseId).toBe("toolu_parent");
    expect(m.body.case).toBe("user");
    if (m.body.case !== "user") return;
    expect(m.body.value.content.map((b) => b.block)).toEqual([
      { case: "toolResult", value: expect.objectContaining({ toolUseId: "toolu_1", content: "plain output", isError: true }) },
    ]);
  });

  it("tool_result with list content: text parts joined by newlines, other parts omitted", () => {
    const line = JSON.stringify({
      type: "user",
      message: {
        role: "user",
        content: [
          {
            type: "tool_result",
            tool_use_id: "toolu_2",
            content: [
              { type: "text", text: "first" },
              { type: "image", source: { type: "base64", data: "AAAA" } },
              { type: "text", text: "second" },
            ],
          },
        ],
      },
    });
    const m = parseStreamJsonLine(line)!;
    if (m.body.case !== "user") throw new Error(`body is ${m.body.case}`);
    expect(m.body.value.content.map((b) => b.block)).toEqual([
      { case: "toolResult", value: expect.objectContaining({ toolUseId: "toolu_2", content: "first\nsecond", isError: false }) },
    ]);
  });

  it("a user message whose content is a string becomes one text block", () => {
    const m = parseStreamJsonLine('{"type":"user","message":{"role":"user","content":"hi there"}}')!;
    if (m.body.case !== "user") throw new Error(`body is ${m.body.case}`);
    expect(m.body.value.content.map((b) => b.block)).toEqual([{ case: "text", value: expect.objectContaining({ text: "hi there" }) }]);
  });

  it("assistant: text, thinking, tool use and unknown blocks in order, stop reason and usage", () => {
    const line = JSON.stringify({
      type: "assistant",
      message: {
        id: "msg_1",
        model: "opus",
        stop_reason: "tool_use",
        usage: { input_tokens: 12, output_tokens: 34, cache_creation_input_tokens: 5, cache_read_input_tokens: 6 },
        content: [
          { type: "thinking", thinking: "hmm", signature: "sig" },
          { type: "text", text: "Let me look." },
          { type: "tool_use", id: "toolu_3", name: "Read", input: { file_path: "/a" } },
          { type: "tool_use", id: "toolu_4", name: "LS" },
          { type: "server_tool_use", id: "x" },
        ],
      },
    });
    const m = parseStreamJsonLine(line)!;
    if (m.body.case !== "assistant") throw new Error(`body is ${m.body.case}`);
    const a = m.body.value;
    expect(a).toMatchObject({ id: "msg_1", model: "opus", stopReason: "tool_use" });
    expect(a.usage).toMatchObject({ inputTokens: 12n, outputTokens: 34n, cacheCreationInputTokens: 5n, cacheReadInputTokens: 6n });
    expect(a.content.map((b) => b.block.case)).toEqual(["thinking", "text", "toolUse", "toolUse", undefined]);
    expect(a.content[0]!.block.value).toMatchObject({ thinking: "hmm" });
    expect(a.content[2]!.block.value).toMatchObject({ id: "toolu_3", name: "Read", inputJson: '{"file_path":"/a"}' });
    expect(a.content[3]!.block.value).toMatchObject({ id: "toolu_4", name: "LS", inputJson: "{}" });
  });

  it("thinking deltas: event type, index, delta type and the thinking text", () => {
    const m = parseStreamJsonLine(
      '{"type":"stream_event","event":{"type":"content_block_delta","index":2,"delta":{"type":"thinking_delta","thinking":"step one"}},"session_id":"s"}',
    )!;
    expect(m.body.case).toBe("delta");
    expect(m.body.value).toMatchObject({ eventType: "content_block_delta", index: 2, deltaType: "thinking_delta", text: "step one" });
  });

  it("text, input JSON and signature deltas", () => {
    const delta = (d: object) => {
      const m = parseStreamJsonLine(JSON.stringify({ type: "stream_event", event: { type: "content_block_delta", index: 0, delta: d } }))!;
      return m.body.case === "delta" ? [m.body.value.deltaType, m.body.value.text] : undefined;
    };
    expect(delta({ type: "text_delta", text: "Hel" })).toEqual(["text_delta", "Hel"]);
    expect(delta({ type: "input_json_delta", partial_json: '{"a":' })).toEqual(["input_json_delta", '{"a":']);
    expect(delta({ type: "signature_delta", signature: "c2ln" })).toEqual(["signature_delta", ""]);
  });

  it("stream events without a delta (message_start, message_stop) and with a bad index", () => {
    const start = parseStreamJsonLine('{"type":"stream_event","event":{"type":"message_stop"}}')!;
    expect(start.body.value).toMatchObject({ eventType: "message_stop", index: 0, deltaType: "", text: "" });
    const neg = parseStreamJsonLine('{"type":"stream_event","event":{"type":"content_block_stop","index":-3}}')!;
    expect(neg.body.value).toMatchObject({ index: 0 });
  });

  it("result: the summary with durations, cost, turns and usage", () => {
    const line = JSON.stringify({
      type: "result",
      subtype: "error_max_turns",
      is_error: true,
      result: "stopped",
      session_id: "sess",
      total_cost_usd: 0.125,
      duration_ms: 1500.7,
      duration_api_ms: -4,
      num_turns: 3,
      usage: { input_tokens: 1, output_tokens: 2 },
    });
    const m = parseStreamJsonLine(line)!;
    expect(m.subtype).toBe("error_max_turns");
    if (m.body.case !== "result") throw new Error(`body is ${m.body.case}`);
    expect(m.body.value).toMatchObject({
      subtype: "error_max_turns",
      isError: true,
      result: "stopped",
      sessionId: "sess",
      totalCostUsd: 0.125,
      durationMs: 1500n,
      durationApiMs: 0n,
      numTurns: 3,
    });
    expect(m.body.value.usage).toMatchObject({ inputTokens: 1n, outputTokens: 2n, cacheCreationInputTokens: 0n, cacheReadInputTokens: 0n });
  });

  it("is_error must be exactly true", () => {
    const m = parseStreamJsonLine('{"type":"result","is_error":"yes"}')!;
    expect(m.body.case === "result" && m.body.value.isError).toBe(false);
  });
});
