// No output lost between worker and router, with the real claude flooding its stream (thousands of text deltas):
// a reader that pauses holds the task back instead of being outrun (claude is paused, and the whole flood arrives,
// every seq and every byte); one that stops reading is cut off after CC_SUBSCRIBER_STALL and replays what it missed;
// and a log that fills up (CC_TASK_LOG_BYTES) ends the task with exited OUTPUT_LIMIT, its replay whole.
import { mkdtempSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RouterService, TaskStatus, WorkerHealth } from "../../gen/claudecluster/v1/router_pb.js";
import { ExitReason, type RunEvent } from "../../gen/claudecluster/v1/run_pb.js";
import { silentLogger } from "../../services/common/logger.js";
import { createRouter, type Router } from "../../services/router/server.js";
import { readRouterSettings } from "../../services/router/settings.js";
import type { ScriptedModel } from "../../services/scripted-model/index.js";
import { grpcJsRouter, readStream, type PlainEvent } from "../helpers/grpc-js.js";
import { modelEnv, startModel } from "../helpers/model.js";
import { waitForNoProcessesUnder } from "../helpers/processes.js";
import { until } from "../helpers/wait.js";
import { collect, ofCase } from "../helpers/worker.js";
import { spawnWorkerProcess, type WorkerProcess } from "../helpers/worker-process.js";

// About 8,000 text deltas of up to 24 characters, each line numbered, so a lost or repeated byte shows.
const FLOOD_TEXT = Array.from({ length: 8000 }, (_, i) => `line ${String(i).padStart(5, "0")} of the flood `).join("");
const LAG_BYTES = 16 * 1024;

