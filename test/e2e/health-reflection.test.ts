// gRPC health checking and server reflection as independent clients see them: `buf curl` with no schema at all,
// @grpc/grpc-js with the standard health.proto (Check, and Watch across a SIGTERM of the real process), the
// healthcheck CLI containers run, and tokens (health open, reflection not).
import { mkdtempSync, realpathSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WorkerHealth } from "../../gen/claudecluster/v1/router_pb.js";
import { ExitReason, type RunEvent } from "../../gen/claudecluster/v1/run_pb.js";
import { WorkerService } from "../../gen/claudecluster/v1/worker_pb.js";
import { ServerReflection } from "../../gen/grpc/reflection/v1/reflection_pb.js";
import { silentLogger } from "../../services/common/logger.js";
import { createRouter, type Router } from "../../services/router/server.js";
import { readRouterSettings } from "../../services/router/settings.js";
import type { ScriptedModel } from "../../services/scripted-model/index.js";
import { jsonDocuments, runCommand } from "../helpers/command.js";
import { modelEnv, startModel } from "../helpers/model.js";
import { waitForNoProcessesUnder } from "../helpers/processes.js";
import { spawnRouterProcess } from "../helpers/router-process.js";
import { until } from "../helpers/wait.js";
import { ofCase, startTestWorker, type TestWorker } from "../helpers/worker.js";
import { spawnWorkerProcess } from "../helpers/worker-process.js";

const PROTO_DIR = fileURLToPath(new URL("../../proto", import.meta.url));
const BUF = fileURLToPath(new URL("../../node_modules/.bin/buf", import.meta.url));
const HEALTHCHECK = fileURLToPath(new URL("../../dist/services/common/healthcheck.js", import.meta.url));

const hang = { match: "hang", turns: [{ content: [{ type: "tool_use" as const, name: "Bash", input: { command: "tail -f /dev/null", description: "Wait" } }] }] };
const echo = { turns: [{ content: [{ type: "text" as const, text: "reflected answer: {{prompt}}" }] }] };

// grpc-js knows nothing of our code: it reads the standard health.proto, as any gRPC health client would.
const healthPkg = grpc.loadPackageDefinition(
  protoLoader.loadSync("grpc/health/v1/health.proto", { includeDirs: [PROTO_DIR], enums: String, defaults: true }),
) as unknown as { grpc: { health: { v1: { Health: grpc.ServiceClientConstructor } } } };

function healthClient(url: string): grpc.Client {
  return new healthPkg.grpc.health.v1.Health(url.replace("http://", ""), grpc.credentials.createInsecure());
}

function check(url: string, service = ""): Promise<string> {
  const client = healthClient(url);
  return new Promise<string>((resolve, reject) => {
    (client as unknown as Record<string, (req: object, cb: (err: grpc.ServiceError | null, res?: { status: string }) => void) => void>)["Check"]!(
      { service },
      (err, res) => (err ? reject(err) : resolve(res!.status)),
    );
  }).finally(() => client.close());
}

interface Watch {
  statuses: string[];
  /** The stream's final gRPC status code. */
  ended: Promise<grpc.status>;
}

function watch(url: string, service = ""): Watch {
  const client = healthClient(url);
  const call = (client as unknown as Record<string, (req: object) => grpc.ClientReadableStream<{ status: string }>>)["Watch"]!({ service });
  const statuses: string[] = [];
  call.on("data", (res: { status: string }) => statuses.push(res.status));
  call.on("error", () => {}); // the code arrives on "status" too
  const ended = new Promise<grpc.status>((resolve) => call.on("status", (s: grpc.StatusObject) => resolve(s.code))).finally(() => client.close());
  return { statuses, ended };
}

async function* listServices() {
  yield { messageRequest: { case: "listServices" as const, value: "" } };
}

const buf = (...args: string[]) => runCommand(BUF, ["curl", "--protocol", "grpc", "--http2-prior-knowledge", ...args]);

