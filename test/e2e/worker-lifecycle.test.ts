// The worker as its own process: SIGTERM drains and leaves nothing behind; a slow reader pauses a flooding source
// instead of growing the worker's memory.
import { mkdtempSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ExitReason, RunMode, type RunEvent } from "../../gen/claudecluster/v1/run_pb.js";
import { WorkerService } from "../../gen/claudecluster/v1/worker_pb.js";
import type { ScriptedModel } from "../../services/scripted-model/index.js";
import { modelEnv, startModel } from "../helpers/model.js";
import { processesUnder, waitForNoProcessesUnder } from "../helpers/processes.js";
import { until } from "../helpers/wait.js";
import { collect, ofCase, startTestWorker } from "../helpers/worker.js";
import { spawnWorkerProcess } from "../helpers/worker-process.js";

const FLOOD = fileURLToPath(new URL("../fixtures/fake-claude/flood.sh", import.meta.url));

describe("worker process lifecycle", () => {
  let model: ScriptedModel;
  let root: string;
  beforeAll(async () => {
    root = realpathSync(mkdtempSync(join(tmpdir(), "cc-test-lifecycle-")));
    model = await startModel({ conversations: [{ turns: [{ content: [{ type: "tool_use", name: "Bash", input: { command: "tail -f /dev/null", description: "Wait" } }] }] }] });
  });
  afterAll(async () => {
    await model?.close();
    rmSync(root, { recursive: true, force: true });
  });

  it("SIGTERM: refuses new runs, stops running tasks after the grace period, exits 0, leaves no process", async () => {
    const workspaces = join(root, "ws");
    const proc = await spawnWorkerProcess("sigterm-worker", {
      ...modelEnv(model),
      CC_CLAUDE_HOME: join(root, "home"),
      CC_WORKSPACE_ROOT: workspaces,
      CC_SHUTDOWN_GRACE: "1s",
      CC_KILL_GRACE: "2s",
    });
    const client = createClient(WorkerService, createGrpcTransport({ baseUrl: proc.url }));
    const events: RunEvent[] = [];
    let refused: unknown;
    for await (const ev of client.run({ prompt: "hang", agent: { allowedTools: ["Bash"] } })) {
      events.push(ev);
      if (ev.event.case === "message" && ev.event.value.body.case === "assistant") {
        await until(() => processesUnder(workspaces).length >= 2);
        proc.child.kill("SIGTERM");
        await until(() => proc.logs.some((l) => l.includes('"draining"')));
        refused = await collect(client.run({ prompt: "too late" })).catch((e: unknown) => e);
      }
    }
    expect((refused as ConnectError).code).toBe(Code.Unavailable);
    expect((refused as ConnectError).rawMessage).toBe("worker sigterm-worker is shutting down; run the task on another worker");
    expect(ofCase(events, "exited")[0]).toMatchObject({ reason: ExitReason.SHUTDOWN, message: "the worker shut down before the task finished" });
    expect(await proc.exited).toBe(0);
    expect(await waitForNoProcessesUnder(workspaces, 2000)).toEqual([]);
  });

  for (const mode of [RunMode.HEADLESS, RunMode.INTERACTIVE]) {
    it(`a slow reader pauses a flooding ${RunMode[mode].toLowerCase()} source: the buffer stays bounded`, async () => {
      const bufferBytes = 256 * 1024;
      const w = await startTestWorker({ CC_CLAUDE_BIN: FLOOD, CC_STREAM_BUFFER_BYTES: String(bufferBytes) });
      try {
        const stream = w.client.run({ prompt: "flood", mode })[Symbol.asyncIterator]();
        const first = (await stream.next()).value as RunEvent;
        const session = w.worker.runner.get(first.taskId);
        // Read a little, then stop reading while the source keeps trying to write.
        let read = 0;
        while (read < 2 * 1024 * 1024) {
          const ev = (await stream.next()).value as RunEvent;
          if (ev.event.case === "output") read += ev.event.value.data.length;
        }
        let peak = 0;
        for (let i = 0; i < 40; i++) {
          peak = Math.max(peak, session.bufferedBytes);
          await new Promise((r) => setTimeout(r, 25));
        }
        // Paused at the high-water mark: at most one more chunk than the buffer (pipes and PTYs read 64 KiB at a time).
        expect(peak).toBeGreaterThan(0);
        expect(peak).toBeLessThan(bufferBytes + 128 * 1024);
        await w.client.cancel({ taskId: first.taskId });
        await stream.return?.();
      } finally {
        await w.close();
      }
    });
  }
});
