// A client in another language from the same .proto files: clients/python/generate.sh (protoc and
// grpc_python_plugin) into a temporary directory, then clients/python/cc_run.py (grpcio) streaming RouterService.Run
// from a local cluster whose worker runs the real claude against the scripted model.
// Needs Debian's protobuf-compiler, protobuf-compiler-grpc, python3-grpcio and python3-protobuf (npm test installs
// them, scripts/system-packages.txt); without them the suite is skipped saying which to install, and fails in CI.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { RouterService } from "../../gen/claudecluster/v1/router_pb.js";
import { startLocalCluster, type LocalCluster } from "../../services/cluster/local.js";
import { startGitHttpsServer, type GitHttpsServer } from "../fixtures/git-https/server.js";
import { collect } from "../helpers/worker.js";
import { silentLogger } from "../../services/common/logger.js";
import type { Script, ScriptedModel } from "../../services/scripted-model/index.js";
import { modelEnv, startModel } from "../helpers/model.js";
import { describeNeeding } from "../helpers/needs.js";
import { waitForNoProcessesUnder } from "../helpers/processes.js";
import { until } from "../helpers/wait.js";

const PYTHON = "/usr/bin/python3";
const CLIENT_DIR = fileURLToPath(new URL("../../clients/python", import.meta.url));
const TOKEN = "python-client-test-token";

const SCRIPT: Script = {
  conversations: [
    {
      match: "use a tool",
      turns: [
        { content: [{ type: "text", text: "Let me look." }, { type: "tool_use", name: "Bash", input: { command: "echo from-python > out.txt", description: "Write out.txt" } }] },
        { content: [{ type: "text", text: "Wrote out.txt." }] },
      ],
    },
    // "hang on", not "hang": the prompt "write a change" contains that.
    { match: "hang on", turns: [{ content: [{ type: "tool_use", name: "Bash", input: { command: "tail -f /dev/null", description: "Wait" } }] }] },
    {
      match: "write a change",
      turns: [
        { content: [{ type: "tool_use", name: "Bash", input: { command: "printf 'from the python test\\n' > PY.md && rm README.md", description: "Change files" } }] },
        { content: [{ type: "text", text: "Changed." }] },
      ],
    },
    { match: "fail", turns: [{ content: [], error: { status: 400, type: "invalid_request_error", message: "scripted failure", retry: false } }] },
    { turns: [{ content: [{ type: "text", text: "Python asked: {{prompt}}" }] }] },
  ],
};

/** Why the suite cannot run here, or "" when it can. */
function missingTools(): string {
  const missing: string[] = [];
  const has = (cmd: string) => spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;
  if (!has("protoc")) missing.push("protobuf-compiler (protoc)");
  if (!has("grpc_python_plugin")) missing.push("protobuf-compiler-grpc (grpc_python_plugin)");
  const py = spawnSync(PYTHON, ["-c", "import grpc, google.protobuf"]);
  if (py.error || py.status !== 0) missing.push(`python3-grpcio and python3-protobuf (${PYTHON} cannot import grpc and google.protobuf)`);
  return missing.length === 0 ? "" : `missing ${missing.join(", ")}: apt-get install ${["protobuf-compiler", "protobuf-compiler-grpc", "python3-grpcio", "python3-protobuf"].join(" ")}`;
}

const missing = missingTools();

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], env: Record<string, string>): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString("utf8")));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString("utf8")));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

