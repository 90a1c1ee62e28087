import { describe, expect, it, vi } from "vitest";
import { HeadlessClaude, LineSplitter, MAX_LINE_BYTES } from "./headless.js";
import { createSandbox } from "./sandbox/index.js";
import type { TaskRunSink } from "./task-run.js";

function splitter(maxLine = 1024) {
  const lines: string[] = [];
  const oversized: string[] = [];
  const s = new LineSplitter(maxLine, (l) => lines.push(l), (head) => oversized.push(head.toString("latin1")));
  return { s, lines, oversized, push: (...chunks: (string | Buffer)[]) => chunks.forEach((c) => s.push(Buffer.isBuffer(c) ? c : Buffer.from(c))) };
}

describe("LineSplitter", () => {
  it("reports each complete line of one chunk", () => {
    const { push, lines } = splitter();
    push("one\ntwo\nthree\n");
    expect(lines).toEqual(["one", "two", "three"]);
  });

  it("joins a line split across chunks", () => {
    const { push, lines } = splitter();
    push('{"type":', '"system"', '}\n{"a"', ":1}\n");
    expect(lines).toEqual(['{"type":"system"}', '{"a":1}']);
  });

  it("holds an unterminated line until its newline arrives", () => {
    const { push, lines } = splitter();
    push("partial");
    expect(lines).toEqual([]);
    push(" line\n");
    expect(lines).toEqual(["partial line"]);
  });

  it("strips CR of CRLF, also when CR and LF arrive in different chunks", () => {
    const { push, lines } = splitter();
    push("a\r\nb\r", "\nc\n");
    expect(lines).toEqual(["a", "b", "c"]);
  });

  it("keeps a CR inside a line", () => {
    const { push, lines } = splitter();
    push("progress\r50%\r\n");
    expect(lines).toEqual(["progress\r50%"]);
  });

  it("skips empty lines", () => {
    const { push, lines } = splitter();
    push("\n\na\n\r\n\n");
    expect(lines).toEqual(["a"]);
  });

  it("decodes a multibyte UTF-8 character split across chunks", () => {
    const { push, lines } = splitter();
    const bytes = Buffer.from("héllo 🌍 世界\n", "utf8");
    // Cut inside é (2 bytes), inside 🌍 (4 bytes) and inside 世 (3 bytes).
    const e = bytes.indexOf(0xc3) + 1;
    const globe = bytes.indexOf(0xf0) + 2;
    const shi = bytes.indexOf(0xe4) + 1;
    push(bytes.subarray(0, e), bytes.subarray(e, globe), bytes.subarray(globe, shi), bytes.subarray(shi));
    expect(lines).toEqual(["héllo 🌍 世界"]);
  });

  it("decodes a line delivered one byte at a time", () => {
    const { push, lines } = splitter();
    for (const b of Buffer.from("ü€😀\n", "utf8")) push(Buffer.from([b]));
    expect(lines).toEqual(["ü€😀"]);
  });

  it("a line of exactly maxLine bytes is a line", () => {
    const { push, lines, oversized } = splitter(8);
    push("12345678\n");
    expect(lines).toEqual(["12345678"]);
    expect(oversized).toEqual([]);
  });

  it("passes an oversized line on as raw pieces, ending with its newline, and goes on with the next line", () => {
    const { push, lines, oversized } = splitter(8);
    push("before\n0123456789abcdef\nafter\n");
    expect(oversized.join("")).toBe("0123456789abcdef\n");
    expect(lines).toEqual(["before", "after"]);
  });

  it("once a line is oversized, each further piece is passed on at once instead of held", () => {
    const { push, lines, oversized } = splitter(8);
    push("012", "3456");
    expect(oversized).toEqual([]);
    push("789a");
    expect(oversized).toEqual(["0123456789a"]);
    push("bcdef");
    expect(oversized).toEqual(["0123456789a", "bcdef"]);
    push("ghij", "k\nok\n");
    expect(oversized.join("")).toBe("0123456789abcdefghijk\n");
    expect(lines).toEqual(["ok"]);
  });

  it("passes an oversized line on byte for byte, CR and split characters included", () => {
    const lines: string[] = [];
    const raw: Buffer[] = [];
    const s = new LineSplitter(4, (l) => lines.push(l), (piece) => raw.push(Buffer.from(piece)));
    const bytes = Buffer.from("héllo wörld\r\n", "utf8");
    s.push(bytes.subarray(0, 2));
    s.push(bytes.subarray(2, 9));
    s.push(bytes.subarray(9));
    expect(Buffer.concat(raw).equals(bytes)).toBe(true);
    expect(lines).toEqual([]);
  });

  it("two oversized lines each come out whole, the short line between them as a line", () => {
    const { push, lines, oversized } = splitter(4);
    push("aaaaaa\nbb\ncccccc", "c\n");
    expect(oversized.join("")).toBe("aaaaaa\nccccccc\n");
    expect(lines).toEqual(["bb"]);
  });

  it("end() flushes a last unterminated line, once", () => {
    const { s, push, lines } = splitter();
    push("first\nlast without newline");
    expect(lines).toEqual(["first"]);
    s.end();
    expect(lines).toEqual(["first", "last without newline"]);
    s.end();
    expect(lines).toEqual(["first", "last without newline"]);
  });

  it("end() with nothing pending reports nothing", () => {
    const { s, push, lines, oversized } = splitter();
    push("done\n");
    s.end();
    expect(lines).toEqual(["done"]);
    expect(oversized).toEqual([]);
  });

  it("end() after an unterminated oversized line ends it with a newline and reports no line", () => {
    const { s, push, lines, oversized } = splitter(4);
    push("abcdefgh");
    s.end();
    expect(oversized.join("")).toBe("abcdefgh\n");
    expect(lines).toEqual([]);
    s.end();
    expect(oversized.join("")).toBe("abcdefgh\n");
  });

  it("end() drops a trailing CR of the last line", () => {
    const { s, push, lines } = splitter();
    push("last\r");
    s.end();
    expect(lines).toEqual(["last"]);
  });

  it("the worker's limit is 4 MiB", () => {
    expect(MAX_LINE_BYTES).toBe(4 * 1024 * 1024);
  });
});

