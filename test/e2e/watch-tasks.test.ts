// WatchTasks end to end, read by an independent client (@grpc/grpc-js with proto-loader, from the .proto files) while
// the real claude runs a task: the snapshot, then the task's record as it changes, with its phase, latest line and
// cost. And the web UI on the router's own port: the page over HTTP/1.1 beside the RPCs, and gone with CC_WEB=off.
import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RouterService } from "../../gen/claudecluster/v1/router_pb.js";
import { silentLogger } from "../../services/common/logger.js";
import { createRouter, type Router } from "../../services/router/server.js";
import { readRouterSettings } from "../../services/router/settings.js";
import type { ScriptedModel } from "../../services/scripted-model/index.js";
import { modelEnv, startModel } from "../helpers/model.js";
import { waitForNoProcessesUnder } from "../helpers/processes.js";
import { until } from "../helpers/wait.js";
import { spawnWorkerProcess, type WorkerProcess } from "../helpers/worker-process.js";

const PROTO_DIR = fileURLToPath(new URL("../../proto", import.meta.url));

interface PlainTask {
  id: string;
  status: string;
  phase: string;
  latestLine: string;
  costUsd: number;
  workerId: string;
}
interface PlainChange {
  change: "task" | "synced" | "removed";
  task?: PlainTask;
  synced?: { count: number };
  removed?: string;
}

describe("WatchTasks and the web UI on the router's port", () => {
  let model: ScriptedModel;
  let root: string;
  let router: Router;
  let worker: WorkerProcess;
  let url = "";

  beforeAll(async () => {
    root = realpathSync(mkdtempSync(join(tmpdir(), "cc-test-watch-")));
    // Tasks run sandboxed with a /tmp of their own: the gate's directory is bound into every sandbox (CC_SANDBOX_BIND).
    mkdirSync(join(root, "gates"));
    model = await startModel({
      conversations: [
        {
          // Held in a Bash call until the test opens the gate, so a watcher cannot miss the running record.
          match: "watched",
          turns: [
            {
              content: [
                { type: "text", text: "First line of the answer." },
                { type: "tool_use", name: "Bash", input: { command: `while [ ! -e ${join(root, "gates", "watched")} ]; do sleep 0.1; done`, description: "Wait for the gate" } },
              ],
              chunkDelayMs: 30,
            },
            { content: [{ type: "text", text: "The last line: watched" }] },
          ],
        },
        { turns: [{ content: [{ type: "text", text: "First line of the answer.\nThe last line: {{prompt}}" }], chunkDelayMs: 30 }] },
      ],
    });
    router = createRouter(readRouterSettings({ CC_STORE: "memory", PORT: "0", CC_HOST: "127.0.0.1", CC_HEARTBEAT_INTERVAL: "500ms", CC_WATCH_INTERVAL: "50ms", CC_LOG_LEVEL: "silent" }), {
      logger: silentLogger(),
    });
    url = `http://127.0.0.1:${await router.listen()}`;
    worker = await spawnWorkerProcess("watch-w1", {
      ...modelEnv(model),
      CC_ROUTER_URL: url,
      CC_CLAUDE_HOME: join(root, "home"),
      CC_WORKSPACE_ROOT: join(root, "ws"),
      CC_SANDBOX_BIND: join(root, "gates"),
    });
    await until(() => router.registry.list().some((w) => w.id === "watch-w1"));
  });

  afterAll(async () => {
    await router?.shutdown(0);
    worker?.child.kill("SIGTERM");
    await worker?.exited;
    await model?.close();
    const left = await waitForNoProcessesUnder(root);
    rmSync(root, { recursive: true, force: true });
    expect(left).toEqual([]);
  });

  it("streams the snapshot, then a running task's record as it changes, to a grpc-js client", async () => {
    const definition = protoLoader.loadSync("claudecluster/v1/router.proto", { includeDirs: [PROTO_DIR], longs: String, enums: String, defaults: true, oneofs: true });
    const pkg = grpc.loadPackageDefinition(definition) as unknown as { claudecluster: { v1: { RouterService: grpc.ServiceClientConstructor } } };
    const watcher = new pkg.claudecluster.v1.RouterService(url.replace("http://", ""), grpc.credentials.createInsecure());
    const changes: PlainChange[] = [];
    const call = watcher["WatchTasks"]!({}) as grpc.ClientReadableStream<PlainChange>;
    call.on("data", (c: PlainChange) => changes.push(c));
    const closed = new Promise<void>((resolve) => call.on("error", () => resolve()).on("end", () => resolve()));
    await until(() => changes.some((c) => c.change === "synced"));
    expect(changes.find((c) => c.change === "synced")?.synced?.count).toBe(0);

    const client = createClient(RouterService, createConnectTransport({ baseUrl: url, httpVersion: "1.1" }));
    let id = "";
    const ran = (async () => {
      for await (const ev of client.run({ prompt: "watched", agent: { allowedTools: ["Bash"] } })) id = ev.taskId;
    })();
    // The task waits in its Bash call until the watcher has seen it there; then the gate opens and it ends.
    await until(() => changes.some((c) => c.task?.id === id && c.task.status === "TASK_STATUS_RUNNING" && c.task.latestLine.startsWith("Bash")));
    writeFileSync(join(root, "gates", "watched"), "");
    await ran;
    await until(() => changes.some((c) => c.task?.id === id && c.task.status === "TASK_STATUS_SUCCEEDED"));
    call.cancel();
    await closed;
    watcher.close();

    const seen = changes.filter((c) => c.task?.id === id).map((c) => c.task!);
    // Seen before its end: running, working on a turn, with the tool call claude was in as its latest line.
    expect(seen.some((t) => t.status === "TASK_STATUS_RUNNING" && t.phase === "PHASE_RUNNING" && t.workerId === "watch-w1")).toBe(true);
    expect(seen.some((t) => t.status === "TASK_STATUS_RUNNING" && t.latestLine.startsWith("Bash"))).toBe(true);
    const last = seen.at(-1)!;
    expect(last).toMatchObject({ status: "TASK_STATUS_SUCCEEDED", phase: "PHASE_UNSPECIFIED", latestLine: "The last line: watched" });
    expect(last.costUsd).toBeGreaterThan(0);
    // Coalesced: far fewer records than the task's events.
    expect(seen.length).toBeLessThan(Number((await client.getTask({ taskId: id })).lastSeq));
  });

  it("serves the web UI at / over HTTP/1.1 on the same port as the RPCs", async () => {
    const page = await fetch(`${url}/tasks/anything`);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-security-policy")).toContain("connect-src 'self'");
    const html = await page.text();
    const script = /src="(\/assets\/app-[\w-]+\.js)"/.exec(html)?.[1];
    expect(script, html).toBeDefined();
    const asset = await fetch(`${url}${script}`);
    expect(asset.status).toBe(200);
    expect(asset.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    // The RPCs beside it, on HTTP/1.1 (the Connect protocol, as the page calls them).
    const client = createClient(RouterService, createConnectTransport({ baseUrl: url, httpVersion: "1.1" }));
    expect((await client.listWorkers({})).workers.map((w) => w.id)).toEqual(["watch-w1"]);
  });

  it("CC_WEB=off serves no page", async () => {
    const off = createRouter(readRouterSettings({ CC_STORE: "memory", PORT: "0", CC_HOST: "127.0.0.1", CC_WEB: "off", CC_LOG_LEVEL: "silent" }), { logger: silentLogger() });
    const port = await off.listen();
    try {
      expect((await fetch(`http://127.0.0.1:${port}/`)).status).toBe(404);
    } finally {
      await off.shutdown(0);
    }
  });
});
