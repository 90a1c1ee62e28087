// Answers for side requests: claude's housekeeping calls (session titles,
// auto-mode permission checks, token counting, ...) that must never consume
// or depend on scripted turns. Each answer is the cheapest one claude accepts.

import { userText, type JsonSchema, type MessagesRequest } from "./request.js";
import type { Block } from "./script.js";

export const SIDE_TEXT = "OK";
export const SIDE_TITLE = "Scripted session";
/** Stop sequence of the auto-mode permission classifier ("<block>yes|no</block>"). */
export const CLASSIFIER_STOP = "</block>";

export interface SideAnswer {
  content: Block[];
  /** Set when the answer ends on one of the request's stop sequences. */
  stopSequence?: string | undefined;
}

export function sideAnswer(req: MessagesRequest): SideAnswer {
  const format = req.output_config?.format;
  // Session-title generation asks for JSON matching {"title": string};
  // anything else (free text) would be discarded.
  if (format?.type === "json_schema" && format.schema) {
    const title = titleFrom(req);
    return { content: [{ type: "text", text: JSON.stringify(sampleFromSchema(format.schema, title)) }] };
  }
  // Auto mode asks a classifier whether to run a tool call and stops at
  // "</block>". Answering "allow" keeps scripted tool calls deterministic: the
  // script author, not a fake model's guess, decides what runs. Anything else
  // counts as "no usable answer" and claude retries it ten times.
  if (req.stop_sequences?.includes(CLASSIFIER_STOP)) {
    return { content: [{ type: "text", text: "<block>no" }], stopSequence: CLASSIFIER_STOP };
  }
  return { content: [{ type: "text", text: SIDE_TEXT }] };
}

/** The smallest plausible value of a schema; strings get `text`. */
export function sampleFromSchema(schema: JsonSchema, text: string): unknown {
  if (schema.const !== undefined) return schema.const;
  if (schema.enum && schema.enum.length > 0) return schema.enum[0];
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  switch (type) {
    case "object": {
      // Fill every declared property: `additionalProperties: false` schemas
      // still accept them and `required` ones must be present.
      const props = Object.entries(schema.properties ?? {});
      return Object.fromEntries(props.map(([k, s]) => [k, sampleFromSchema(s, text)]));
    }
    case "array":
      return [];
    case "integer":
    case "number":
      return 0;
    case "boolean":
      return false;
    case "null":
      return null;
    default:
      return text;
  }
}

/**
 * A session title from the first words of the prompt, so a demo with several
 * sessions shows distinguishable names. Claude wraps the prompt in <session>.
 */
export function titleFrom(req: MessagesRequest): string {
  const first = req.messages.find((m) => m.role === "user");
  const text = first ? userText(first) : "";
  const inner = /<session>([\s\S]*?)<\/session>/.exec(text)?.[1] ?? text;
  const words = inner.trim().split(/\s+/).filter(Boolean).slice(0, 5).join(" ").slice(0, 60);
  return words.length > 0 ? words[0]!.toUpperCase() + words.slice(1) : SIDE_TITLE;
}

/** Rough token estimate for /v1/messages/count_tokens (about 4 bytes per token). */
export function estimateTokens(body: unknown): number {
  return Math.max(1, Math.ceil(JSON.stringify(body ?? "").length / 4));
}
