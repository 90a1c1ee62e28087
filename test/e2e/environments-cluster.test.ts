// Environments across a cluster: `cc env ls|show|rm` through the router (the real cc binary, a router and two
// workers running the real claude against the scripted model), and cache-aware placement: once a worker holds a
// repository's snapshot, the router sends that repository's tasks there.
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startLocalCluster, type LocalCluster } from "../../services/cluster/local.js";
import { silentLogger } from "../../services/common/logger.js";
import type { ScriptedModel } from "../../services/scripted-model/index.js";
import { startGitHttpsServer, type GitHttpsServer } from "../fixtures/git-https/server.js";
import { fixtureScript, modelEnv, startModel } from "../helpers/model.js";
import { waitForNoProcessesUnder } from "../helpers/processes.js";
import { until } from "../helpers/wait.js";

const MAIN = new URL("../../dist/cc/main.js", import.meta.url).pathname;

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}
type Json = Record<string, unknown>;

let server: GitHttpsServer;
let model: ScriptedModel;
let cluster: LocalCluster;
let root: string;
let url: string;

function cc(args: string[]): Promise<Result> {
  return new Promise((resolve, reject) => {
    const env = { PATH: process.env["PATH"] ?? "/usr/bin:/bin", HOME: join(root, "user-home"), XDG_CONFIG_HOME: join(root, "config"), CC_ROUTER_URL: cluster.url, NO_COLOR: "1" };
    // Not in a git checkout, so nothing is uploaded.
    const child = spawn(process.execPath, [MAIN, ...args], { cwd: root, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString("utf8")));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString("utf8")));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

beforeAll(async () => {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run \`npm run build\` first`);
  root = realpathSync(mkdtempSync(join(tmpdir(), "cc-env-cluster-")));
  server = await startGitHttpsServer();
  // A repository of the test's own: an environment whose setup writes a marker.
  const work = join(root, "repo");
  const bare = join(dirname(server.repoDir("public.git")), "envc.git");
  const git = (...args: string[]) =>
    execFileSync("git", args, { cwd: work, env: { PATH: process.env["PATH"], HOME: work, GIT_CONFIG_NOSYSTEM: "1", GIT_AUTHOR_NAME: "T", GIT_AUTHOR_EMAIL: "t@example.com", GIT_COMMITTER_NAME: "T", GIT_COMMITTER_EMAIL: "t@example.com" } });
  mkdirSync(join(work, ".claudecluster"), { recursive: true });
  execFileSync("git", ["init", "--quiet", "--bare", "--initial-branch=main", bare]);
  git("init", "--quiet", "--initial-branch=main");
  writeFileSync(join(work, ".claudecluster", "environment.yaml"), "setup: |\n  echo preparing\n  echo ready > .ready\n");
  git("add", "-A");
  git("commit", "--quiet", "-m", "environment");
  git("push", "--quiet", bare, "main:main");
  url = `${server.url}/envc.git`;
  model = await startModel({
    conversations: [
      // A task that keeps its worker busy until cancelled.
      { match: "hang", turns: [{ content: [{ type: "text", text: "Waiting." }, { type: "tool_use", name: "Bash", input: { command: "tail -f /dev/null", description: "Wait" } }] }] },
      { turns: fixtureScript("hello").conversations[0]!.turns },
    ],
  });
  cluster = await startLocalCluster({
    workers: 2,
    env: { ...modelEnv(model), GIT_SSL_CAINFO: server.caFile, CC_SANDBOX: "off", SHELL: "/bin/bash", CC_KILL_GRACE: "2s", CC_LOG_LEVEL: "silent" },
    claudeHome: join(root, "home"),
    workspaceRoot: join(root, "workspaces"),
    maxSessionsPerWorker: 3,
    logger: silentLogger(),
  });
});

afterAll(async () => {
  await cluster?.close();
  await model?.close();
  await server?.close();
  const left = root ? await waitForNoProcessesUnder(root) : [];
  if (root) rmSync(root, { recursive: true, force: true });
  expect(left).toEqual([]);
});

