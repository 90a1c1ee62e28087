// The images, built from Dockerfile.worker and Dockerfile.router and run for real: a router container and a worker
// container on the host network, `cc run` on the host against the router, and the real claude inside the worker
// talking to the scripted model on the host. `npm run test:containers` runs this (and .ci/run does).
import { createServer, type AddressInfo } from "node:net";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { Script, ScriptedModel } from "../../services/scripted-model/index.js";
import { runCommand, type CommandResult } from "../helpers/command.js";
import { findContainerTool, type ContainerTool } from "../helpers/containers.js";
import { fixtureScript, modelEnv, startModel } from "../helpers/model.js";
import { toolResults } from "../helpers/tool-results.js";
import { describeNeeding } from "../helpers/needs.js";

const CC = new URL("../../dist/cc/main.js", import.meta.url).pathname;
const WORKER_IMAGE = "localhost/claudecluster-worker:test";
const ROUTER_IMAGE = "localhost/claudecluster-router:test";
const ROUTER = "cc-test-router";
const WORKER = "cc-test-worker";
const TOKEN = "router-token-for-the-container-test";
const WORKER_TOKEN = "worker-token-for-the-container-test";
// The worker's drain period on SIGTERM; `stop` allows longer before it would SIGKILL.
const SHUTDOWN_GRACE_S = 3;
const STOP_TIMEOUT_S = 20;

/** A task that looks for the worker's token in every process it can see, and lists the workspace root. */
const SNOOP = "cat /proc/[0-9]*/environ 2>/dev/null | tr '\\0' '\\n' | grep -c CC_WORKER_TOKEN; ls -A /workspace/.tasks | wc -l; ls -A /home/node";

const SCRIPT: Script = {
  conversations: [
    { match: "hang", turns: fixtureScript("sleep").conversations[0]!.turns },
    { match: "make the file", turns: fixtureScript("write-file").conversations[0]!.turns },
    { match: "snoop", turns: [{ content: [{ type: "tool_use", name: "Bash", input: { command: SNOOP, description: "Snoop" } }] }, { content: [{ type: "text", text: "Snooped." }] }] },
  ],
};
/** What the worker container needs for the task sandbox under podman (deploy/README.md, "The task sandbox"). */
const SANDBOX_FLAGS = ["--security-opt", "unmask=/proc/*"];

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function ok(what: string, r: CommandResult): CommandResult {
  if (r.code !== 0) throw new Error(`${what} failed (exit ${r.code}):\n${r.stderr.slice(-4000)}\n${r.stdout.slice(-2000)}`);
  return r;
}

