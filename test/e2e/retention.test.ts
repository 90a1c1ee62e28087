// Workspace retention for real: a worker that keeps no ended workspace (CC_WORKSPACE_RETAIN_BYTES=0) reclaims a task's
// workspace as soon as it ends; `cc ls` and `cc cp` then say it was reclaimed, and `cc diff` still shows the task's
// changes, which the worker keeps apart.
import { existsSync, mkdtempSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startLocalCluster, type LocalCluster } from "../../services/cluster/local.js";
import { silentLogger } from "../../services/common/logger.js";
import type { ScriptedModel } from "../../services/scripted-model/index.js";
import { startGitHttpsServer, type GitHttpsServer } from "../fixtures/git-https/server.js";
import { cc, gitUserEnv } from "../helpers/checkout.js";
import { modelEnv, startModel } from "../helpers/model.js";
import { waitForNoProcessesUnder } from "../helpers/processes.js";
import { until } from "../helpers/wait.js";

describe("workspace retention", () => {
  let model: ScriptedModel;
  let git: GitHttpsServer;
  let cluster: LocalCluster;
  let root: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    root = realpathSync(mkdtempSync(join(tmpdir(), "cc-test-retention-")));
    model = await startModel({
      conversations: [{ turns: [{ content: [{ type: "tool_use", name: "Bash", input: { command: "printf 'kept apart\\n' > NOTE.md", description: "Write" } }] }, { content: [{ type: "text", text: "Done." }] }] }],
    });
    git = await startGitHttpsServer();
    cluster = await startLocalCluster({
      env: { ...modelEnv(model), CC_KILL_GRACE: "2s", CC_LOG_LEVEL: "silent", GIT_SSL_CAINFO: git.caFile, CC_WORKSPACE_RETAIN_BYTES: "0" },
      claudeHome: join(root, "claude-home"),
      workspaceRoot: join(root, "workspaces"),
      logger: silentLogger(),
    });
    env = { ...gitUserEnv(join(root, "home")), CC_ROUTER_URL: cluster.url };
  });

  afterAll(async () => {
    await cluster?.close();
    await model?.close();
    await git?.close();
    const left = root ? await waitForNoProcessesUnder(root) : [];
    if (root) rmSync(root, { recursive: true, force: true });
    expect(left).toEqual([]);
  });

  it("reclaims an ended task's workspace past CC_WORKSPACE_RETAIN_BYTES; cc ls and cc cp say so, cc diff still works", async () => {
    const run = await cc(["run", "--repo", `${git.url}/public.git`, "--allowed-tools", "Bash", "write a note"], { cwd: root, env });
    expect(run.code, run.stderr).toBe(0);
    const taskId = /task ([0-9a-z]{26})/.exec(run.stderr)![1]!;
    const workspace = join(root, "workspaces", ".tasks", taskId);
    await until(() => !existsSync(workspace));
    const reclaimed = `the workspace of task ${taskId} was reclaimed to stay within CC_WORKSPACE_RETAIN_BYTES (0 bytes), oldest first; its recorded changes are kept apart (cc diff ${taskId}), its other files are gone`;
    const ls = await cc(["ls", taskId], { cwd: root, env });
    expect(ls).toMatchObject({ code: 4, stderr: `cc: the router refused: ${reclaimed}\n` });
    const cp = await cc(["cp", `${taskId}:NOTE.md`, join(root, "note")], { cwd: root, env });
    expect(cp).toMatchObject({ code: 4, stderr: `cc: the router refused: ${reclaimed}\n` });
    const diff = await cc(["diff", taskId], { cwd: root, env });
    expect(diff.code).toBe(0);
    expect(diff.stdout).toContain("+kept apart\n");
    const info = (await cluster.workers[0]!.runner.info()).retention!;
    expect(info).toMatchObject({ workspaces: 0, workspacesReclaimed: 1n, changes: 1 });
  });
});
