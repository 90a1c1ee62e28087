// The terminal bridge of `cc run -i` and `cc attach`: keystrokes in order, the detach sequence, resizes, and the
// terminal restored however the session ends.
import { EventEmitter } from "node:events";
import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { RunMode, RunRequestSchema } from "../../gen/claudecluster/v1/run_pb.js";
import { exitedEv, FakeRouter, outputEv } from "../testing/fake-router.js";
import { DetachDetector, runInteractive, TERMINAL_RESET } from "./interactive.js";

class FakeStdin extends EventEmitter {
  isTTY = true;
  raw: boolean[] = [];
  setRawMode(mode: boolean) {
    this.raw.push(mode);
  }
  resume() {}
  pause() {}
  type(s: string | number[]) {
    this.emit("data", Buffer.from(s as string));
  }
}

class FakeStdout extends EventEmitter {
  columns = 100;
  rows = 30;
  written: string[] = [];
  write(d: string | Uint8Array) {
    this.written.push(typeof d === "string" ? d : Buffer.from(d).toString("utf8"));
    return true;
  }
}

const tick = () => new Promise((r) => setImmediate(r));

describe("DetachDetector", () => {
  it("passes keystrokes through and catches Ctrl-P Ctrl-Q", () => {
    const d = new DetachDetector();
    expect(d.push(Buffer.from("ls\r"))).toEqual({ forward: Buffer.from("ls\r"), detach: false });
    expect(d.push(Buffer.from([0x61, 0x10, 0x11, 0x62]))).toEqual({ forward: Buffer.from("a"), detach: true });
  });

  it("holds a lone Ctrl-P until the next byte, across chunks, and forwards it when no Ctrl-Q follows", () => {
    const d = new DetachDetector();
    expect(d.push(Buffer.from([0x10]))).toEqual({ forward: Buffer.alloc(0), detach: false });
    expect(d.push(Buffer.from("x"))).toEqual({ forward: Buffer.from([0x10, 0x78]), detach: false });
    expect(d.push(Buffer.from([0x10, 0x10]))).toEqual({ forward: Buffer.from([0x10]), detach: false });
    expect(d.push(Buffer.from([0x11]))).toEqual({ forward: Buffer.alloc(0), detach: true });
  });
});

describe("runInteractive", () => {
  it("shows the output, sends keystrokes in order once the task is known, and restores the terminal at the end", async () => {
    const router = new FakeRouter({ events: [outputEv(1, "hello "), outputEv(2, "world")], hang: true });
    const stdin = new FakeStdin();
    const stdout = new FakeStdout();
    const request = create(RunRequestSchema, { prompt: "", mode: RunMode.INTERACTIVE, detach: true });
    const done = runInteractive({ client: router.client, start: { run: request }, stdin, stdout });
    // Typed before the first event: held back until the task id is known.
    stdin.type("a");
    while (stdout.written.length < 2) await tick();
    stdin.type("b");
    stdin.type("\r");
    stdin.type([0x10, 0x11]);
    const end = await done;
    expect(end).toEqual({ taskId: "t1", detached: true });
    const sent = router.calls.filter((c) => c.method === "sendInput").map((c) => Buffer.from((c.request as { input: { value: Uint8Array } }).input.value).toString());
    expect(sent).toEqual(["a", "b", "\r"]);
    expect(stdout.written.slice(0, 2)).toEqual(["hello ", "world"]);
    expect(stdout.written.at(-1)).toBe(TERMINAL_RESET);
    expect(stdin.raw).toEqual([true, false]);
    expect(stdin.listenerCount("data")).toBe(0);
    expect(stdout.listenerCount("resize")).toBe(0);
  });

  it("passes window size changes on, and ends with the task's exit", async () => {
    const router = new FakeRouter({ events: [outputEv(1, "x"), exitedEv(2)] });
    const stdin = new FakeStdin();
    const stdout = new FakeStdout();
    let resized = false;
    const client = {
      ...router.client,
      run: (req: Parameters<typeof router.client.run>[0], opts?: Parameters<typeof router.client.run>[1]) => {
        const inner = router.client.run(req, opts);
        return (async function* () {
          for await (const e of inner) {
            yield e;
            if (!resized) {
              resized = true;
              stdout.columns = 132;
              stdout.rows = 43;
              stdout.emit("resize");
            }
          }
        })();
      },
    } as typeof router.client;
    const end = await runInteractive({ client, start: { run: create(RunRequestSchema, { mode: RunMode.INTERACTIVE }) }, stdin, stdout });
    expect(end.detached).toBe(false);
    expect(end.detached === false && end.exited?.exitCode).toBe(0);
    expect(router.calls.find((c) => c.method === "resize")?.request).toEqual({ taskId: "t1", size: { cols: 132, rows: 43 } });
    expect(stdin.raw).toEqual([true, false]);
  });

  it("attach sends the local size first so the TUI redraws to fit", async () => {
    const router = new FakeRouter({ events: [exitedEv(1)] });
    const stdout = new FakeStdout();
    await runInteractive({ client: router.client, start: { attach: "t1" }, stdin: new FakeStdin(), stdout, resizeOnStart: true });
    expect(router.calls[0]).toEqual({ method: "resize", request: { taskId: "t1", size: { cols: 100, rows: 30 } } });
  });
});
