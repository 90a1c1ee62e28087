// Golden tests of the human rendering, from what the real claude printed (test/fixtures/cli/<case>/stream.jsonl).
// UPDATE_GOLDEN=1 rewrites render.txt / render-color.txt after a deliberate change.
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Capture, expectGolden, recordedCases } from "../testing/fixtures.js";
import { TextRenderer, toolArgument, toolLine, truncate } from "./render.js";
import { COLOR, PLAIN } from "./style.js";

function render(lines: string[], style = PLAIN, width = 80): string {
  const out = new Capture();
  const r = new TextRenderer(out, { style, width });
  for (const line of lines) r.line(line);
  r.finish();
  return out.text;
}

describe("TextRenderer on recorded claude output", () => {
  for (const c of recordedCases()) {
    it(`${c.name}: matches the golden render`, () => {
      expectGolden(render(c.stream), join(c.dir, "render.txt"));
      expectGolden(render(c.stream, COLOR), join(c.dir, "render-color.txt"));
    });

    it(`${c.name}: renders the same with or without partial messages`, () => {
      expect(render(c.verbose)).toBe(render(c.stream));
    });

    it(`${c.name}: streams text before the whole message arrives`, () => {
      const out = new Capture();
      const r = new TextRenderer(out, { style: PLAIN, width: 80 });
      const firstAssistant = c.stream.findIndex((l) => l.startsWith('{"type":"assistant"'));
      for (const line of c.stream.slice(0, firstAssistant)) r.line(line);
      const deltas = c.stream
        .slice(0, firstAssistant)
        .map((l) => JSON.parse(l) as { event?: { delta?: { type?: string; text?: string } } })
        .filter((e) => e.event?.delta?.type === "text_delta")
        .map((e) => e.event!.delta!.text)
        .join("");
      expect(out.text).toBe(deltas);
    });
  }
});

describe("tool lines", () => {
  it("shows the main argument of the tools claude ships", () => {
    expect(toolArgument("Bash", { command: "echo hi > out.txt", description: "x" })).toBe("echo hi > out.txt");
    expect(toolArgument("Read", { file_path: "/a/b.ts" })).toBe("/a/b.ts");
    expect(toolArgument("Grep", { pattern: "TODO", path: "src" })).toBe("TODO");
    expect(toolArgument("TodoWrite", { todos: [{}, {}, {}] })).toBe("3 todos");
    expect(toolArgument("mcp__srv__tool", { n: 1, q: "find" })).toBe("find");
    expect(toolArgument("mcp__srv__tool", { n: 1 })).toBe('{"n":1}');
    expect(toolArgument("Bash", { command: "echo a\necho b" })).toBe("echo a …");
  });

  it("fits the width", () => {
    expect(toolLine("Bash", { command: "x".repeat(200) }, 40, PLAIN)).toBe(`⏺ Bash(${"x".repeat(31)}…)\n`);
    expect(Array.from(toolLine("Bash", { command: "x".repeat(200) }, 40, PLAIN).trimEnd()).length).toBe(40);
    expect(toolLine("Bash", { command: "ls" }, 40, COLOR)).toBe("\x1b[32m⏺\x1b[39m \x1b[1mBash\x1b[22m(ls)\n");
    expect(truncate("héllo wörld", 5)).toBe("héll…");
  });
});

describe("TextRenderer edge cases", () => {
  it("ignores lines that are not JSON and events it does not know", () => {
    expect(render(["not json", '{"type":"something_new","x":1}', '{"type":"system","subtype":"init"}'])).toBe("");
  });

  it("indents tool calls of subagents and leaves out their text", () => {
    const lines = [
      JSON.stringify({ type: "assistant", parent_tool_use_id: "toolu_1", message: { id: "m2", content: [{ type: "text", text: "sub text" }, { type: "tool_use", name: "Read", input: { file_path: "x" } }] } }),
    ];
    expect(render(lines)).toBe("  ⏺ Read(x)\n");
  });
});
