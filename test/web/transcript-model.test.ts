// The transcript model on real claude output (the stream-json fixtures recorded from claude 2.1.330).
import { readFileSync } from "node:fs";
import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { ExitReason, RunEventSchema, type RunEvent } from "../../gen/claudecluster/v1/run_pb.js";
import { parseStreamJsonLine } from "../../services/worker/stream-json.js";
import { Transcript, type Item } from "../../web/src/transcript/model.js";

function events(fixture: string): RunEvent[] {
  const lines = readFileSync(new URL(`../fixtures/stream-json/${fixture}/input.jsonl`, import.meta.url), "utf8").trim().split("\n");
  return lines.map((line) => create(RunEventSchema, { event: { case: "message", value: parseStreamJsonLine(line)! } }));
}

/** The transcript in a few words per item. */
function outline(items: Item[]): string[] {
  return items.map((item) => {
    switch (item.kind) {
      case "assistant":
        return `assistant: ${item.blocks.map((b) => (b.kind === "tool" ? `[${b.name} ${b.input} -> ${b.result?.content ?? "…"}]` : `${b.kind === "thinking" ? "(thinking) " : ""}${b.text}`)).join(" | ")}`;
      case "session":
        return `session: ${item.init.model}`;
      case "result":
        return `result: ${item.result.subtype} $${item.result.totalCostUsd} ${item.result.numTurns} turns`;
      case "exit":
        return `exit: ${ExitReason[item.reason]} ${item.message}`;
      default:
        return `${item.kind}: ${item.text}`;
    }
  });
}

describe("the transcript model", () => {
  it("turns a run with a tool call into a conversation: each block once, the result joined to its call", () => {
    const t = new Transcript();
    for (const e of events("write-file")) t.apply(e);
    expect(outline(t.items)).toEqual([
      "session: claude-opus-5-5",
      `assistant: I'll create out.txt. | [Bash {"command":"echo hi > out.txt","description":"Create out.txt"} -> (Bash completed with no output)]`,
      "assistant: Done.",
      "result: success $0.00172 2 turns",
    ]);
    expect(t.items.flatMap((i) => (i.kind === "assistant" ? i.blocks : [])).every((b) => !b.streaming)).toBe(true);
  });

  it("shows text as it streams, before the whole message arrives", () => {
    const t = new Transcript();
    const all = events("hello");
    const firstWhole = all.findIndex((e) => e.event.case === "message" && e.event.value.body.case === "assistant");
    for (const e of all.slice(0, firstWhole)) t.apply(e);
    const draft = t.items.find((i) => i.kind === "assistant");
    expect(draft?.kind === "assistant" && draft.blocks[0]).toMatchObject({ kind: "text", streaming: true });
    expect(draft?.kind === "assistant" && draft.blocks[0]?.kind === "text" && draft.blocks[0].text.length).toBeGreaterThan(0);
    for (const e of all.slice(firstWhole)) t.apply(e);
    const texts = t.items.flatMap((i) => (i.kind === "assistant" ? i.blocks : []));
    expect(texts).toHaveLength(1);
    expect(texts[0]).toMatchObject({ kind: "text", streaming: false });
  });

  it("marks a tool call waiting for approval while its permission request waits, whichever comes first", () => {
    const all = events("write-file");
    const toolEvent = all.findIndex((e) => e.event.case === "message" && e.event.value.body.case === "assistant" && e.event.value.body.value.content.some((c) => c.block.case === "toolUse"));
    const tool = (t: Transcript) => t.items.flatMap((i) => (i.kind === "assistant" ? i.blocks : [])).find((b) => b.kind === "tool" && b.id !== "");
    const seen = new Transcript();
    for (const e of all.slice(0, toolEvent + 1)) seen.apply(e);
    const toolUseId = (tool(seen) as { id: string }).id;
    const asked = create(RunEventSchema, { event: { case: "permissionRequest", value: { requestId: "r1", toolName: "Bash", toolUseId } } });
    const resolved = create(RunEventSchema, { event: { case: "permissionResolved", value: { requestId: "r1", toolName: "Bash" } } });
    for (const askFirst of [false, true]) {
      const t = new Transcript();
      for (const e of all.slice(0, toolEvent)) t.apply(e);
      if (askFirst) t.apply(asked);
      t.apply(all[toolEvent]!);
      if (!askFirst) t.apply(asked);
      t.takeChanged();
      expect(tool(t)).toMatchObject({ kind: "tool", asking: true });
      t.apply(resolved);
      expect(tool(t)).toMatchObject({ kind: "tool", asking: false });
      expect(t.takeChanged().map((i) => i.kind)).toEqual(["assistant"]);
    }
  });

  it("keeps thinking apart from the answer", () => {
    const t = new Transcript();
    for (const e of events("thinking")) t.apply(e);
    const blocks = t.items.flatMap((i) => (i.kind === "assistant" ? i.blocks.map((b) => b.kind) : []));
    expect(blocks[0]).toBe("thinking");
    expect(blocks).toContain("text");
  });

  it("says how a task ended when it did not end with claude's result", () => {
    const t = new Transcript();
    t.apply(create(RunEventSchema, { event: { case: "exited", value: { reason: ExitReason.CANCELLED, exitCode: -1, message: "cancelled: from the web UI" } } }));
    expect(outline(t.items)).toEqual(["exit: CANCELLED cancelled: from the web UI"]);
  });

  it("collects stderr into one item, bounded", () => {
    const t = new Transcript();
    const out = (text: string) => create(RunEventSchema, { event: { case: "output", value: { data: new TextEncoder().encode(text) } } });
    t.apply(out("warning: one\n"));
    t.apply(out("warning: two\n"));
    expect(outline(t.items)).toEqual(["stderr: warning: one\nwarning: two\n"]);
    t.apply(out("x".repeat(100_000)));
    const stderr = t.items[0]!;
    expect(stderr.kind === "stderr" && stderr.text.length).toBeLessThan(70_000);
  });
});