describe("HeadlessClaude warm-up", () => {
  // A stand-in for claude: answers `initialize` after a moment (its start-up), then a prompt with init and result.
  const STAND_IN = `
    const rl = require("node:readline").createInterface({ input: process.stdin });
    rl.on("line", (line) => {
      const m = JSON.parse(line);
      if (m.type === "control_request") setTimeout(() => console.log(JSON.stringify({ type: "control_response", response: { subtype: "success", request_id: m.request_id, response: {} } })), 50);
      else if (m.type === "user") {
        console.log(JSON.stringify({ type: "system", subtype: "init", session_id: "s1" }));
        console.log(JSON.stringify({ type: "result", subtype: "success", is_error: false, result: "ok", session_id: "s1" }));
      }
    });`;

  async function start() {
    const sandbox = await createSandbox({ mode: "off", hidden: [], readOnly: [], isolatedNetworks: false });
    const dir = process.cwd();
    return new HeadlessClaude({ spec: { argv: [process.execPath, "-e", STAND_IN], cwd: dir, env: { PATH: process.env["PATH"] ?? "" }, workspace: dir, home: dir, network: "host", newSession: false }, sandbox });
  }

  function recordingSink() {
    const events: Array<{ case?: string; value?: unknown }> = [];
    const controls: unknown[] = [];
    let exited!: () => void;
    const done = new Promise<void>((r) => (exited = r));
    const sink = {
      emit: (e: { case?: string; value?: unknown }) => events.push(e),
      control: (m: unknown) => controls.push(m),
      noteSessionId: () => {},
      setResult: () => {},
      exited: () => exited(),
      endBeforeLaunch: () => exited(),
    } as unknown as TaskRunSink;
    return { sink, events, controls, done };
  }

  it("is warm once claude answers initialize, and the answer never reaches the task", async () => {
    const claude = await start();
    claude.warmUp("warm-test-1");
    expect(claude.warm).toBe(false);
    await vi.waitFor(() => expect(claude.warm).toBe(true), { timeout: 10_000 });
    const { sink, events, controls, done } = recordingSink();
    claude.bind(sink);
    claude.sendPrompt("hello");
    await done;
    const types = events.filter((e) => e.case === "message").map((e) => (e.value as { type: string }).type);
    expect(types).toEqual(["system", "result"]);
    expect(controls).toEqual([]);
    expect(events.some((e) => e.case === "output")).toBe(false);
  });

  it("a task that takes it while it is still starting does not see the answer either", async () => {
    const claude = await start();
    claude.warmUp("warm-test-2");
    const { sink, events, controls, done } = recordingSink();
    claude.bind(sink);
    claude.sendPrompt("hello");
    await done;
    expect(claude.warm).toBe(true);
    expect(controls).toEqual([]);
    expect(events.filter((e) => e.case === "message").map((e) => (e.value as { type: string }).type)).toEqual(["system", "result"]);
  });
});
