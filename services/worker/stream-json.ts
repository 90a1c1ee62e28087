// Parses one line of claude's `--output-format stream-json` into a ClaudeMessage. The original line is always kept
// in `json`; the typed fields are filled for the event types we know, and anything else passes through with just
// `type`, `subtype` and `json`, never dropped.
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import {
  type ClaudeMessage,
  ClaudeMessageSchema,
  type ContentBlock,
  ContentBlockSchema,
  type ResultSummary,
  ResultSummarySchema,
  type Usage,
  UsageSchema,
} from "../../gen/claudecluster/v1/run_pb.js";

type Json = Record<string, unknown>;

const str = (v: unknown): string => (typeof v === "string" ? v : "");
const num = (v: unknown): number => (typeof v === "number" && Number.isFinite(v) ? v : 0);
const uint = (v: unknown): bigint => BigInt(Math.max(0, Math.trunc(num(v))));
const obj = (v: unknown): Json => (typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Json) : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

/** Returns undefined when the line is not a JSON object (the caller passes such lines on as raw output). */
export function parseStreamJsonLine(line: string): ClaudeMessage | undefined {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined;
  const ev = value as Json;
  return create(ClaudeMessageSchema, {
    type: str(ev["type"]),
    subtype: str(ev["subtype"]),
    sessionId: str(ev["session_id"]),
    parentToolUseId: str(ev["parent_tool_use_id"]),
    json: line,
    body: body(ev),
  });
}

type Body = MessageInitShape<typeof ClaudeMessageSchema>["body"];

function body(ev: Json): Body {
  switch (ev["type"]) {
    case "system": {
      if (ev["subtype"] !== "init") return undefined;
      return {
        case: "init",
        value: {
          cwd: str(ev["cwd"]),
          model: str(ev["model"]),
          tools: arr(ev["tools"]).map(str),
          permissionMode: str(ev["permissionMode"]),
          claudeCodeVersion: str(ev["claude_code_version"]),
          mcpServers: arr(ev["mcp_servers"]).map((s) => ({ name: str(obj(s)["name"]), status: str(obj(s)["status"]) })),
        },
      };
    }
    case "assistant": {
      const m = obj(ev["message"]);
      return {
        case: "assistant",
        value: {
          id: str(m["id"]),
          model: str(m["model"]),
          content: arr(m["content"]).map(contentBlock),
          stopReason: str(m["stop_reason"]),
          usage: usage(m["usage"]),
        },
      };
    }
    case "user":
      return { case: "user", value: { content: userContent(obj(ev["message"])["content"]) } };
    case "stream_event": {
      const e = obj(ev["event"]);
      const delta = obj(e["delta"]);
      return {
        case: "delta",
        value: {
          eventType: str(e["type"]),
          index: Math.max(0, Math.trunc(num(e["index"]))),
          deltaType: str(delta["type"]),
          text: str(delta["text"]) || str(delta["thinking"]) || str(delta["partial_json"]),
        },
      };
    }
    case "result":
      return { case: "result", value: resultSummary(ev) };
    default:
      return undefined;
  }
}

export function resultSummary(ev: Json): ResultSummary {
  return create(ResultSummarySchema, {
    subtype: str(ev["subtype"]),
    isError: ev["is_error"] === true,
    result: str(ev["result"]),
    sessionId: str(ev["session_id"]),
    totalCostUsd: num(ev["total_cost_usd"]),
    durationMs: uint(ev["duration_ms"]),
    durationApiMs: uint(ev["duration_api_ms"]),
    numTurns: Math.max(0, Math.trunc(num(ev["num_turns"]))),
    usage: usage(ev["usage"]),
    // With --json-schema claude adds the answer as an object; `result` then holds the same as text.
    structuredOutputJson: ev["structured_output"] === undefined ? "" : JSON.stringify(ev["structured_output"]),
  });
}

function usage(v: unknown): Usage {
  const u = obj(v);
  return create(UsageSchema, {
    inputTokens: uint(u["input_tokens"]),
    outputTokens: uint(u["output_tokens"]),
    cacheCreationInputTokens: uint(u["cache_creation_input_tokens"]),
    cacheReadInputTokens: uint(u["cache_read_input_tokens"]),
  });
}

function contentBlock(v: unknown): ContentBlock {
  const b = obj(v);
  switch (b["type"]) {
    case "text":
      return create(ContentBlockSchema, { block: { case: "text", value: { text: str(b["text"]) } } });
    case "thinking":
      return create(ContentBlockSchema, { block: { case: "thinking", value: { thinking: str(b["thinking"]) } } });
    case "tool_use":
      return create(ContentBlockSchema, {
        block: { case: "toolUse", value: { id: str(b["id"]), name: str(b["name"]), inputJson: JSON.stringify(b["input"] ?? {}) } },
      });
    case "tool_result":
      return create(ContentBlockSchema, {
        block: {
          case: "toolResult",
          value: { toolUseId: str(b["tool_use_id"]), content: toolResultText(b["content"]), isError: b["is_error"] === true },
        },
      });
    default:
      return create(ContentBlockSchema, {});
  }
}

/** A user message's content is a string or a list of blocks. */
function userContent(v: unknown): ContentBlock[] {
  if (typeof v === "string") return [create(ContentBlockSchema, { block: { case: "text", value: { text: v } } })];
  return arr(v).map(contentBlock);
}

/** Tool results carry a string or a list of parts; the text parts are joined. */
function toolResultText(v: unknown): string {
  if (typeof v === "string") return v;
  return arr(v)
    .map((p) => str(obj(p)["text"]))
    .filter(Boolean)
    .join("\n");
}