describe("backpressure through the router", () => {
  let model: ScriptedModel;
  let root: string;
  let worker: WorkerProcess;
  const routers: Router[] = [];

  async function startRouter(env: Record<string, string>): Promise<{ router: Router; url: string; client: Client<typeof RouterService> }> {
    const router = createRouter(
      readRouterSettings({ CC_STORE: "memory", PORT: "0", CC_HOST: "127.0.0.1", CC_HEARTBEAT_INTERVAL: "500ms", CC_SUBSCRIBER_LAG_BYTES: String(LAG_BYTES), CC_LOG_LEVEL: "silent", ...env }),
      { logger: silentLogger() },
    );
    routers.push(router);
    await router.listen();
    const url = `http://127.0.0.1:${router.server.port()}`;
    await until(() => router.registry.list().some((w) => router.registry.health(w) === WorkerHealth.ONLINE));
    return { router, url, client: createClient(RouterService, createGrpcTransport({ baseUrl: url })) };
  }

  beforeAll(async () => {
    root = realpathSync(mkdtempSync(join(tmpdir(), "cc-test-backpressure-")));
    model = await startModel({ conversations: [{ match: "flood", turns: [{ content: [{ type: "text", text: FLOOD_TEXT }] }] }] });
    worker = await spawnWorkerProcess("flood-w", {
      ...modelEnv(model),
      CC_CLAUDE_HOME: join(root, "home"),
      CC_WORKSPACE_ROOT: join(root, "ws"),
      // A small queue on the worker, so that the router not reading pauses claude soon.
      CC_STREAM_BUFFER_BYTES: "16384",
      CC_KILL_GRACE: "1s",
    });
  });

  afterAll(async () => {
    for (const r of routers) await r.shutdown(0);
    worker?.child.kill("SIGTERM");
    await worker?.exited;
    await model?.close();
    const left = await waitForNoProcessesUnder(root);
    rmSync(root, { recursive: true, force: true });
    expect(left).toEqual([]);
  });

  /** The text of the deltas, in order. */
  const deltaText = (events: PlainEvent[]) => events.map((e) => (e.message?.delta?.deltaType === "text_delta" ? e.message.delta.text : "")).join("");

  it("a reader that pauses holds the task back; resumed, it reads the whole flood: seq 1..n, every byte", async () => {
    const { client, url } = await startRouter({ CC_WORKERS: `flood-w=${worker.url}`, CC_SUBSCRIBER_STALL: "5m" });
    const grpcJs = grpcJsRouter(url);
    let paused = false;
    let taskId = "";
    const call = grpcJs.Run({ prompt: "flood, then pause" });
    const read = readStream(call, (e, c) => {
      taskId = e.taskId;
      // Pause once the flood is under way.
      if (!paused && e.message?.delta?.deltaType === "text_delta") {
        paused = true;
        c.pause();
      }
    });
    await until(() => paused);
    // The task's log stops growing while its reader is paused, and the task has not ended: claude waits for it.
    let last = -1n;
    let same = 0;
    await until(async () => {
      const seq = (await client.getTask({ taskId })).lastSeq;
      same = seq === last ? same + 1 : 0;
      last = seq;
      return same >= 5;
    }, 60_000);
    const task = await client.getTask({ taskId });
    expect(task.status).toBe(TaskStatus.RUNNING);
    expect(task.exit).toBeUndefined();
    call.resume();
    const { events, error } = await read;
    expect(error).toBeUndefined();
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => String(i + 1)));
    expect(events.at(-1)?.exited).toMatchObject({ reason: "EXIT_REASON_COMPLETED", exitCode: 0 });
    expect(deltaText(events)).toBe(FLOOD_TEXT);
    // The log holds it all: a replay from 0 is the same stream.
    const replay = await collect(client.attach({ taskId, afterSeq: 0n }));
    expect(replay.length).toBe(events.length);
    expect(ofCase(replay, "message").map((m) => m.json)).toEqual(events.flatMap((e) => (e.message ? [e.message.json] : [])));
    grpcJs.close();
  }, 120_000);

  it("a reader that stops reading is cut off after CC_SUBSCRIBER_STALL while the task goes on; attached again it misses nothing", async () => {
    // The stall allowed is what cuts the stuck reader; the reader that reads the whole task must never stall that
    // long, even on a loaded machine where the test process (which also runs the router) can pause for a second.
    const { client, url } = await startRouter({ CC_WORKERS: `flood-w=${worker.url}`, CC_SUBSCRIBER_STALL: "4s" });
    const grpcJs = grpcJsRouter(url);
    let paused = false;
    const stuck = grpcJs.Run({ prompt: "flood, and a reader that stops" });
    const stuckRead = readStream(stuck, (e, c) => {
      if (!paused && e.message?.delta?.deltaType === "text_delta") {
        paused = true;
        c.pause();
      }
    });
    await until(() => paused);
    const taskId = (await client.listTasks({})).tasks[0]!.id;
    // Another reader, attached from the start, reads the whole task while the stuck one does not move.
    const whole = await collect(client.attach({ taskId, afterSeq: 0n }));
    expect(ofCase(whole, "exited")[0]).toMatchObject({ reason: ExitReason.COMPLETED, exitCode: 0 });
    // The stuck reader, resumed, gets what was on its way, then the cut-off.
    stuck.resume();
    const { events, error } = await stuckRead;
    expect(error?.code).toBe(8); // RESOURCE_EXHAUSTED
    expect(error?.details).toMatch(/read nothing for 4s \(CC_SUBSCRIBER_LAG_BYTES, CC_SUBSCRIBER_STALL\).*nothing was lost: attach again with after_seq/);
    // Attached again from its last seq, it has the whole task.
    const rest = await collect(client.attach({ taskId, afterSeq: BigInt(events.at(-1)!.seq) }));
    expect([...events.map((e) => e.seq), ...rest.map((e) => String(e.seq))]).toEqual(whole.map((e) => String(e.seq)));
    expect(deltaText(events) + rest.map((e) => (e.event.case === "message" && e.event.value.body.case === "delta" ? e.event.value.body.value.text : "")).join("")).toBe(FLOOD_TEXT);
    grpcJs.close();
  }, 120_000);

  it("a task whose events fill CC_TASK_LOG_BYTES is stopped with exited OUTPUT_LIMIT naming the setting; its replay is whole", async () => {
    const { client } = await startRouter({ CC_WORKERS: `flood-w=${worker.url}`, CC_TASK_LOG_BYTES: "65536" });
    const events = await collect(client.run({ prompt: "flood the log" }));
    expect(events.map((e) => Number(e.seq))).toEqual(events.map((_, i) => i + 1));
    const exited = ofCase(events, "exited")[0]!;
    expect(events.at(-1)?.event.case).toBe("exited");
    expect(exited.reason).toBe(ExitReason.OUTPUT_LIMIT);
    expect(exited.message).toBe(
      "the task printed more than the router keeps for one task (CC_TASK_LOG_BYTES, 65536 bytes) and was stopped; ask for less output, or raise CC_TASK_LOG_BYTES together with the worker's CC_MAX_OUTPUT_BYTES",
    );
    const task = await client.getTask({ taskId: events[0]!.taskId });
    expect(task.status).toBe(TaskStatus.FAILED);
    // Nothing was dropped from its head: the replay from 0 is what the caller saw.
    expect(await collect(client.attach({ taskId: task.id, afterSeq: 0n }))).toEqual(events);
  }, 60_000);
});
