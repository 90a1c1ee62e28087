// The worker running the real claude against the scripted model: headless streams, a tool call that writes a file,
// the interactive TUI with hooks, and every way a task can end leaving no process behind.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ExitReason, OutputStream, Phase, RunMode, type RunEvent } from "../../gen/claudecluster/v1/run_pb.js";
import type { ScriptedModel } from "../../services/scripted-model/index.js";
import { modelEnv, startModel } from "../helpers/model.js";
import { leftoverProcesses, processesUnder, waitForNoProcessesUnder } from "../helpers/processes.js";
import { until } from "../helpers/wait.js";
import { collect, ofCase, startTestWorker, type TestWorker } from "../helpers/worker.js";

/** Runs as root here: claude refuses to skip permissions, so tests allow the tools they use. */
const ALLOW_BASH = { allowedTools: ["Bash"] };

function expectContiguous(events: RunEvent[]): void {
  expect(events.map((e) => Number(e.seq))).toEqual(events.map((_, i) => i + 1));
}

describe("worker with the real claude", () => {
  let model: ScriptedModel;
  let w: TestWorker;

  beforeAll(async () => {
    model = await startModel("hello");
    w = await startTestWorker({ ...modelEnv(model), CC_MAX_SESSIONS: "3", CC_DISCONNECT_GRACE: "300ms" });
  });
  afterAll(async () => {
    await w?.close();
    await model?.close();
  });

  it("streams a headless run: init, assistant text, result, then exited with cost and session id", async () => {
    model.setScript({ conversations: [{ turns: [{ content: [{ type: "text", text: "Hello from the scripted model. You said: {{prompt}}" }] }] }] });
    const events = await collect(w.client.run({ prompt: "what is up" }));
    expectContiguous(events);
    // First the acknowledgement that the worker accepted the task (sent before claude starts), then `started`.
    expect(events[0]?.event).toMatchObject({ case: "status", value: { phase: Phase.STARTING, detail: "accepted by worker test-worker" } });
    expect(events[1]?.event.case).toBe("started");
    const messages = ofCase(events, "message");
    const init = messages.find((m) => m.body.case === "init");
    expect(init?.body.value).toMatchObject({ cwd: expect.stringContaining(w.workspaces) });
    const texts = messages.flatMap((m) => (m.body.case === "assistant" ? m.body.value.content : []));
    expect(texts.map((b) => (b.block.case === "text" ? b.block.value.text : ""))).toContain("Hello from the scripted model. You said: what is up");
    expect(messages.some((m) => m.body.case === "delta" && m.body.value.deltaType === "text_delta")).toBe(true);
    // Every message keeps claude's original line.
    for (const m of messages) expect(JSON.parse(m.json).type).toBe(m.type);

    const last = events.at(-1)!;
    expect(last.event.case).toBe("exited");
    const exited = ofCase(events, "exited")[0]!;
    expect(exited.exitCode).toBe(0);
    expect(exited.reason).toBe(ExitReason.COMPLETED);
    expect(exited.result?.isError).toBe(false);
    expect(exited.result?.totalCostUsd).toBeGreaterThan(0);
    expect(exited.result?.sessionId).toMatch(/^[0-9a-f-]{36}$/);
    expect(exited.result?.sessionId).toBe(init?.sessionId);
    expect(model.mainRequests().length).toBeGreaterThan(0);
  });

  it("runs a Bash tool call that writes a file in the task's workspace", async () => {
    model.setScript({
      conversations: [
        {
          turns: [
            { content: [{ type: "tool_use", name: "Bash", input: { command: "echo written-by-claude > out.txt", description: "Write out.txt" } }] },
            { content: [{ type: "text", text: "Done." }] },
          ],
        },
      ],
    });
    const events = await collect(w.client.run({ prompt: "write the file", agent: ALLOW_BASH }));
    const started = ofCase(events, "started")[0]!;
    expect(readFileSync(join(started.workspace, "out.txt"), "utf8")).toBe("written-by-claude\n");
    const results = ofCase(events, "message").flatMap((m) => (m.body.case === "user" ? m.body.value.content : []));
    expect(results.some((b) => b.block.case === "toolResult" && !b.block.value.isError)).toBe(true);
    expect(ofCase(events, "exited")[0]?.result?.result).toBe("Done.");
  });

  it("runs the interactive TUI: waits for input after a turn, takes a second prompt, exits on /exit", async () => {
    model.setScript({
      conversations: [{ turns: [{ content: [{ type: "text", text: "First answer: {{prompt}}" }] }, { content: [{ type: "text", text: "Second answer: {{prompt}}" }] }] }],
    });
    const events: RunEvent[] = [];
    let screen = "";
    let waits = 0;
    for await (const ev of w.client.run({ prompt: "one", mode: RunMode.INTERACTIVE, terminal: { cols: 100, rows: 30 } })) {
      events.push(ev);
      if (ev.event.case === "output") {
        expect(ev.event.value.stream).toBe(OutputStream.TERMINAL);
        screen += Buffer.from(ev.event.value.data).toString("utf8");
      }
      if (ev.event.case === "status" && ev.event.value.phase === Phase.WAITING_FOR_INPUT) {
        waits += 1;
        const text = waits === 1 ? "two\r" : "/exit\r";
        await w.client.sendInput({ taskId: ev.taskId, input: { case: "text", value: text } });
      }
    }
    expectContiguous(events);
    const plain = screen.replace(/\x1b\[[0-9;?<>=]*[ -/]*[@-~]/g, "");
    expect(plain.replace(/\s+/g, "")).toContain("Firstanswer:one");
    expect(plain.replace(/\s+/g, "")).toContain("Secondanswer:two");
    const phases = ofCase(events, "status").map((s) => s.phase);
    expect(phases).toEqual([Phase.STARTING, Phase.RUNNING, Phase.WAITING_FOR_INPUT, Phase.RUNNING, Phase.WAITING_FOR_INPUT]);
    const exited = ofCase(events, "exited")[0]!;
    expect(exited).toMatchObject({ exitCode: 0, reason: ExitReason.COMPLETED });
    expect(exited.result?.sessionId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("Cancel ends claude and the command it is running, and says so in exited", async () => {
    model.setScript({ conversations: [{ turns: [{ content: [{ type: "tool_use", name: "Bash", input: { command: "tail -f /dev/null", description: "Wait" } }] }] }] });
    const stream = w.client.run({ prompt: "wait", agent: ALLOW_BASH });
    const events: RunEvent[] = [];
    let workspace = "";
    for await (const ev of stream) {
      events.push(ev);
      if (ev.event.case === "started") workspace = ev.event.value.workspace;
      // The tool is running once claude reports the tool_use; wait until `sleep` is in the process table.
      if (ev.event.case === "message" && ev.event.value.body.case === "assistant") {
        await until(() => processesUnder(workspace).length >= 2);
        await w.client.cancel({ taskId: ev.taskId, reason: "test" });
        expect(leftoverProcesses(workspace)).toEqual([]);
      }
    }
    const exited = ofCase(events, "exited")[0]!;
    expect(exited.reason).toBe(ExitReason.CANCELLED);
    expect(exited.message).toBe("cancelled: test");
  });

  it("a caller that goes away: the task is stopped after the disconnect grace, leaving nothing running", async () => {
    model.setScript({ conversations: [{ turns: [{ content: [{ type: "tool_use", name: "Bash", input: { command: "tail -f /dev/null", description: "Wait" } }] }] }] });
    const abort = new AbortController();
    let workspace = "";
    await expect(async () => {
      for await (const ev of w.client.run({ prompt: "wait", agent: ALLOW_BASH }, { signal: abort.signal })) {
        if (ev.event.case === "started") workspace = ev.event.value.workspace;
        if (ev.event.case === "message" && ev.event.value.body.case === "assistant") {
          await until(() => processesUnder(workspace).length >= 2);
          abort.abort();
        }
      }
    }).rejects.toThrow();
    expect(await waitForNoProcessesUnder(workspace)).toEqual([]);
    await until(() => w.worker.runner.activeCount === 0);
  });

  it("refuses work past its capacity with RESOURCE_EXHAUSTED", async () => {
    model.setScript({ conversations: [{ turns: [{ content: [{ type: "tool_use", name: "Bash", input: { command: "tail -f /dev/null", description: "Wait" } }] }] }] });
    const aborts = [new AbortController(), new AbortController(), new AbortController()];
    const running = aborts.map((a) => collect(w.client.run({ prompt: "hold", agent: ALLOW_BASH }, { signal: a.signal })).catch(() => []));
    await until(() => w.worker.runner.activeCount === 3);
    const err = await collect(w.client.run({ prompt: "one too many" })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as ConnectError).code).toBe(Code.ResourceExhausted);
    expect((err as ConnectError).rawMessage).toBe("worker test-worker is running 3 of 3 sessions; try again later or add workers");
    for (const id of w.worker.runner.info().activeTaskIds) await w.client.cancel({ taskId: id });
    aborts.forEach((a) => a.abort());
    await Promise.all(running);
  });

  it("runs a task id once: a second Run with an id it has, or had, is ALREADY_EXISTS (a router's retried placement)", async () => {
    model.setScript({ conversations: [{ turns: [{ content: [{ type: "text", text: "once" }] }] }] });
    const taskId = `once-${Date.now()}`;
    const requests = model.mainRequests().length;
    expect(ofCase(await collect(w.client.run({ prompt: "only once", taskId })), "exited")[0]?.exitCode).toBe(0);
    // `exited` can reach the caller before the worker is done ending the task (its processes gone); until then it
    // still holds the task and a second Run is told it "is already running". Asked once it has let go of it:
    await until(() => !w.worker.runner.has(taskId));
    const err = await collect(w.client.run({ prompt: "only once", taskId })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as ConnectError).code).toBe(Code.AlreadyExists);
    expect((err as ConnectError).rawMessage).toBe(`task ${taskId} already ran on worker test-worker; a task runs at most once`);
    expect(model.mainRequests().length).toBe(requests + 1);
  });

  it("answers bad fields with INVALID_ARGUMENT naming the field", async () => {
    const cases: [object, string][] = [
      [{ prompt: "" }, "prompt: is empty; a headless task needs a prompt"],
      [{ prompt: "x", agent: { permissionMode: "yolo" } }, 'agent.permission_mode: unknown mode "yolo"'],
      [{ prompt: "x", agent: { model: "--dangerously-skip-permissions" } }, 'agent.model: must not start with "-"'],
      [{ prompt: "x", workspace: { source: { case: "directory", value: "../etc" } } }, "workspace.directory: must be \".\" or a relative path"],
      [{ prompt: "x", mode: RunMode.INTERACTIVE, terminal: { cols: 0, rows: 10 } }, "terminal.cols: must be from 1 to 1000"],
    ];
    for (const [req, message] of cases) {
      const err = await collect(w.client.run(req)).catch((e: unknown) => e);
      expect(err, JSON.stringify(req)).toBeInstanceOf(ConnectError);
      expect((err as ConnectError).code).toBe(Code.InvalidArgument);
      expect((err as ConnectError).rawMessage).toContain(message);
    }
    expect(w.worker.runner.activeCount).toBe(0);
  });

  it("SendInput to a headless task is FAILED_PRECONDITION; an unknown task is NOT_FOUND", async () => {
    const err = await w.client.sendInput({ taskId: "nope", input: { case: "text", value: "x" } }).catch((e: unknown) => e);
    expect((err as ConnectError).code).toBe(Code.NotFound);
    model.setScript({ conversations: [{ turns: [{ delayMs: 3000, content: [{ type: "text", text: "slow" }] }] }] });
    const abort = new AbortController();
    for await (const ev of w.client.run({ prompt: "slow" }, { signal: abort.signal })) {
      if (ev.event.case !== "started") continue;
      const e2 = await w.client.sendInput({ taskId: ev.taskId, input: { case: "text", value: "x" } }).catch((e: unknown) => e);
      expect((e2 as ConnectError).code).toBe(Code.FailedPrecondition);
      await w.client.cancel({ taskId: ev.taskId });
    }
  });
});

describe("worker without a usable claude", () => {
  it("refuses runs with FAILED_PRECONDITION naming the path and the fix", async () => {
    const w = await startTestWorker({ CC_CLAUDE_BIN: "/nonexistent/claude" });
    try {
      const err = await collect(w.client.run({ prompt: "hi" })).catch((e: unknown) => e);
      expect((err as ConnectError).code).toBe(Code.FailedPrecondition);
      expect((err as ConnectError).rawMessage).toBe("claude not found at /nonexistent/claude: check CC_CLAUDE_BIN");
      const info = await w.client.getInfo({});
      expect(info.problem).toContain("/nonexistent/claude");
    } finally {
      await w.close();
    }
  });
});
