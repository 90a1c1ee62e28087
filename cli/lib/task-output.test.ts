// Output chunks are cut by bytes, not characters: a UTF-8 character split across two chunks must still print whole.
import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { ExitedSchema, ExitReason, OutputStream, Phase, RunEventSchema, type RunEvent } from "../../gen/claudecluster/v1/run_pb.js";
import { Capture } from "../testing/fixtures.js";
import { PLAIN } from "./style.js";
import { TaskOutput } from "./task-output.js";

const output = (seq: number, stream: OutputStream, data: Uint8Array): RunEvent =>
  create(RunEventSchema, { taskId: "t1", seq: BigInt(seq), event: { case: "output", value: { stream, data } } });

/** "héllo ✓ 👋\n" in UTF-8, cut inside é (2 bytes), ✓ (3 bytes) and 👋 (4 bytes). */
function splitText(): { text: string; chunks: Uint8Array[] } {
  const text = "héllo ✓ 👋\n";
  const bytes = Buffer.from(text, "utf8");
  const cuts = [2, bytes.indexOf(0x9c) /* inside ✓ */, bytes.length - 3 /* inside 👋 */];
  const chunks: Uint8Array[] = [];
  let from = 0;
  for (const cut of [...cuts, bytes.length]) {
    chunks.push(bytes.subarray(from, cut));
    from = cut;
  }
  return { text, chunks };
}

function play(stream: OutputStream, annotate: boolean, chunks: Uint8Array[], exitAfter = true) {
  const stdout = new Capture();
  const stderr = new Capture();
  const out = new TaskOutput({ format: "pretty", stdout, stderr, outStyle: PLAIN, errStyle: PLAIN, width: 80, annotate });
  chunks.forEach((c, i) => out.event(output(i + 1, stream, c)));
  if (exitAfter) out.finish(create(ExitedSchema, { reason: ExitReason.COMPLETED }));
  return { stdout: stdout.text, stderr: stderr.text };
}

describe("TaskOutput decodes each output stream as one UTF-8 stream", () => {
  it("an interactive task's terminal output (cc logs of an interactive task)", () => {
    const { text, chunks } = splitText();
    expect(play(OutputStream.TERMINAL, true, chunks, false).stdout).toBe(text);
  });

  it("claude's stderr in cc logs", () => {
    const { text, chunks } = splitText();
    const printed = play(OutputStream.STDERR, true, chunks).stdout;
    expect(printed).not.toContain("\uFFFD");
    expect(printed.replace(/\n/g, "")).toContain(text.trimEnd());
  });

  it("claude's stderr in cc run", () => {
    const { text, chunks } = splitText();
    expect(play(OutputStream.STDERR, false, chunks).stderr.startsWith(text)).toBe(true);
  });

  it("bytes of a character the stream never finished print as one U+FFFD at the end", () => {
    const bytes = Buffer.from("ok é", "utf8");
    expect(play(OutputStream.TERMINAL, false, [bytes.subarray(0, bytes.length - 1)]).stdout).toBe("ok \uFFFD");
  });
});

describe("TaskOutput in cc logs shows an environment's setup", () => {
  it("each SETTING_UP status is a line of the log", () => {
    const stdout = new Capture();
    const out = new TaskOutput({ format: "pretty", stdout, stderr: new Capture(), outStyle: PLAIN, errStyle: PLAIN, width: 80, annotate: true });
    const status = (seq: number, detail: string): RunEvent => create(RunEventSchema, { taskId: "t1", seq: BigInt(seq), event: { case: "status", value: { phase: Phase.SETTING_UP, detail } } });
    out.event(status(1, "running the setup script"));
    out.event(status(2, "added 1 package"));
    expect(stdout.text).toContain("setting up: running the setup script");
    expect(stdout.text).toContain("setting up: added 1 package");
  });
});