async function waitHealthy(tool: ContainerTool, container: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await tool.healthy(container))) {
    if (Date.now() > deadline) {
      const logs = await tool.run(["logs", container]);
      throw new Error(`${container} did not become healthy:\n${logs.stdout}${logs.stderr}`);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

const found = findContainerTool();
const tool = typeof found === "string" ? undefined : found;

describeNeeding(typeof found === "string" ? found : "", `the images, run with ${tool?.name ?? "no container engine"}`, () => {
  const t = tool!;
  let model: ScriptedModel;
  let routerPort = 0;
  let workerPort = 0;

  function cc(args: string[]): Promise<CommandResult> {
    return runCommand(process.execPath, [CC, ...args], { CC_ROUTER_URL: `http://127.0.0.1:${routerPort}`, CC_TOKEN: TOKEN, NO_COLOR: "1" });
  }

  /** `run -d` with the flags both services use: host network, read-only root, non-root, writable tmpfs only. */
  function startContainer(name: string, image: string, env: Record<string, string>, tmpfs: string[], extra: string[] = []): Promise<CommandResult> {
    const args = ["run", "-d", "--name", name, "--network", "host", "--read-only", "--cap-drop", "ALL", "--security-opt", "no-new-privileges", ...extra];
    for (const path of ["/tmp", ...tmpfs]) args.push("--tmpfs", `${path}:rw,mode=1777`);
    for (const [key, value] of Object.entries(env)) args.push("-e", `${key}=${value}`);
    return t.run([...args, image]);
  }

  async function removeContainers(): Promise<void> {
    await t.run(["rm", "-f", "-t", "0", ROUTER, WORKER]);
  }

  beforeAll(async () => {
    ok("preparing the base image", await t.prepare());
    // Both builds share the base and the npm cache; one at a time keeps a 2-core machine responsive.
    ok("building Dockerfile.router", await t.build("Dockerfile.router", ROUTER_IMAGE));
    ok("building Dockerfile.worker", await t.build("Dockerfile.worker", WORKER_IMAGE));
    await removeContainers();
    model = await startModel(SCRIPT);
    routerPort = await freePort();
    workerPort = await freePort();
    ok(
      "starting the router",
      // Its SQLite task store is in /data (CC_DATA_DIR), the one path besides /tmp it writes (deploy/README.md).
      await startContainer(ROUTER, ROUTER_IMAGE, { PORT: String(routerPort), CC_HOST: "127.0.0.1", CC_TOKEN: TOKEN, CC_WORKER_TOKEN: WORKER_TOKEN, CC_SHUTDOWN_GRACE: `${SHUTDOWN_GRACE_S}s` }, ["/data"]),
    );
    ok(
      "starting the worker",
      await startContainer(
        WORKER,
        WORKER_IMAGE,
        {
          PORT: String(workerPort),
          CC_HOST: "127.0.0.1",
          CC_WORKER_ID: "container-1",
          CC_ROUTER_URL: `http://127.0.0.1:${routerPort}`,
          CC_WORKER_URL: `http://127.0.0.1:${workerPort}`,
          CC_WORKER_TOKEN: WORKER_TOKEN,
          CC_SHUTDOWN_GRACE: `${SHUTDOWN_GRACE_S}s`,
          CC_KILL_GRACE: "1s",
          // Sandboxed, or not started at all.
          CC_SANDBOX: "bwrap",
          ...modelEnv(model),
        },
        ["/home/node", "/workspace"],
        SANDBOX_FLAGS,
      ),
    );
    await waitHealthy(t, ROUTER);
    await waitHealthy(t, WORKER);
  }, 30 * 60_000);

  afterAll(async () => {
    if (!t) return;
    await removeContainers();
    await t.release();
    await model?.close();
  }, 120_000);

  it("claude --version works inside the worker image, which runs as node", async () => {
    const version = ok("claude --version", await t.run(["exec", WORKER, "claude", "--version"]));
    expect(version.stdout).toMatch(/^\d+\.\d+\.\d+ \(Claude Code\)/);
    // Every process in the container, tini and the worker included, belongs to node.
    const owners = ok("listing owners", await t.run(["exec", WORKER, "sh", "-c", "for p in /proc/[0-9]*; do stat -c %U $p; done | sort -u"]));
    expect(owners.stdout.trim()).toBe("node");
    // The root filesystem is read-only; only the mounted paths take writes.
    const write = await t.run(["exec", WORKER, "touch", "/app/written"]);
    expect(write.code).not.toBe(0);
    expect(write.stderr).toContain("Read-only file system");
  });

  it("the router image carries no claude and no build tools", async () => {
    for (const cmd of ["claude", "g++", "make", "python3"]) {
      expect((await t.run(["exec", ROUTER, "sh", "-c", `command -v ${cmd}`])).code, cmd).not.toBe(0);
    }
    const modules = ok("listing modules", await t.run(["exec", ROUTER, "ls", "/app/node_modules"]));
    expect(modules.stdout).not.toContain("node-pty");
    expect(modules.stdout).not.toContain("@anthropic-ai");
  });

  it("the router image serves the web UI at / (the bundle is in the image)", async () => {
    const page = await fetch(`http://127.0.0.1:${routerPort}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toBe("text/html; charset=utf-8");
    const script = /src="(\/assets\/app-[\w-]+\.js)"/.exec(await page.text())?.[1];
    expect(script).toBeDefined();
    const asset = await fetch(`http://127.0.0.1:${routerPort}${script}`);
    expect(asset.status).toBe(200);
    expect(asset.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
  });

  it("the worker registers with the router container", async () => {
    const deadline = Date.now() + 30_000;
    let workers = await cc(["workers"]);
    while (!workers.stdout.includes("container-1") && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 500));
      workers = await cc(["workers"]);
    }
    expect(workers.stdout).toContain("container-1");
    expect(workers.stdout).toMatch(/container-1\s+online\s+0\/4/);
  });

  it("cc run on the host completes a task whose Bash tool writes a file in the container's workspace", async () => {
    model.clearRequests();
    const run = await cc(["run", "--no-upload", "--allowed-tools", "Bash", "--output-format", "json", "make the file"]);
    expect(run.code, run.stderr).toBe(0);
    const result = JSON.parse(run.stdout) as { result: string; is_error: boolean };
    expect(result).toMatchObject({ result: "Done.", is_error: false });
    // The real claude in the container asked the scripted model on the host.
    expect(model.mainRequests().length).toBe(2);
    const files = ok("reading the workspace", await t.run(["exec", WORKER, "sh", "-c", "cat /workspace/.tasks/*/out.txt"]));
    expect(files.stdout).toBe("hi\n");
  });

  it("the worker sandboxes its tasks: a task sees no worker token and no other workspace", async () => {
    const info = await t.run(["logs", WORKER]);
    expect(info.stdout + info.stderr).toMatch(/"sandbox":"bwrap"/);
    model.clearRequests();
    const run = await cc(["run", "--allowed-tools", "Bash", "--output-format", "json", "snoop"]);
    expect(run.code, run.stderr).toBe(0);
    const [result] = toolResults(model, "snoop");
    // No process it can see carries the worker's token; it sees one task directory, its own; HOME holds only its own.
    expect(result?.trim().split("\n")).toEqual(["0", "1", ".claudecluster"]);
  });

  it("SIGTERM: the worker stops its running task within its grace period and exits 0", async () => {
    const started = await cc(["run", "-d", "--no-upload", "--allowed-tools", "Bash", "hang"]);
    expect(started.code, started.stderr).toBe(0);
    const taskId = started.stdout.trim();
    // Wait until claude runs its command, so there is something to stop.
    const deadline = Date.now() + 30_000;
    while ((await t.run(["exec", WORKER, "sh", "-c", "grep -l tail /proc/[0-9]*/cmdline"])).code !== 0) {
      if (Date.now() > deadline) throw new Error("the task never started its command");
      await new Promise((r) => setTimeout(r, 250));
    }
    ok("stopping the worker", await t.run(["stop", "-t", String(STOP_TIMEOUT_S), WORKER]));
    // Exit code 0 is the worker's own: had it outlived the stop timeout, the engine's SIGKILL would make it 137.
    const exit = ok("inspecting the worker", await t.run(["inspect", "--format", "{{.State.ExitCode}}", WORKER]));
    expect(exit.stdout.trim()).toBe("0");
    const logs = await t.run(["logs", WORKER]);
    expect(logs.stdout + logs.stderr).toContain(taskId);
    // The router recorded how the task ended.
    const task = await cc(["ps", "--all", "--json"]);
    const record = (JSON.parse(task.stdout) as { id: string; status: string }[]).find((x) => x.id === taskId);
    expect(record?.status).toMatch(/FAILED|CANCELLED/);
  });

  it("SIGTERM: the router exits 0 within its grace period", async () => {
    ok("stopping the router", await t.run(["stop", "-t", String(STOP_TIMEOUT_S), ROUTER]));
    // 0, not the 137 of the engine's SIGKILL at the stop timeout: the router drained and exited by itself.
    const exit = ok("inspecting the router", await t.run(["inspect", "--format", "{{.State.ExitCode}}", ROUTER]));
    expect(exit.stdout.trim()).toBe("0");
  });
});
