// What claude got back from its tools, as it sent it on to the model: the tool_result blocks of the recorded requests
// of the conversation whose first prompt carries `marker`. The same in headless and interactive mode.
import type { ScriptedModel } from "../../services/scripted-model/index.js";

interface Block {
  type?: string;
  text?: string;
  tool_use_id?: string;
  content?: string | Block[];
}

interface Message {
  role: string;
  content: string | Block[];
}

function text(content: string | Block[] | undefined): string {
  if (content === undefined) return "";
  if (typeof content === "string") return content;
  return content.map((b) => (b.type === "text" ? (b.text ?? "") : "")).join("\n");
}

/** Every tool result of the conversation started by a prompt containing `marker`, in order, each once. */
export function toolResults(model: ScriptedModel, marker: string): string[] {
  const results = new Map<string, string>();
  for (const request of model.mainRequests()) {
    const messages = (request.body as { messages?: Message[] }).messages ?? [];
    const first = messages.find((m) => m.role === "user");
    if (!first || !JSON.stringify(first.content).includes(marker)) continue;
    for (const m of messages) {
      if (m.role !== "user" || typeof m.content === "string") continue;
      for (const b of m.content) if (b.type === "tool_result") results.set(b.tool_use_id ?? String(results.size), text(b.content));
    }
  }
  return [...results.values()];
}