describeNeeding(missing, "Python client generated from the .proto files", () => {
  let model: ScriptedModel;
  let cluster: LocalCluster;
  let root: string;
  let target: string;
  let env: Record<string, string>;
  let git: GitHttpsServer;

  const ccRun = (args: string[]) => run(PYTHON, [join(CLIENT_DIR, "cc_run.py"), ...args], env);
  const ccDiff = (args: string[]) => run(PYTHON, [join(CLIENT_DIR, "cc_diff.py"), ...args], env);

  beforeAll(async () => {
    root = realpathSync(mkdtempSync(join(tmpdir(), "cc-test-python-")));
    const gen = join(root, "gen");
    env = { PATH: process.env["PATH"] ?? "/usr/bin:/bin", PYTHONPATH: gen, PYTHONDONTWRITEBYTECODE: "1" };
    const generated = await run("bash", [join(CLIENT_DIR, "generate.sh"), gen], env);
    if (generated.code !== 0) throw new Error(`generate.sh exited ${generated.code}: ${generated.stderr}`);

    model = await startModel(SCRIPT);
    git = await startGitHttpsServer();
    cluster = await startLocalCluster({
      env: { ...modelEnv(model), CC_TOKEN: TOKEN, CC_KILL_GRACE: "2s", CC_LOG_LEVEL: "silent", GIT_SSL_CAINFO: git.caFile },
      claudeHome: join(root, "home"),
      workspaceRoot: join(root, "workspaces"),
      // One slot, so that a second task queues.
      maxSessionsPerWorker: 1,
      logger: silentLogger(),
    });
    target = cluster.url.replace("http://", "");
  });

  afterAll(async () => {
    await cluster?.close();
    await model?.close();
    await git?.close();
    const left = root ? await waitForNoProcessesUnder(root) : [];
    if (root) rmSync(root, { recursive: true, force: true });
    expect(left).toEqual([]);
  });

  it("streams a Run through the router: the answer on stdout, exit code 0", async () => {
    const r = await ccRun(["--target", target, "--token", TOKEN, "hello from python"]);
    expect(r.stderr).toMatch(/^\[started task [0-9a-z]{26} on local-1, claude [\d.]+/m);
    expect(r.stdout).toBe("Python asked: hello from python\n");
    expect(r.stderr).toMatch(/^\[result: success, 1 turn\(s\), \$[\d.]+, session [0-9a-f-]{36}\]$/m);
    expect(r.stderr).toMatch(/^\[exited 0 \(completed\)\]$/m);
    expect(r.code).toBe(0);
    expect(model.mainRequests().some((req) => JSON.stringify(req.body).includes("hello from python"))).toBe(true);
  });

  it("prints tool calls as they arrive (http:// target, allowed tools)", async () => {
    const r = await ccRun(["--target", cluster.url, "--token", TOKEN, "--allowed-tools", "Bash", "use a tool please"]);
    expect(r.stdout).toBe('Let me look.\n-> Bash {"command":"echo from-python > out.txt","description":"Write out.txt"}\nWrote out.txt.\n');
    expect(r.code).toBe(0);
  });

  it("exits with claude's own exit code when the agent fails", async () => {
    const r = await ccRun(["--target", target, "--token", TOKEN, "fail now"]);
    expect(r.stderr).toMatch(/^\[exited 1 \(completed\)\]$/m);
    expect(r.code).toBe(1);
  });

  it("tasks the router ends (cancelled while queued, and while claude runs) end their streams with exited", async () => {
    const tasks = async (prompt: string) => (await cluster.router.tasks.list({ limit: 100 })).tasks.filter((t) => t.promptSummary === prompt);
    // The worker's one slot is taken by a task that waits for ever; the next one queues.
    const running = ccRun(["--target", target, "--token", TOKEN, "--allowed-tools", "Bash", "hang on"]);
    await until(async () => (await tasks("hang on")).some((t) => t.startedAt !== undefined) && model.mainRequests().some((r) => JSON.stringify(r.body).includes("hang on")));
    const queued = ccRun(["--target", target, "--token", TOKEN, "wait your turn"]);
    await until(async () => (await tasks("wait your turn")).some((t) => t.lastSeq > 0n));
    await cluster.router.dispatcher.cancel(cluster.router.tasks.get((await tasks("wait your turn"))[0]!.id), "not now");
    const q = await queued;
    expect(q.stderr).toMatch(/^\[queued, position 1: .*\]\n\[exited -1 \(cancelled\): cancelled: not now\]\n$/);
    expect(q.code).toBe(1);
    await cluster.router.dispatcher.cancel(cluster.router.tasks.get((await tasks("hang on"))[0]!.id), "from the test");
    const r = await running;
    // claude's own exit code after SIGTERM (143).
    expect(r.stderr).toMatch(/^\[exited -?\d+ \(cancelled\): cancelled: from the test\]$/m);
    expect(r.stderr).not.toContain("the stream ended without an exited event");
    expect(r.code).not.toBe(0);
  });

  it("cc_diff.py prints a task's patch byte for byte, --stat and --name-only its summary", async () => {
    const client = createClient(RouterService, createGrpcTransport({ baseUrl: cluster.url, interceptors: [(next) => (req) => (req.header.set("authorization", `Bearer ${TOKEN}`), next(req))] }));
    const events = await collect(client.run({ prompt: "write a change", agent: { allowedTools: ["Bash"] }, workspace: { source: { case: "repository", value: { url: `${git.url}/public.git` } } } }));
    const taskId = events[0]!.taskId;
    const patch = await ccDiff(["--target", target, "--token", TOKEN, taskId]);
    expect(patch.code, patch.stderr).toBe(0);
    const chunks: Uint8Array[] = [];
    for await (const c of client.getChanges({ taskId })) if (c.part.case === "data") chunks.push(c.part.value);
    expect(patch.stdout).toBe(Buffer.concat(chunks).toString("utf8"));
    expect(patch.stdout).toContain("+from the python test\n");
    expect(patch.stdout).toContain("deleted file mode 100644");
    const names = await ccDiff(["--target", target, "--token", TOKEN, "--name-only", taskId]);
    expect(names).toMatchObject({ code: 0, stdout: "PY.md\nREADME.md\n" });
    const stat = await ccDiff(["--target", target, "--token", TOKEN, "--stat", taskId]);
    expect(stat.stdout).toBe(" PY.md | 1 (+1 -0)\n README.md | 3 (+0 -3)\n 2 files changed, 1 insertions(+), 3 deletions(-)\n");
    const unknown = await ccDiff(["--target", target, "--token", TOKEN, "01j0000000zzzzzzzzzzzzzzzz"]);
    expect(unknown).toMatchObject({ code: 1, stdout: "" });
    expect(unknown.stderr).toMatch(/^cc_diff: NOT_FOUND: task 01j0000000zzzzzzzzzzzzzzzz not found/);
  });

  it("a wrong token is one line with the gRPC code and exit code 1", async () => {
    const r = await ccRun(["--target", target, "--token", "not-the-token", "hello"]);
    expect(r).toMatchObject({ code: 1, stdout: "", stderr: "cc_run: UNAUTHENTICATED: wrong router token (CC_TOKEN): check the token you were given for this cluster\n" });
  });

  it("no token at all is UNAUTHENTICATED too", async () => {
    const r = await ccRun(["--target", target, "hello"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^cc_run: UNAUTHENTICATED: missing router token/);
  });

  it("an unreachable router is UNAVAILABLE and exit code 1", async () => {
    const r = await ccRun(["--target", "127.0.0.1:1", "--token", TOKEN, "hello"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^cc_run: UNAVAILABLE: .+\n$/);
  });
});
