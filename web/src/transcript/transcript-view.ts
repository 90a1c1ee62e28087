// A headless task's transcript on the page: the conversation the model (model.ts) builds, drawn at most once per
// animation frame however fast events arrive (a replay of a long task is thousands of deltas). Each item is drawn
// again only when it changed; tool calls and thinking keep their open/closed state across redraws. The view
// follows the end of the conversation while the reader is at the bottom, and stays put once they scroll up.
import type { RunEvent } from "../../../gen/claudecluster/v1/run_pb.js";
import { h } from "../app/dom.js";
import { cost, count, duration, EXIT_REASON_LABEL } from "../app/format.js";
import { renderHighlighted, renderMarkdown } from "./markdown.js";
import { Transcript, type Block, type Item } from "./model.js";

/** Tool results longer than this are cut, with a button to show the rest. */
const RESULT_PREVIEW_CHARS = 4000;

export class TranscriptView {
  readonly element: HTMLOListElement;
  private readonly model = new Transcript();
  private readonly nodes = new Map<string, HTMLElement>();
  private frame: number | undefined;

  constructor(prompt: string) {
    this.element = h("ol", { class: "transcript", "aria-label": "Conversation" });
    this.element.append(h("li", { class: "msg user" }, h("div", { class: "who" }, "Prompt"), h("div", { class: "bubble" }, prompt || h("em", {}, "(no prompt)"))));
  }

  apply(event: RunEvent): void {
    this.model.apply(event);
    this.frame ??= requestAnimationFrame(() => this.flush());
  }

  /** Draws what changed now (tests and the end of a stream do not wait for a frame). */
  flush(): void {
    if (this.frame !== undefined) cancelAnimationFrame(this.frame);
    this.frame = undefined;
    const follow = window.innerHeight + window.scrollY >= document.documentElement.scrollHeight - 80;
    for (const item of this.model.takeChanged()) {
      const old = this.nodes.get(item.key);
      const node = renderItem(item);
      node.dataset["key"] = item.key;
      if (old) {
        keepOpen(old, node);
        old.replaceWith(node);
      } else {
        this.element.append(node);
      }
      this.nodes.set(item.key, node);
    }
    if (follow) window.scrollTo({ top: document.documentElement.scrollHeight });
  }

  dispose(): void {
    if (this.frame !== undefined) cancelAnimationFrame(this.frame);
  }
}

/** Carries the open state of <details> from the old drawing of an item to the new one, by position. */
function keepOpen(from: HTMLElement, to: HTMLElement): void {
  const before = from.querySelectorAll("details");
  const after = to.querySelectorAll("details");
  before.forEach((d, i) => {
    const next = after[i];
    if (next && d.dataset["block"] === next.dataset["block"]) next.open = d.open;
  });
}

function renderItem(item: Item): HTMLElement {
  switch (item.kind) {
    case "session": {
      const init = item.init;
      const parts = [init.model, `${init.tools.length} tools`, init.permissionMode && `${init.permissionMode} permissions`, init.claudeCodeVersion && `Claude Code ${init.claudeCodeVersion}`];
      return h("li", { class: "event" }, h("span", { class: "event-title" }, "Session started"), " · ", parts.filter(Boolean).join(" · "));
    }
    case "assistant":
      return h(
        "li",
        { class: `msg assistant${item.subagent ? " subagent" : ""}` },
        h("div", { class: "who" }, item.subagent ? "Subagent" : "Claude"),
        h("div", { class: "bubble" }, item.blocks.map((b, i) => renderBlock(b, `${item.key}.${i}`))),
      );
    case "user":
      return h("li", { class: "msg user" }, h("div", { class: "who" }, "You"), h("div", { class: "bubble" }, item.text));
    case "result":
      return renderResult(item);
    case "stderr":
      return h(
        "li",
        { class: "event" },
        h("details", { class: "stderr", "data-block": item.key }, h("summary", {}, `stderr · ${item.text.split("\n").filter(Boolean).length} lines`), h("pre", {}, item.text)),
      );
    case "exit":
      return h(
        "li",
        { class: "exit", role: "status" },
        h("strong", {}, `Task ${EXIT_REASON_LABEL[item.reason] ?? "ended"}`),
        item.message ? `: ${item.message}` : item.exitCode > 0 ? ` (exit code ${item.exitCode})` : "",
      );
  }
}