describe("environments through the router", () => {
  let holder = "";
  let key = "";

  /** Runs one task on the repository with cc; the worker that ran it. */
  async function runOnRepo(): Promise<{ worker: string }> {
    const r = await cc(["run", "--repo", url, "say hello"]);
    expect(r.code, r.stderr).toBe(0);
    const tasks = (JSON.parse((await cc(["ps", "--all", "--json"])).stdout) as Json[]).filter((t) => !String(t["promptSummary"]).includes("hang"));
    const newest = tasks.reduce((a, b) => (String(a["createdAt"]) > String(b["createdAt"]) ? a : b));
    return { worker: String(newest["workerId"]) };
  }

  it("the first task sets up on one worker; cc env ls lists its snapshot there with size and age", async () => {
    const first = await runOnRepo();
    holder = first.worker;
    expect(["local-1", "local-2"]).toContain(holder);
    const ls = JSON.parse((await cc(["env", "ls", "--json"])).stdout) as Json[];
    expect(ls).toHaveLength(1);
    expect(ls[0]).toMatchObject({ repository: url, workerId: holder });
    expect(Number(ls[0]!["sizeBytes"])).toBeGreaterThan(0);
    key = String(ls[0]!["key"]);
    const table = await cc(["env", "ls"]);
    expect(table.stdout.split("\n")[0]).toMatch(/^KEY\s+WORKER\s+SIZE\s+AGE\s+USED\s+USES\s+REPOSITORY$/);
    expect(table.stdout).toContain(key.slice(0, 12));
    expect(table.stdout).toContain(url);
  });

  it("the router places the repository's next tasks on the worker holding its snapshot", async () => {
    // The router hears of the snapshot with the worker's next report.
    await until(async () => {
      const workers = JSON.parse((await cc(["workers", "--json"])).stdout) as { id: string; info?: { environmentRepositories?: string[] } }[];
      return workers.find((w) => w.id === holder)?.info?.environmentRepositories?.includes(url) ?? false;
    }, 20_000);
    // The holder is busier than the other worker (a task that waits until cancelled), so placement by load alone
    // would pick the other one.
    const busy = await cc(["run", "-d", "--worker", holder, "--allowed-tools", "Bash", "hang here"]);
    expect(busy.code, busy.stderr).toBe(0);
    const busyId = busy.stdout.trim();
    try {
      for (let i = 0; i < 2; i++) expect((await runOnRepo()).worker).toBe(holder);
    } finally {
      await cc(["cancel", busyId]);
    }
    const ls = JSON.parse((await cc(["env", "ls", "--json"])).stdout) as Json[];
    expect(ls).toEqual([expect.objectContaining({ key, uses: 2 })]);
  });

  it("cc env show prints the snapshot; cc env rm removes it; another rm says there is none", async () => {
    const show = await cc(["env", "show", key.slice(0, 12)]);
    expect(show.code).toBe(0);
    expect(show.stdout).toContain(`key:        ${key}\n`);
    expect(show.stdout).toContain(`worker:     ${holder}\n`);
    expect(show.stdout).toMatch(/uses:\s+2\n/);
    const rm = await cc(["env", "rm", key.slice(0, 12)]);
    expect(rm.code, rm.stderr).toBe(0);
    expect(rm.stdout).toMatch(new RegExp(`^removed ${key.slice(0, 12)} \\(.+, ${url.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\) from worker ${holder}\\n$`));
    expect(JSON.parse((await cc(["env", "ls", "--json"])).stdout)).toEqual([]);
    const again = await cc(["env", "rm", key.slice(0, 12)]);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toContain(`environment snapshot ${key.slice(0, 12)}`);
    const short = await cc(["env", "rm", "abc"]);
    expect(short.stderr).toContain("at least 6 of its first hex digits");
  });
});
