// Sessions continue anywhere, end to end: the built CLI (dist/cc/main.js) against a router and two workers with
// HOMEs and workspace roots of their own, running the real claude against the scripted model. `cc continue` on the
// other worker answers with the first turn in its context (the scripted model plays turn 2 only when the first
// prompt opens the conversation it receives), and bad input exits 4 with the router's message. Run `npm run build`
// first.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WorkerHealth } from "../gen/claudecluster/v1/router_pb.js";
import { silentLogger } from "../services/common/logger.js";
import { createRouter, type Router } from "../services/router/server.js";
import { readRouterSettings } from "../services/router/settings.js";
import type { Script, ScriptedModel } from "../services/scripted-model/index.js";
import { projectDirName } from "../services/worker/task-home/index.js";
import { startGitHttpsServer, type GitHttpsServer } from "../test/fixtures/git-https/server.js";
import { modelEnv, startModel } from "../test/helpers/model.js";
import { until } from "../test/helpers/wait.js";
import { startTestWorker, type TestWorker } from "../test/helpers/worker.js";

const MAIN = new URL("../dist/cc/main.js", import.meta.url).pathname;
const NODE = process.execPath;

const SCRIPT: Script = {
  conversations: [
    { match: "hang", turns: [{ content: [{ type: "tool_use", name: "Bash", input: { command: "tail -f /dev/null", description: "Wait" } }] }] },
    {
      match: "carry the file",
      turns: [
        { content: [{ type: "tool_use", name: "Bash", input: { command: "printf 'carried over\\n' > CARRIED.md", description: "Write it" } }] },
        { content: [{ type: "text", text: "Wrote it." }] },
        { content: [{ type: "text", text: "Continued: {{prompt}}" }] },
      ],
    },
    { match: "remember", turns: [{ content: [{ type: "text", text: "First answer: noted." }] }, { content: [{ type: "text", text: "Second answer: {{prompt}}" }] }] },
    // Anything else: what a prompt gets that does not follow the first turn.
    { turns: [{ content: [{ type: "text", text: "A fresh conversation: {{prompt}}" }] }] },
  ],
};

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