function renderBlock(block: Block, key: string): HTMLElement {
  switch (block.kind) {
    case "text": {
      const md = h("div", { class: `md${block.streaming ? " streaming" : ""}` });
      md.append(renderMarkdown(block.text));
      return md;
    }
    case "thinking": {
      const md = h("div", { class: "md" });
      md.append(renderMarkdown(block.text));
      return h("details", { class: "thinking", "data-block": key }, h("summary", {}, block.streaming ? "Thinking…" : "Thinking"), md);
    }
    case "tool":
      return renderTool(block, key);
  }
}

function prettyJson(text: string): string {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

/** The one input a person looks for first: a command, a path, a pattern. */
function toolDetail(input: string): string {
  try {
    const o = JSON.parse(input) as Record<string, unknown>;
    const v = ["command", "file_path", "path", "pattern", "url", "query", "description", "prompt"].map((k) => o[k]).find((x) => typeof x === "string");
    return typeof v === "string" ? v.split("\n", 1)[0]! : "";
  } catch {
    return "";
  }
}

function renderTool(block: Extract<Block, { kind: "tool" }>, key: string): HTMLElement {
  const state = block.result ? (block.result.isError ? "error" : "done") : block.streaming ? "writing" : block.asking ? "asking" : "running";
  const stateLabel = { error: "failed", done: "done", writing: "writing…", asking: "waiting for approval", running: "running…" }[state];
  const detail = toolDetail(block.input);
  const body = h("div", { class: "tool-body" }, h("div", { class: "tool-label" }, "Input"), renderCode(prettyJson(block.input), "json"));
  if (block.result) {
    body.append(h("div", { class: "tool-label" }, block.result.isError ? "Error" : "Result"), renderResultText(block.result.content));
  }
  return h(
    "details",
    { class: `tool ${state}`, "data-block": key },
    h(
      "summary",
      {},
      h("span", { class: "tool-name" }, block.name || "tool"),
      detail ? h("code", { class: "tool-detail" }, detail) : "",
      h("span", { class: `tool-state ${state}` }, stateLabel),
    ),
    body,
  );
}

function renderCode(code: string, language: string): HTMLElement {
  const el = h("code", { class: "hljs" });
  el.append(renderHighlighted(code, language));
  return h("pre", {}, el);
}

function renderResultText(text: string): HTMLElement {
  if (text.length <= RESULT_PREVIEW_CHARS) return h("pre", { class: "tool-result" }, text || "(no output)");
  const pre = h("pre", { class: "tool-result" }, text.slice(0, RESULT_PREVIEW_CHARS) + "…");
  const more = h("button", { type: "button", class: "link-button" }, `Show all ${count(text.length)} characters`);
  more.addEventListener("click", () => {
    pre.textContent = text;
    more.remove();
  });
  return h("div", {}, pre, more);
}

function renderResult(item: Extract<Item, { kind: "result" }>): HTMLElement {
  const r = item.result;
  const usage = r.usage;
  const tokens = usage
    ? `${count(usage.inputTokens)} in · ${count(usage.outputTokens)} out${usage.cacheReadInputTokens ? ` · ${count(usage.cacheReadInputTokens)} cached` : ""}`
    : "";
  const fields: [string, string | HTMLElement][] = [
    ["Outcome", r.isError ? `error (${r.subtype})` : r.subtype || "done"],
    ["Cost", cost(r.totalCostUsd) || "$0"],
    ["Turns", String(r.numTurns)],
    ["Tokens", tokens],
    ["Duration", `${duration(Number(r.durationMs))}${r.durationApiMs ? ` (API ${duration(Number(r.durationApiMs))})` : ""}`],
    ["Session", h("code", { class: "session-id" }, r.sessionId)],
  ];
  const card = h(
    "li",
    { class: `result-card${r.isError ? " error" : ""}`, "aria-label": "Result summary" },
    h("h2", {}, r.isError ? "Finished with an error" : "Finished"),
    h(
      "dl",
      {},
      fields.filter(([, v]) => v !== "").map(([k, v]) => h("div", {}, h("dt", {}, k), h("dd", {}, v))),
    ),
  );
  if (r.isError && r.result) card.append(h("pre", { class: "tool-result" }, r.result));
  return card;
}

