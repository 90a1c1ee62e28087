// The pieces the figures assemble: the scripted model, workers and a router, each its own process on loopback;
// clients for them; and fake claudes (bench/fixtures) behind a launcher that runs them with this node.
import { chmodSync, mkdirSync, realpathSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { RouterService, WorkerHealth } from "../../gen/claudecluster/v1/router_pb.js";
import { WorkerService } from "../../gen/claudecluster/v1/worker_pb.js";
import type { BenchContext } from "./context.js";
import { FIXTURES, MODEL_MAIN, ROUTER_MAIN, WORKER_MAIN } from "./paths.js";
import { listeningLine, startService, type Service } from "./processes.js";

/** This environment without the caller's own cluster settings (CC_ROUTER_URL, CC_TOKEN, ...). */
export function cleanEnv(): Record<string, string | undefined> {
  return Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith("CC_")));
}

/** What claude needs to talk to the scripted model and nothing else (as test/helpers/model.ts). */
export function modelEnv(modelUrl: string): Record<string, string> {
  return {
    ANTHROPIC_BASE_URL: modelUrl,
    ANTHROPIC_API_KEY: "sk-ant-scripted-model-dummy-key-0000",
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1",
  };
}

/** A one-turn script: claude asks once, the model answers with text. */
export const ONE_TURN_SCRIPT = {
  conversations: [{ turns: [{ content: [{ type: "text", text: "Hello from the scripted model. You said: {{prompt}}" }] }] }],
};

export async function startModel(ctx: BenchContext, script: unknown = ONE_TURN_SCRIPT): Promise<Service> {
  const file = join(ctx.tmp, "model-script.json");
  writeFileSync(file, JSON.stringify(script));
  const model = await startService({
    name: "scripted model",
    script: MODEL_MAIN,
    args: ["--script", file],
    env: cleanEnv(),
    ready: (line) => /^listening (http:\/\/\S+)/.exec(line)?.[1],
  });
  ctx.defer(() => model.stop());
  return model;
}

/** A worker process named `id`, with its own claude HOME and workspace root under the figure's scratch directory. */
export async function startWorker(ctx: BenchContext, id: string, env: Record<string, string> = {}): Promise<Service> {
  const worker = await startService({
    name: id,
    script: WORKER_MAIN,
    env: {
      ...cleanEnv(),
      PORT: "0",
      CC_HOST: "127.0.0.1",
      CC_WORKER_ID: id,
      CC_CLAUDE_HOME: join(ctx.tmp, `home-${id}`),
      CC_WORKSPACE_ROOT: join(ctx.tmp, `workspaces-${id}`),
      CC_SHUTDOWN_GRACE: "2s",
      CC_KILL_GRACE: "2s",
      // The "listening" line is read as JSON.
      CC_LOG_FORMAT: "json",
      // Tasks run in the sandbox, which sees the system and claude's directory: the fake claudes' node and sources too.
      CC_SANDBOX_BIND: `${dirname(realpathSync(process.execPath))},${FIXTURES}`,
      ...env,
    },
    ready: listeningLine("worker"),
  });
  ctx.defer(() => worker.stop());
  return worker;
}

/** A router process with `workers` as its static workers; resolves once it sees every one of them online. */
export async function startRouter(ctx: BenchContext, workers: Service[], env: Record<string, string> = {}): Promise<Service> {
  const router = await startService({
    name: "router",
    script: ROUTER_MAIN,
    env: {
      ...cleanEnv(),
      PORT: "0",
      CC_HOST: "127.0.0.1",
      CC_WORKERS: workers.map((w) => `${w.name}=${w.url}`).join(","),
      CC_SHUTDOWN_GRACE: "2s",
      // Every figure but 10 (store) measures the router with its tasks in memory; figure 10 sets CC_STORE itself.
      CC_STORE: "memory",
      CC_LOG_FORMAT: "json",
      ...env,
    },
    ready: listeningLine("router"),
  });
  ctx.defer(() => router.stop());
  const client = routerClient(ctx, router.url);
  const deadline = Date.now() + 20_000;
  for (;;) {
    const { workers: records } = await client.listWorkers({});
    if (records.filter((r) => r.health === WorkerHealth.ONLINE).length >= workers.length) break;
    if (Date.now() > deadline) throw new Error(`the router did not see its ${workers.length} worker(s) online: ${JSON.stringify(records.map((r) => [r.id, WorkerHealth[r.health], r.problem]))}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return router;
}

/**
 * gRPC over h2c with compression off, as the router's own client for workers (services/common/worker-client.ts):
 * the direct and the routed measurements use the same client. Each client has its own connection, closed at cleanup.
 */
function transport(ctx: BenchContext, url: string) {
  const sessionManager = new Http2SessionManager(url);
  ctx.defer(() => sessionManager.abort());
  return createGrpcTransport({ baseUrl: url, sessionManager, acceptCompression: [], sendCompression: undefined });
}

export function workerClient(ctx: BenchContext, url: string): Client<typeof WorkerService> {
  return createClient(WorkerService, transport(ctx, url));
}

export function routerClient(ctx: BenchContext, url: string): Client<typeof RouterService> {
  return createClient(RouterService, transport(ctx, url));
}

/**
 * Waits (untimed) until the worker's warm pool is full: every process started up, none still starting a
 * replacement for the last task.
 */
export async function waitForFullPool(worker: Client<typeof WorkerService>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const pool = (await worker.getInfo({})).warmPool;
    if (!pool) throw new Error("the worker reports no warm pool in GetInfo");
    if (pool.ready >= pool.size) return;
    if (Date.now() > deadline) throw new Error(`the worker's warm pool was not full after ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * An executable that runs a fixture of bench/fixtures as claude: node scripts with this node (whatever `node` is on
 * PATH), shell scripts with bash. `exec` replaces the launcher, so the fixture is claude's process itself.
 */
export function fakeClaude(ctx: BenchContext, fixture: string): string {
  const source = join(FIXTURES, fixture);
  const interpreter = fixture.endsWith(".mjs") ? process.execPath : "/bin/bash";
  const dir = join(ctx.tmp, "bin");
  mkdirSync(dir, { recursive: true });
  const launcher = join(dir, basename(fixture).replace(/\.\w+$/, ""));
  writeFileSync(launcher, `#!/bin/sh\nexec '${interpreter}' '${source}' "$@"\n`);
  chmodSync(launcher, 0o755);
  return launcher;
}
