// The checkouts that are not plain: a shallow clone, submodules (and a nested repository), Git LFS pointers, a
// repository without commits (with files, and with none), and a directory outside git with .gitignore and .ccignore
// rules. Each is uploaded with cc's own code to a local cluster whose worker runs the real claude against the
// scripted model, and each has the behaviour the README's "Getting the work back" states.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ExitReason, type Exited } from "../../gen/claudecluster/v1/run_pb.js";
import { applyChanges } from "../../cli/lib/changes/apply.js";
import { prepareUpload, sendUpload } from "../../cli/lib/checkout/index.js";
import { connectRouter, type RouterClient } from "../../cli/lib/client.js";
import { startLocalCluster, type LocalCluster } from "../../services/cluster/local.js";
import { silentLogger } from "../../services/common/logger.js";
import type { Script, ScriptedModel } from "../../services/scripted-model/index.js";
import { Capture } from "../../cli/testing/fixtures.js";
import { checkout, gitUserEnv, type Checkout } from "../helpers/checkout.js";
import { modelEnv, startModel } from "../helpers/model.js";
import { waitForNoProcessesUnder } from "../helpers/processes.js";
import { collect, ofCase } from "../helpers/worker.js";

const SCRIPT: Script = {
  conversations: [{ turns: [{ content: [{ type: "tool_use", name: "Bash", input: { command: "printf 'from claude\\n' > CLAUDE.md", description: "Write a file" } }] }, { content: [{ type: "text", text: "Done." }] }] }],
};

const LFS_POINTER = "version https://git-lfs.github.com/spec/v1\noid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\nsize 12345\n";