describe("cc continue: a session continues on another worker", () => {
  let model: ScriptedModel;
  let root: string;
  const routers: Router[] = [];
  const workers: TestWorker[] = [];
  let url: string;
  let baseEnv: Record<string, string>;
  let git: GitHttpsServer | undefined;

  function cc(args: string[], env: Record<string, string> = {}): Promise<Result> {
    return new Promise((resolve, reject) => {
      const child = spawn(NODE, [MAIN, ...args], { env: { ...baseEnv, ...env }, cwd: root, stdio: ["pipe", "pipe", "pipe"] });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d: Buffer) => (stdout += d.toString("utf8")));
      child.stderr.on("data", (d: Buffer) => (stderr += d.toString("utf8")));
      child.on("error", reject);
      child.on("close", (code) => resolve({ code, stdout, stderr }));
      child.stdin.end("");
    });
  }
  const taskOf = (r: Result) => /task ([0-9a-z]{26})/.exec(r.stderr)?.[1] ?? "";
  const show = async (id: string, env: Record<string, string> = {}) => JSON.parse((await cc(["show", "--json", id], env)).stdout) as { exit?: { result?: { sessionId?: string } }; workerId?: string };

  /** A router on port 0 and workers registered with it, each with its own HOME and workspace root. */
  async function cluster(ids: string[], env: Record<string, string> = {}, workerEnv: Record<string, string> = {}): Promise<{ url: string; workers: TestWorker[] }> {
    const router = createRouter(readRouterSettings({ PORT: "0", CC_HOST: "127.0.0.1", CC_HEARTBEAT_INTERVAL: "1s", CC_WEB: "off", CC_STORE: "memory", ...env }), { logger: silentLogger() });
    routers.push(router);
    const routerUrl = `http://127.0.0.1:${await router.listen()}`;
    const started: TestWorker[] = [];
    for (const id of ids) started.push(await startTestWorker({ ...modelEnv(model), CC_WORKER_ID: id, CC_ROUTER_URL: routerUrl, ...workerEnv }));
    workers.push(...started);
    await until(() => ids.every((id) => router.registry.list().some((w) => w.id === id && router.registry.health(w) === WorkerHealth.ONLINE)));
    return { url: routerUrl, workers: started };
  }

  beforeAll(async () => {
    if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run \`npm run build\` first`);
    root = realpathSync(mkdtempSync(join(tmpdir(), "cc-test-continue-")));
    model = await startModel(SCRIPT);
    url = (await cluster(["w1", "w2"])).url;
    baseEnv = {
      PATH: process.env["PATH"] ?? "/usr/bin:/bin",
      HOME: join(root, "user-home"),
      XDG_CONFIG_HOME: join(root, "config"),
      XDG_STATE_HOME: join(root, "state"),
      CC_ROUTER_URL: url,
      NO_COLOR: "1",
    };
  });

  afterAll(async () => {
    for (const w of workers) await w.close();
    for (const r of routers) await r.shutdown(0);
    await model?.close();
    await git?.close();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it("continues a task's session on a different worker, which gets the first turn in its context", async () => {
    const first = await cc(["run", "--worker", "w1", "--cwd", "proj", "remember the word tangerine"]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toBe("First answer: noted.\n");
    const firstId = taskOf(first);
    const session = (await show(firstId)).exit?.result?.sessionId ?? "";
    expect(session).toMatch(/^[0-9a-f-]{36}$/);

    model.clearRequests();
    const second = await cc(["continue", "--worker", "w2", firstId, "which word?"]);
    expect(second.code, second.stderr).toBe(0);
    // Turn 2 of the "remember" conversation: the request opened with the first prompt, so the session was resumed.
    expect(second.stdout).toBe("Second answer: which word?\n");
    expect(second.stderr).toContain("worker w2");
    const body = JSON.stringify(model.mainRequests()[0]!.body);
    expect(body).toContain("remember the word tangerine");
    expect(body).toContain("First answer: noted.");
    expect(body).toContain("which word?");
    const secondId = taskOf(second);
    const record = (await cc(["show", "--json", secondId])).stdout;
    expect(JSON.parse(record)).toMatchObject({ workerId: "w2", workspace: { directory: "proj" }, agent: { resumeSessionId: session }, exit: { result: { sessionId: session } } });
    // The transcript went under w2's own project directory for the workspace (its path differs from w1's), and w2
    // keeps it now; w1 never saw the second turn.
    const w2 = workers.find((w) => w.worker.runner.info().workerId === "w2")!;
    expect(existsSync(join(w2.root, "home", ".claude", "projects", projectDirName(join(w2.workspaces, "proj")), `${session}.jsonl`))).toBe(true);
    expect(projectDirName(join(w2.workspaces, "proj"))).not.toBe(projectDirName(join(workers[0]!.workspaces, "proj")));

    // And again from the continued task, back on w1: the session's latest transcript (both turns) goes along.
    model.clearRequests();
    const third = await cc(["continue", "--worker", "w1", secondId, "and the first word?"]);
    expect(third.code, third.stderr).toBe(0);
    const thirdBody = JSON.stringify(model.mainRequests()[0]!.body);
    expect(thirdBody).toContain("Second answer: which word?");
  });

  it("bad input: an unknown task, a running one, one that never started claude — exit 4 and the router's message", async () => {
    const unknown = await cc(["continue", "nosuchtask", "x"]);
    expect(unknown).toMatchObject({ code: 4, stdout: "", stderr: `cc: no task "nosuchtask" on the router at ${url} — list tasks with \`cc ps --all\`\n` });

    const running = (await cc(["run", "-d", "--allowed-tools", "Bash", "hang here"])).stdout.trim();
    expect(running).toMatch(/^[0-9a-z]{26}$/);
    const busy = await cc(["continue", running, "x"]);
    expect(busy).toMatchObject({ code: 4, stdout: "", stderr: `cc: the router refused: task ${running} is still running; continue it once it has ended (\`cc wait ${running}\`), or cancel it first (\`cc cancel ${running}\`)\n` });
    expect((await cc(["cancel", running])).code).toBe(0);

    // A clone that fails: the task ends before claude starts, with no session.
    const failed = await cc(["run", "--repo", "https://127.0.0.1:1/nothing.git", "x"]);
    expect(failed.code).toBe(1);
    const never = taskOf(failed);
    const none = await cc(["continue", never, "x"]);
    expect(none).toMatchObject({ code: 4, stdout: "", stderr: `cc: the router refused: task ${never} has no claude session to continue: it failed before claude started one; start a new task with \`cc run\`\n` });

    const noTask = await cc(["continue"]);
    expect(noTask.code).toBe(2);
  });

  it("a transcript over the router's bound: continuing elsewhere is refused with RESOURCE_EXHAUSTED, exit 4", async () => {
    const small = await cluster(["w3"], { CC_MAX_TRANSCRIPT_BYTES: "1024" });
    const first = await cc(["run", "remember this"], { CC_ROUTER_URL: small.url });
    expect(first.code, first.stderr).toBe(0);
    const id = taskOf(first);
    const refused = await cc(["continue", id, "more"], { CC_ROUTER_URL: small.url });
    expect(refused.code).toBe(4);
    const session = (await show(id, { CC_ROUTER_URL: small.url })).exit?.result?.sessionId ?? "";
    expect(refused.stderr).toBe(
      `cc: the router refused: task ${id}'s session ${session} can continue only on worker w3, which has its transcript: the router did not keep it, as it is larger than the router keeps (CC_MAX_TRANSCRIPT_BYTES, 1024 bytes); add --worker w3\n`,
    );
    // Where the transcript is, it continues.
    const there = await cc(["continue", "--worker", "w3", id, "more"], { CC_ROUTER_URL: small.url });
    expect(there.code, there.stderr).toBe(0);
    expect(there.stdout).toBe("Second answer: more\n");
  });

  it("a --repo task's recorded changes go with its session to the other worker", async () => {
    git = await startGitHttpsServer();
    const repo = await cluster(["w4", "w5"], {}, { GIT_SSL_CAINFO: git.caFile });
    const env = { CC_ROUTER_URL: repo.url };
    const first = await cc(["run", "--worker", "w4", "--repo", `${git.url}/public.git`, "--allowed-tools", "Bash", "carry the file"], env);
    expect(first.code, first.stderr).toBe(0);
    const id = taskOf(first);
    const second = await cc(["continue", "--worker", "w5", id, "is it there?"], env);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toBe("Continued: is it there?\n");
    const next = taskOf(second);
    // w5 got the first task's commits (its uncommitted file included) as an upload, on top of the same repository.
    expect(JSON.parse((await cc(["show", "--json", next], env)).stdout)).toMatchObject({ workerId: "w5" });
    const files = await cc(["ls", next], env);
    expect(files.code, files.stderr).toBe(0);
    expect(files.stdout).toMatch(/^CARRIED\.md$/m);
    expect(files.stdout).toMatch(/^README\.md$/m);
  });
});