/** A port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function routerOn(env: Record<string, string>): Router {
  return createRouter(readRouterSettings({ CC_STORE: "memory", PORT: "0", CC_HOST: "127.0.0.1", CC_HEARTBEAT_INTERVAL: "500ms", CC_LOG_LEVEL: "silent", ...env }), { logger: silentLogger() });
}

describe("health and reflection", () => {
  let model: ScriptedModel;
  let root: string;
  let w: TestWorker;
  let router: Router;
  let routerUrl: string;

  beforeAll(async () => {
    root = realpathSync(mkdtempSync(join(tmpdir(), "cc-test-health-")));
    model = await startModel({ conversations: [hang, echo] });
    w = await startTestWorker(modelEnv(model));
    router = routerOn({ CC_WORKERS: w.url });
    routerUrl = `http://127.0.0.1:${await router.listen()}`;
    await until(() => router.registry.list().some((e) => router.registry.health(e) === WorkerHealth.ONLINE));
  });
  afterAll(async () => {
    await router?.shutdown(0);
    await w?.close();
    await model?.close();
    const left = await waitForNoProcessesUnder(root);
    rmSync(root, { recursive: true, force: true });
    expect(left).toEqual([]);
  });

  it("buf curl lists the services of worker and router with no schema", async () => {
    for (const [url, ours] of [
      [w.url, ["claudecluster.v1.WorkerService"]],
      [routerUrl, ["claudecluster.v1.RouterService", "claudecluster.v1.RoutineService"]],
    ] as const) {
      const res = await buf("--list-services", url);
      expect(res.code, res.stderr).toBe(0);
      expect(res.stdout.trim().split("\n")).toEqual([...ours, "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"]);
    }
  });

  it("buf curl checks health and streams a Run through the router with no schema", async () => {
    const health = await buf(`${routerUrl}/grpc.health.v1.Health/Check`);
    expect(health.code, health.stderr).toBe(0);
    expect(JSON.parse(health.stdout)).toEqual({ status: "SERVING" });

    const res = await buf("-d", JSON.stringify({ prompt: "via reflection" }), `${routerUrl}/claudecluster.v1.RouterService/Run`);
    expect(res.code, res.stderr).toBe(0);
    const events = jsonDocuments<{ seq: string; started?: { workerId: string }; exited?: { exitCode?: number; reason: string; result?: { result: string } } }>(res.stdout);
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => String(i + 1)));
    expect(events.find((e) => e.started)?.started?.workerId).toBe("test-worker");
    expect(events.at(-1)?.exited).toMatchObject({ reason: "EXIT_REASON_COMPLETED", result: { result: "reflected answer: via reflection" } });
  });

  it("@grpc/grpc-js Check: SERVING for \"\" and our service, NOT_FOUND for an unknown name", async () => {
    expect(await check(w.url)).toBe("SERVING");
    expect(await check(w.url, "claudecluster.v1.WorkerService")).toBe("SERVING");
    expect(await check(routerUrl)).toBe("SERVING");
    expect(await check(routerUrl, "claudecluster.v1.RouterService")).toBe("SERVING");
    const err = (await check(w.url, "claudecluster.v1.RouterService").catch((e: unknown) => e)) as grpc.ServiceError;
    expect(err.code).toBe(grpc.status.NOT_FOUND);
  });

  it("the healthcheck CLI exits 0 for a serving worker, 1 for a closed port or a worker without claude", async () => {
    const ok = await runCommand(process.execPath, [HEALTHCHECK, w.url]);
    expect(ok).toMatchObject({ code: 0, stdout: "SERVING\n" });
    const byPort = await runCommand(process.execPath, [HEALTHCHECK], { PORT: new URL(routerUrl).port });
    expect(byPort).toMatchObject({ code: 0, stdout: "SERVING\n" });

    const port = await closedPort();
    const closed = await runCommand(process.execPath, [HEALTHCHECK, `http://127.0.0.1:${port}`]);
    expect(closed.code).toBe(1);
    expect(closed.stderr).toBe(`cannot reach http://127.0.0.1:${port}: ECONNREFUSED\n`);

    const broken = await startTestWorker({ CC_CLAUDE_BIN: join(root, "no-such-claude") });
    try {
      expect(await check(broken.url)).toBe("NOT_SERVING");
      const res = await runCommand(process.execPath, [HEALTHCHECK, broken.url]);
      expect(res.code).toBe(1);
      expect(res.stderr).toBe(`NOT_SERVING: ${broken.url} is not serving (draining, or claude is unusable)\n`);
    } finally {
      await broken.close();
    }
  });

  it("worker process: Watch sees NOT_SERVING as soon as SIGTERM starts the drain, while a task still runs", async () => {
    const workspaces = join(root, "ws-sigterm");
    const proc = await spawnWorkerProcess("health-sigterm", {
      ...modelEnv(model),
      CC_CLAUDE_HOME: join(root, "home"),
      CC_WORKSPACE_ROOT: workspaces,
      CC_SHUTDOWN_GRACE: "2s",
      CC_KILL_GRACE: "2s",
    });
    const watching = watch(proc.url);
    await until(() => watching.statuses.length > 0);
    const client = createClient(WorkerService, createGrpcTransport({ baseUrl: proc.url }));
    const events: RunEvent[] = [];
    let statusesDuringTask: string[] = [];
    for await (const ev of client.run({ prompt: "hang", agent: { allowedTools: ["Bash"] } })) {
      events.push(ev);
      if (ev.event.case === "message" && ev.event.value.body.case === "assistant" && statusesDuringTask.length === 0) {
        proc.child.kill("SIGTERM");
        await until(() => watching.statuses.includes("NOT_SERVING"));
        statusesDuringTask = [...watching.statuses];
      }
    }
    expect(statusesDuringTask).toEqual(["SERVING", "NOT_SERVING"]);
    expect(ofCase(events, "exited")[0]?.reason).toBe(ExitReason.SHUTDOWN);
    // The worker ends open watches itself before closing, so they finish cleanly instead of being cut.
    expect(await watching.ended).toBe(grpc.status.OK);
    expect(watching.statuses).toEqual(["SERVING", "NOT_SERVING"]);
    expect(await proc.exited).toBe(0);
    expect(await waitForNoProcessesUnder(workspaces, 2000)).toEqual([]);
  });

  it("router process: Watch sees NOT_SERVING on SIGTERM, then the router exits 0", async () => {
    const proc = await spawnRouterProcess();
    const watching = watch(proc.url, "claudecluster.v1.RouterService");
    await until(() => watching.statuses.length > 0);
    proc.child.kill("SIGTERM");
    expect(await watching.ended).toBe(grpc.status.OK);
    expect(watching.statuses).toEqual(["SERVING", "NOT_SERVING"]);
    expect(await proc.exited).toBe(0);
  });
});

describe("health and reflection with tokens", () => {
  let w: TestWorker;
  let router: Router;
  let routerUrl: string;

  beforeAll(async () => {
    w = await startTestWorker({ CC_WORKER_TOKEN: "worker-secret" });
    router = routerOn({ CC_TOKEN: "client-secret", CC_WORKER_TOKEN: "worker-secret" });
    routerUrl = `http://127.0.0.1:${await router.listen()}`;
  });
  afterAll(async () => {
    await router?.shutdown(0);
    await w?.close();
  });

  for (const [name, url, token, what] of [
    ["worker", () => w.url, "worker-secret", "worker token (CC_WORKER_TOKEN)"],
    ["router", () => routerUrl, "client-secret", "router token (CC_TOKEN)"],
  ] as const) {
    it(`${name}: health answers without a token; reflection needs it`, async () => {
      expect(await check(url())).toBe("SERVING");
      expect((await runCommand(process.execPath, [HEALTHCHECK, url()])).code).toBe(0);

      const reflection = createClient(ServerReflection, createGrpcTransport({ baseUrl: url() }));
      const err = await (async () => {
        for await (const _ of reflection.serverReflectionInfo(listServices()));
      })().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConnectError);
      expect((err as ConnectError).code).toBe(Code.Unauthenticated);
      expect((err as ConnectError).rawMessage).toBe(`missing ${what} (no authorization header): send "authorization: Bearer <token>"`);

      const refused = await buf("--list-services", url());
      expect(refused.code).not.toBe(0);
      // buf words UNAUTHENTICATED as advice about its own registry login; the code is what matters.
      expect(refused.stderr).toContain("you are not authenticated");
      // Without reflection buf curl needs the schema, but health itself still needs no token.
      const health = await buf("--schema", PROTO_DIR, `${url()}/grpc.health.v1.Health/Check`);
      expect(health.code, health.stderr).toBe(0);
      expect(JSON.parse(health.stdout)).toEqual({ status: "SERVING" });
      const listed = await buf("-H", `Authorization: Bearer ${token}`, "--reflect-header", "*", "--list-services", url());
      expect(listed.code, listed.stderr).toBe(0);
      expect(listed.stdout).toContain("grpc.health.v1.Health");
    });
  }
});