describe("uploads of unusual checkouts", () => {
  let model: ScriptedModel;
  let cluster: LocalCluster;
  let client: RouterClient;
  let close: () => void;
  let root: string;
  let userEnv: Record<string, string>;

  beforeAll(async () => {
    root = realpathSync(mkdtempSync(join(tmpdir(), "cc-test-upload-edges-")));
    userEnv = gitUserEnv(join(root, "home"));
    model = await startModel(SCRIPT);
    cluster = await startLocalCluster({
      env: { ...modelEnv(model), CC_KILL_GRACE: "2s", CC_LOG_LEVEL: "silent" },
      claudeHome: join(root, "claude-home"),
      workspaceRoot: join(root, "workspaces"),
      logger: silentLogger(),
    });
    const connection = connectRouter(cluster.url, "");
    client = connection.client;
    close = connection.close;
  });

  afterAll(async () => {
    close?.();
    await cluster?.close();
    await model?.close();
    const left = root ? await waitForNoProcessesUnder(root) : [];
    if (root) rmSync(root, { recursive: true, force: true });
    expect(left).toEqual([]);
  });

  /** Uploads `dir` as `cc run --upload` would, runs the scripted task on it, and returns its workspace and end. */
  async function uploadAndRun(dir: string): Promise<{ taskId: string; workspace: string; exited: Exited; description: string }> {
    const prepared = await prepareUpload(dir);
    try {
      const res = await sendUpload(client, prepared.header, prepared.file);
      const events = await collect(client.run({ prompt: "write a file", agent: { allowedTools: ["Bash"] }, workspace: { source: { case: "upload", value: { uploadId: res.uploadId } } } }));
      const started = ofCase(events, "started")[0];
      const exited = ofCase(events, "exited")[0]!;
      if (!started) throw new Error(`the task did not start: ${exited.message}`);
      expect(exited.reason).toBe(ExitReason.COMPLETED);
      return { taskId: events[0]!.taskId, workspace: started.workspace, exited, description: prepared.description };
    } finally {
      await prepared.cleanup();
    }
  }

  const inWorkspace = (ws: string, ...args: string[]) => execFileSync("git", args, { cwd: ws, env: userEnv, encoding: "utf8" }).trim();

  async function applyHere(co: Checkout, taskId: string): Promise<{ code: number; stdout: string; stderr: string }> {
    const stdout = new Capture();
    const stderr = new Capture();
    const code = await applyChanges({ client, io: { stdout, stderr, env: {} } as never, taskId, cwd: co.dir });
    return { code, stdout: stdout.text, stderr: stderr.text };
  }

  function repoWithHistory(name: string): Checkout {
    const co = checkout(join(root, name), userEnv);
    co.git("init", "--quiet");
    for (const n of [1, 2, 3]) {
      co.write(`file${n}.txt`, `version ${n}\n`);
      co.git("add", ".");
      co.git("commit", "--quiet", "-m", `commit ${n}`);
    }
    return co;
  }

  it("a shallow clone: the workspace is shallow at the same commit, and its changes apply back", async () => {
    const source = repoWithHistory("history");
    const shallow = checkout(join(root, "shallow"), userEnv);
    execFileSync("git", ["clone", "--quiet", "--depth=1", `file://${source.dir}`, shallow.dir], { env: userEnv });
    shallow.write("file2.txt", "edited locally\n");
    const { taskId, workspace, exited } = await uploadAndRun(shallow.dir);
    expect(inWorkspace(workspace, "rev-parse", "--is-shallow-repository")).toBe("true");
    expect(inWorkspace(workspace, "log", "--format=%s")).toBe("cc: snapshot of the checkout as uploaded (uncommitted and untracked files)\ncommit 3");
    expect(readFileSync(join(workspace, "file2.txt"), "utf8")).toBe("edited locally\n");
    expect(exited.changes?.files.map((f) => f.path)).toEqual(["CLAUDE.md"]);
    const applied = await applyHere(shallow, taskId);
    expect(applied.code).toBe(0);
    expect(shallow.read("CLAUDE.md").toString()).toBe("from claude\n");
  });

  it("a full history is sent one commit deep, as a --repo clone is", async () => {
    const co = repoWithHistory("deep");
    const { workspace, description } = await uploadAndRun(co.dir);
    expect(description).toContain("history one commit deep");
    expect(inWorkspace(workspace, "log", "--format=%s")).toBe("commit 3");
    expect(inWorkspace(workspace, "rev-parse", "HEAD")).toBe(co.git("rev-parse", "HEAD"));
  });

  it("submodules travel as gitlinks with empty directories; a nested repository becomes one too", async () => {
    const lib = repoWithHistory("lib");
    const sup = checkout(join(root, "super"), userEnv);
    sup.git("init", "--quiet");
    sup.write("main.txt", "super\n");
    sup.git("add", ".");
    sup.git("commit", "--quiet", "-m", "super");
    sup.git("-c", "protocol.file.allow=always", "submodule", "--quiet", "add", lib.dir, "lib");
    sup.git("commit", "--quiet", "-m", "add lib");
    const nested = checkout(join(sup.dir, "vendor", "thing"), userEnv);
    nested.git("init", "--quiet");
    nested.write("x.txt", "nested\n");
    nested.git("add", ".");
    nested.git("commit", "--quiet", "-m", "nested");
    const { workspace, exited } = await uploadAndRun(sup.dir);
    expect(inWorkspace(workspace, "ls-files", "-s", "lib")).toBe(`160000 ${lib.git("rev-parse", "HEAD")} 0\tlib`);
    expect(readdirSync(join(workspace, "lib"))).toEqual([]);
    expect(readFileSync(join(workspace, ".gitmodules"), "utf8")).toContain("path = lib");
    expect(inWorkspace(workspace, "ls-files", "-s", "vendor/thing")).toBe(`160000 ${nested.git("rev-parse", "HEAD")} 0\tvendor/thing`);
    expect(existsSync(join(workspace, "vendor", "thing", "x.txt"))).toBe(false);
    expect(exited.changes?.files.map((f) => f.path)).toEqual(["CLAUDE.md"]);
  });

  it("Git LFS files travel as their pointer files", async () => {
    const co = checkout(join(root, "lfs"), userEnv);
    co.git("init", "--quiet");
    co.write(".gitattributes", "*.psd filter=lfs diff=lfs merge=lfs -text\n");
    co.write("art.psd", LFS_POINTER);
    co.git("add", ".");
    co.git("commit", "--quiet", "-m", "lfs");
    const { workspace, exited } = await uploadAndRun(co.dir);
    expect(readFileSync(join(workspace, "art.psd"), "utf8")).toBe(LFS_POINTER);
    expect(exited.changes?.files.map((f) => f.path)).toEqual(["CLAUDE.md"]);
  });

  it("a repository without commits: its files become the task's first commit, and the changes apply back", async () => {
    const co = checkout(join(root, "no-commits"), userEnv);
    co.git("init", "--quiet");
    co.write("draft.txt", "not committed yet\n");
    const { taskId, workspace, exited } = await uploadAndRun(co.dir);
    expect(inWorkspace(workspace, "rev-list", "--count", "HEAD")).toBe("1");
    expect(readFileSync(join(workspace, "draft.txt"), "utf8")).toBe("not committed yet\n");
    expect(exited.changes?.bundlePrerequisites).toEqual([]);
    expect(exited.changes?.files.map((f) => f.path)).toEqual(["CLAUDE.md"]);
    const applied = await applyHere(co, taskId);
    expect(applied.code).toBe(0);
    expect(co.read("CLAUDE.md").toString()).toBe("from claude\n");
    expect(co.git("rev-list", "--all")).toBe("");
  });

  it("an empty repository (no commits, no files) is one commit of the empty tree", async () => {
    const co = checkout(join(root, "empty"), userEnv);
    co.git("init", "--quiet");
    const { workspace, exited } = await uploadAndRun(co.dir);
    expect(inWorkspace(workspace, "ls-tree", "HEAD~0")).toBe("");
    expect(exited.changes?.files.map((f) => f.path)).toEqual(["CLAUDE.md"]);
  });

  it("a directory outside git goes as a tarball without what .gitignore and .ccignore leave out, and has no changes", async () => {
    const dir = realpathSync(mkdtempSync(join(tmpdir(), "cc-test-plain-dir-")));
    try {
      const co = checkout(dir, userEnv);
      co.write("keep.txt", "kept\n");
      co.write(".gitignore", "build/\n");
      co.write("build/out.o", "ignored\n");
      co.write(".ccignore", "secret.txt\n");
      co.write("secret.txt", "never sent\n");
      co.write("sub/.gitignore", "*.log\n");
      co.write("sub/x.log", "ignored too\n");
      co.write("sub/y.txt", "kept too\n");
      const { taskId, workspace, exited, description } = await uploadAndRun(dir);
      expect(description).toMatch(/\(5 files, .* tarball\)$/);
      expect(readFileSync(join(workspace, "keep.txt"), "utf8")).toBe("kept\n");
      expect(readFileSync(join(workspace, "sub", "y.txt"), "utf8")).toBe("kept too\n");
      for (const gone of ["build", "secret.txt", "sub/x.log", ".git"]) expect(existsSync(join(workspace, gone)), gone).toBe(false);
      expect(exited.changes).toBeUndefined();
      const err = await collect(client.getChanges({ taskId }) as never).catch((e: unknown) => e as ConnectError);
      expect((err as ConnectError).code).toBe(Code.FailedPrecondition);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
