// A task's environment variable values are never written to the task store (only their names), so a task that asked
// for some and was still queued when its router died cannot be started by the router that carries on: it ends FAILED
// saying so, while a queued task without variables runs. The router is SIGKILLed with both tasks queued behind a full
// worker, and restarted on the same SQLite file, which is then searched for the value.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, expect, it } from "vitest";
import { RouterService, TaskStatus } from "../../gen/claudecluster/v1/router_pb.js";
import { ExitReason } from "../../gen/claudecluster/v1/run_pb.js";
import type { ScriptedModel } from "../../services/scripted-model/index.js";
import { modelEnv, startModel } from "../helpers/model.js";
import { waitForNoProcessesUnder } from "../helpers/processes.js";
import { spawnRouterProcess, type RouterProcess } from "../helpers/router-process.js";
import { until } from "../helpers/wait.js";
import { spawnWorkerProcess, type WorkerProcess } from "../helpers/worker-process.js";

const SECRET = "value-of-the-variable-9c1f4e";

let model: ScriptedModel;
let root: string;
let router: RouterProcess;
let worker: WorkerProcess;
let port = 0;
let client: Client<typeof RouterService>;

async function startRouter(): Promise<void> {
  router = await spawnRouterProcess({ PORT: String(port), CC_STORE: "sqlite", CC_DATA_DIR: join(root, "data"), CC_HEARTBEAT_INTERVAL: "500ms", CC_OFFLINE_AFTER: "5s" });
  port = Number(new URL(router.url).port);
  client = createClient(RouterService, createGrpcTransport({ baseUrl: router.url }));
}

beforeAll(async () => {
  root = realpathSync(mkdtempSync(join(tmpdir(), "cc-test-restart-env-")));
  mkdirSync(join(root, "gates"));
  const gate = join(root, "gates", "gate");
  model = await startModel({
    conversations: [
      {
        match: "holds the slot",
        turns: [
          { content: [{ type: "tool_use", name: "Bash", input: { command: `while [ ! -e ${gate} ]; do sleep 0.2; done`, description: "Wait for the gate" } }] },
          { content: [{ type: "text", text: "slot freed" }] },
        ],
      },
      { turns: [{ content: [{ type: "text", text: "answer to {{prompt}}" }] }] },
    ],
  });
  await startRouter();
  worker = await spawnWorkerProcess("env-w1", {
    ...modelEnv(model),
    CC_ROUTER_URL: router.url,
    CC_CLAUDE_HOME: join(root, "home"),
    CC_WORKSPACE_ROOT: join(root, "ws"),
    CC_SANDBOX_BIND: join(root, "gates"),
    CC_MAX_SESSIONS: "1",
    CC_KILL_GRACE: "1s",
  });
  await until(async () => (await client.listWorkers({})).workers.length === 1, 30_000);
});

afterAll(async () => {
  worker?.child.kill("SIGTERM");
  router?.child.kill("SIGTERM");
  await worker?.exited;
  await router?.exited;
  await model?.close();
  rmSync(root, { recursive: true, force: true });
});

it("a queued task with environment variables ends FAILED after a restart, saying why; one without runs; the value was never stored", async () => {
  const detached = async (prompt: string, env: Record<string, string> = {}) => {
    for await (const e of client.run({ prompt, env, detach: true, agent: { allowedTools: ["Bash"] } })) return e.taskId;
    throw new Error("no event");
  };
  const holder = await detached("this one holds the slot");
  await until(async () => (await client.getTask({ taskId: holder })).latestLine.startsWith("Bash"));
  const withEnv = await detached("needs its variable", { PROJECT_TOKEN: SECRET });
  const without = await detached("needs nothing");
  for (const id of [withEnv, without]) expect((await client.getTask({ taskId: id })).status).toBe(TaskStatus.QUEUED);

  router.child.kill("SIGKILL");
  await router.exited;
  await startRouter();
  writeFileSync(join(root, "gates", "gate"), "");

  const ended = async (id: string) => {
    await until(async () => (await client.getTask({ taskId: id })).exit !== undefined, 60_000);
    return client.getTask({ taskId: id });
  };
  const failed = await ended(withEnv);
  expect(failed.status).toBe(TaskStatus.FAILED);
  expect(failed.exit).toMatchObject({ reason: ExitReason.FAILED });
  expect(failed.exit?.message).toMatch(/asked for environment variables \(PROJECT_TOKEN\), and the router that accepted it stopped before a worker took it; their values are never written to the task store.*run it again/);
  expect(failed.envNames).toEqual(["PROJECT_TOKEN"]);
  const ran = await ended(without);
  expect(ran.status).toBe(TaskStatus.SUCCEEDED);
  expect(ran.exit?.result?.result).toBe("answer to needs nothing");
  expect((await ended(holder)).status).toBe(TaskStatus.SUCCEEDED);

  // Neither the database nor its write-ahead log ever held the value.
  const data = join(root, "data");
  for (const file of readdirSync(data)) expect(readFileSync(join(data, file)).includes(SECRET), file).toBe(false);
  expect(await waitForNoProcessesUnder(join(root, "ws"), 20_000)).toEqual([]);
}, 180_000);
