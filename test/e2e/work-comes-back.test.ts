// The work comes back, end to end: a router and a worker as processes of their own, the real claude against the
// scripted model, and `cc` as a process in a real git checkout. The checkout (a commit, a staged, an unstaged and an
// untracked change, a binary file, an ignored file) is uploaded; claude edits, creates, deletes and writes a binary;
// `cc diff` shows exactly that; `cc apply` in a second checkout of the same state makes its tree byte-identical to
// the worker's final tree; the ignored file never left the machine. Then conflicts, `--branch`, `--apply`, `--push`
// to the local HTTPS git server (whole clones and incremental uploads), and `cc cp` / `cc ls`.
import { execFile, execFileSync } from "node:child_process";
import { promisify } from "node:util";
import { cpSync, existsSync, mkdtempSync, readFileSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RouterService, type Task, TaskStatus, WorkerHealth } from "../../gen/claudecluster/v1/router_pb.js";
import { ExitReason } from "../../gen/claudecluster/v1/run_pb.js";
import type { Script, ScriptedModel } from "../../services/scripted-model/index.js";
import { startGitHttpsServer, type GitHttpsServer } from "../fixtures/git-https/server.js";
import { cc, checkout, gitUserEnv, treeFiles, type Checkout } from "../helpers/checkout.js";
import { modelEnv, startModel } from "../helpers/model.js";
import { waitForNoProcessesUnder } from "../helpers/processes.js";
import { spawnRouterProcess, type RouterProcess } from "../helpers/router-process.js";
import { until } from "../helpers/wait.js";
import { collect, ofCase } from "../helpers/worker.js";
import { spawnWorkerProcess, type WorkerProcess } from "../helpers/worker-process.js";

const execFileAsync = promisify(execFile);
const bash = (command: string) => ({ content: [{ type: "tool_use" as const, name: "Bash", input: { command, description: "Work on the files" } }] });
const done = { content: [{ type: "text" as const, text: "Done." }] };
const IGNORED_MARKER = "IGNORED-SECRET-7f3a9c-never-leaves";

const SCRIPT: Script = {
  conversations: [
    { match: "edit the checkout", turns: [bash("printf 'edited by claude\\n' >> tracked.txt && printf 'brand new\\n' > created.txt && rm doomed.txt && printf '\\000\\001\\002\\377\\376BIN\\n' > blob.bin"), done] },
    { match: "change line two", turns: [bash("sed -i 's/^line two$/line two, as claude wrote it/' conflict.txt"), done] },
    { match: "commit and leave some", turns: [bash("printf 'committed by claude\\n' > COMMITTED.md && git add COMMITTED.md && git commit -qm 'claude: add COMMITTED.md' && printf 'left uncommitted\\n' > LEFTOVER.md"), done] },
    { match: "apply me", turns: [bash("printf 'applied by --apply\\n' > APPLIED.md && printf 'more\\n' >> tracked.txt"), done] },
    { turns: [done] },
  ],
};

describe("the work comes back", () => {
  let model: ScriptedModel;
  let server: GitHttpsServer;
  let router: RouterProcess;
  let worker: WorkerProcess;
  let client: Client<typeof RouterService>;
  let root: string;
  let userEnv: Record<string, string>;
  let ccEnv: Record<string, string>;

  const run = (args: string[], dir: string, stdin?: string) => cc(args, { cwd: dir, env: ccEnv, ...(stdin !== undefined ? { stdin } : {}) });

  /** The task `cc run` just ran: the newest one with this prompt. */
  async function taskWithPrompt(prompt: string): Promise<Task> {
    const { tasks } = await client.listTasks({ limit: 1000 });
    const task = tasks.find((t) => t.promptSummary === prompt);
    if (!task) throw new Error(`no task with prompt ${prompt}`);
    return task;
  }

  /** The task's workspace on the worker, from its `started` event. */
  async function workspaceOf(taskId: string): Promise<string> {
    const events = await collect(client.attach({ taskId, afterSeq: 0n }));
    return ofCase(events, "started")[0]!.workspace;
  }

  beforeAll(async () => {
    root = realpathSync(mkdtempSync(join(tmpdir(), "cc-test-work-back-")));
    userEnv = gitUserEnv(join(root, "user-home"));
    model = await startModel(SCRIPT);
    server = await startGitHttpsServer();
    router = await spawnRouterProcess({ CC_HEARTBEAT_INTERVAL: "500ms" });
    worker = await spawnWorkerProcess("w1", {
      ...modelEnv(model),
      CC_ROUTER_URL: router.url,
      CC_CLAUDE_HOME: join(root, "claude-home"),
      CC_WORKSPACE_ROOT: join(root, "workspaces"),
      CC_KILL_GRACE: "2s",
      GIT_SSL_CAINFO: server.caFile,
    });
    client = createClient(RouterService, createGrpcTransport({ baseUrl: router.url }));
    await until(async () => (await client.listWorkers({})).workers.some((w) => w.id === "w1" && w.health === WorkerHealth.ONLINE));
    ccEnv = { ...userEnv, CC_ROUTER_URL: router.url, NO_COLOR: "" };
  }, 60_000);

  afterAll(async () => {
    router?.child.kill("SIGTERM");
    worker?.child.kill("SIGTERM");
    await Promise.all([router?.exited, worker?.exited]);
    await server?.close();
    await model?.close();
    const left = root ? await waitForNoProcessesUnder(root) : [];
    if (root) rmSync(root, { recursive: true, force: true });
    expect(left).toEqual([]);
  });

  /** A checkout with a commit, then a staged, an unstaged and an untracked change, a binary file and an ignored one. */
  function dirtyCheckout(name: string): Checkout {
    const co = checkout(join(root, name), userEnv);
    co.git("init", "--quiet");
    co.write(".gitignore", "secret.env\n");
    co.write("tracked.txt", "tracked line\n");
    co.write("doomed.txt", "to be deleted\n");
    co.write("staged.txt", "staged: before\n");
    co.write("unstaged.txt", "unstaged: before\n");
    co.write("conflict.txt", "line one\nline two\nline three\n");
    co.git("add", ".");
    co.git("commit", "--quiet", "-m", "base");
    co.write("staged.txt", "staged: after\n");
    co.git("add", "staged.txt");
    co.write("unstaged.txt", "unstaged: after\n");
    co.write("untracked.txt", "not yet added\n");
    co.write("picture.bin", Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 0, 0xff, 0x10, 0x80]));
    co.write("secret.env", `TOKEN=${IGNORED_MARKER}\n`);
    return co;
  }

  /** What git shows of a checkout's state: its index and status, byte for byte, and its stash. */
  const stateOf = (co: Checkout) => ({ index: co.read(".git/index").toString("base64"), status: co.git("status", "--porcelain=v1", "--untracked-files=all"), stash: co.git("stash", "list") });

  let first: Checkout;
  let taskId = "";

  it("uploads the checkout without touching it; claude's edits come back exactly with cc diff", async () => {
    first = dirtyCheckout("first");
    const before = stateOf(first);
    const r = await run(["run", "--allowed-tools", "Bash", "edit the checkout"], first.dir);
    expect(r.stderr).toMatch(/^✓ done · .* · worker w1 · task [0-9a-z]{26}\n$/);
    expect(r.code).toBe(0);
    expect(stateOf(first)).toEqual(before);
    expect(first.git("for-each-ref")).not.toContain("cc-upload");

    const task = await taskWithPrompt("edit the checkout");
    taskId = task.id;
    const changes = task.exit!.changes!;
    expect(task.exit?.reason).toBe(ExitReason.COMPLETED);
    expect(changes.branch).toBe(`cc/${taskId}`);
    expect(changes.files.map((f) => f.path)).toEqual(["blob.bin", "created.txt", "doomed.txt", "tracked.txt"]);

    const names = await run(["diff", "--name-only", taskId], first.dir);
    expect(names).toMatchObject({ code: 0, stdout: "blob.bin\ncreated.txt\ndoomed.txt\ntracked.txt\n" });
    const stat = await run(["diff", "--stat", taskId], first.dir);
    expect(stat.stdout).toContain(" blob.bin    | Bin 0 -> 9 bytes\n");
    expect(stat.stdout).toContain(" tracked.txt |   1 +\n");
    expect(stat.stdout).toMatch(/ 4 files changed, 2 insertions\(\+\), 1 deletion\(-\)\n$/);

    const patch = await run(["diff", taskId], first.dir);
    expect(patch.code).toBe(0);
    expect(patch.stdout).not.toContain("\x1b[");
    // Exactly claude's four changes, none of what was uploaded as it was.
    expect(patch.stdout.match(/^diff --git .*$/gm)).toEqual([
      "diff --git a/blob.bin b/blob.bin",
      "diff --git a/created.txt b/created.txt",
      "diff --git a/doomed.txt b/doomed.txt",
      "diff --git a/tracked.txt b/tracked.txt",
    ]);
    expect(patch.stdout).toContain("+edited by claude\n");
    expect(patch.stdout).toContain("deleted file mode 100644\n");
    expect(patch.stdout).toContain("+brand new\n");
    expect(patch.stdout).toContain("GIT binary patch\n");
    // The patch applies to the uploaded state with git itself.
    const check = join(root, "first-check");
    cpSync(first.dir, check, { recursive: true });
    execFileSync("git", ["apply", "--check", "--binary"], { cwd: check, env: userEnv, input: patch.stdoutBytes });
  });

  it("the worker had the checkout as it was on disk, on cc/<task id>, and never the ignored file", async () => {
    const ws = await workspaceOf(taskId);
    const wsGit = (...args: string[]) => execFileSync("git", args, { cwd: ws, encoding: "utf8", env: userEnv }).trim();
    expect(wsGit("rev-parse", "--abbrev-ref", "HEAD")).toBe(`cc/${taskId}`);
    expect(readFileSync(join(ws, "staged.txt"), "utf8")).toBe("staged: after\n");
    expect(readFileSync(join(ws, "unstaged.txt"), "utf8")).toBe("unstaged: after\n");
    expect(readFileSync(join(ws, "untracked.txt"), "utf8")).toBe("not yet added\n");
    expect(readFileSync(join(ws, "picture.bin"))).toEqual(first.read("picture.bin"));
    expect(existsSync(join(ws, "secret.env"))).toBe(false);
    // Not in any object either: every object of the workspace's repository, uncompressed.
    const objects = execFileSync("git", ["cat-file", "--batch-all-objects", "--batch"], { cwd: ws, env: userEnv, maxBuffer: 1 << 26 });
    expect(objects.includes(IGNORED_MARKER)).toBe(false);
    expect(objects.includes("staged: after")).toBe(true);
  });

  it("cc apply in a second checkout of the same state makes its tree byte-identical to the worker's final tree", async () => {
    const second = checkout(join(root, "second"), userEnv);
    execFileSync("git", ["clone", "--quiet", first.dir, second.dir], { env: userEnv });
    for (const f of ["staged.txt", "unstaged.txt", "untracked.txt", "picture.bin"]) second.write(f, first.read(f));
    second.git("add", "staged.txt");
    const r = await run(["apply", taskId], second.dir);
    expect(r.stderr).toBe("");
    expect(r).toMatchObject({ code: 0, stdout: `applied the changes of task ${taskId}: 4 files changed, 2 insertions(+), 1 deletion(-)\n` });
    const ws = await workspaceOf(taskId);
    expect(treeFiles(second.dir)).toEqual(treeFiles(ws));
    expect(existsSync(join(second.dir, "secret.env"))).toBe(false);
  });

  it("conflicting local edits stop cc apply with git's conflict markers, losing nothing", async () => {
    const co = dirtyCheckout("conflicted");
    const r = await run(["run", "--allowed-tools", "Bash", "change line two"], co.dir);
    expect(r.code).toBe(0);
    const task = await taskWithPrompt("change line two");
    // An unstaged edit of the same line: refused, nothing changed.
    co.write("conflict.txt", "line one\nline two, as I wrote it\nline three\n");
    const unstaged = await run(["apply", task.id], co.dir);
    expect(unstaged.code).toBe(1);
    expect(unstaged.stderr).toMatch(/nothing was changed\. Commit or stash your local changes to those files/);
    expect(co.read("conflict.txt").toString()).toBe("line one\nline two, as I wrote it\nline three\n");
    // Staged: a three-way merge, which conflicts.
    co.git("add", "conflict.txt");
    const staged = await run(["apply", task.id], co.dir);
    expect(staged.code).toBe(1);
    expect(staged.stderr).toContain(`cc: the changes of task ${task.id} conflict with local changes in conflict.txt.`);
    expect(staged.stderr).toContain("Resolve each conflict, then `git add` the file");
    expect(co.read("conflict.txt").toString()).toBe("line one\n<<<<<<< ours\nline two, as I wrote it\n=======\nline two, as claude wrote it\n>>>>>>> theirs\nline three\n");
    expect(co.git("status", "--porcelain=v1")).toContain("UU conflict.txt");
    // Everything else of the local state is as it was.
    expect(co.read("unstaged.txt").toString()).toBe("unstaged: after\n");
    expect(co.read("untracked.txt").toString()).toBe("not yet added\n");
    expect(co.git("show", ":2:conflict.txt")).toBe("line one\nline two, as I wrote it\nline three");
  });

  it("cc apply --branch fetches the task's commits as a branch and leaves the work tree alone", async () => {
    const before = stateOf(first);
    const r = await run(["apply", taskId, "--branch", "from-claude"], first.dir);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^created branch from-claude at [0-9a-f]{12} \\(2 commits from task ${taskId}\\); the work tree is untouched\\n$`));
    expect(stateOf(first)).toEqual(before);
    // The snapshot of the uploaded checkout, then claude's work on it.
    expect(first.git("log", "--format=%s", "main..from-claude")).toBe(`cc: work of task ${taskId}\ncc: snapshot of the checkout as uploaded (uncommitted and untracked files)`);
    expect(first.git("show", "from-claude:tracked.txt")).toBe("tracked line\nedited by claude");
    const again = await run(["apply", taskId, "--branch", "from-claude"], first.dir);
    expect(again.code).toBe(2);
    expect(again.stderr).toBe("cc: a branch from-claude exists already; pick another name (cc apply never moves an existing branch)\n");
  });

  it("cc run --apply applies the task's changes here when it succeeds", async () => {
    const co = dirtyCheckout("applied");
    const r = await run(["run", "--apply", "--allowed-tools", "Bash", "apply me"], co.dir);
    expect(r.stderr).toMatch(/^✓ done · /);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("applied the changes of task ");
    expect(co.read("APPLIED.md").toString()).toBe("applied by --apply\n");
    expect(co.read("tracked.txt").toString()).toBe("tracked line\nmore\n");
    // What was uncommitted before is still there, uncommitted.
    expect(co.read("unstaged.txt").toString()).toBe("unstaged: after\n");
  });

  it("cc ls and cc cp reach into the task's kept workspace, both ways, and stay inside it", async () => {
    const ls = await run(["ls", taskId], first.dir);
    expect(ls.code).toBe(0);
    expect(ls.stdout.split("\n")).toEqual(expect.arrayContaining([".git/", "created.txt", "blob.bin", "tracked.txt"]));
    const out = join(root, "copied");
    const file = await run(["cp", `${taskId}:created.txt`, out], first.dir);
    expect(file.code).toBe(0);
    expect(readFileSync(out, "utf8")).toBe("brand new\n");
    const dirOut = join(root, "copied-dir");
    const dir = await run(["cp", `${taskId}:.`, dirOut], first.dir);
    expect(dir.code).toBe(0);
    expect(readFileSync(join(dirOut, "blob.bin"))).toEqual(Buffer.from([0, 1, 2, 0xff, 0xfe, 0x42, 0x49, 0x4e, 0x0a]));
    const up = await run(["cp", "-", `${taskId}:incoming/note.txt`], first.dir, "sent in\n");
    expect(up.code).toBe(4); // incoming/ does not exist yet
    const upOk = await run(["cp", "-", `${taskId}:note.txt`], first.dir, "sent in\n");
    expect(upOk).toMatchObject({ code: 0, stderr: `copied 8 B to ${taskId}:note.txt\n` });
    expect(readFileSync(join(await workspaceOf(taskId), "note.txt"), "utf8")).toBe("sent in\n");
    const escape = await run(["cp", `${taskId}:../../x`, out], first.dir);
    expect(escape.code).toBe(4);
    expect(escape.stderr).toContain('path: must stay inside the task\'s workspace: ".." is not allowed');
  });

  it("--repo URL --push lands the task's branch on the server: claude's commit and the rest; the cloned branch is untouched", async () => {
    const url = `${server.url}/public.git`;
    const dir = join(root, "push-here");
    const r = await run(["run", "--repo", url, "--push", "--allowed-tools", "Bash", "commit and leave some"], realpathSync(mkdtempSync(dir)));
    expect(r.stderr).toMatch(/^✓ done · /);
    expect(r.code).toBe(0);
    const task = await taskWithPrompt("commit and leave some");
    const push = task.exit!.changes!.push!;
    expect(push).toMatchObject({ url, branch: `cc/${task.id}`, error: "", compareUrl: "" });
    const refs = server.refsOf("public.git");
    expect(refs[`cc/${task.id}`]).toBe(push.commit);
    expect(refs["main"]).toBe(server.commits.main);
    const show = (rev: string) => execFileSync("git", ["--git-dir", server.repoDir("public.git"), ...rev.split(" ")], { encoding: "utf8", env: userEnv }).trim();
    expect(show(`log --format=%s ${server.commits.main}..${push.commit}`)).toBe(`cc: work of task ${task.id}\nclaude: add COMMITTED.md`);
    expect(show(`show ${push.commit}:LEFTOVER.md`)).toBe("left uncommitted");
    expect(show(`show ${push.commit}:COMMITTED.md`)).toBe("committed by claude");
    expect(show(`log -1 --format=%an<%ae> ${push.commit}`)).toBe("ClaudeCluster<claudecluster@localhost>");
  });

  it("a push is never forced: a branch that moved on is refused and reported; naming the cloned branch pushes there", async () => {
    const url = `${server.url}/public.git`;
    const here = realpathSync(mkdtempSync(join(root, "push-again-")));
    // `feature` has a commit main does not: pushing main's descendant there is not a fast-forward.
    const refused = await run(["run", "--repo", url, "--push", "--push-branch", "feature", "--allowed-tools", "Bash", "commit and leave some"], here);
    expect(refused.code).toBe(0);
    const tasks = (await client.listTasks({ limit: 1000 })).tasks.filter((t) => t.promptSummary === "commit and leave some");
    const push = tasks[0]!.exit!.changes!.push!;
    expect(push.error).toMatch(/^pushing feature to .* failed: \[rejected\] \(fetch first\); the branch moved on, and a push is never forced: push to another branch$|non-fast-forward/);
    expect(server.refsOf("public.git")["feature"]).toBe(server.commits.feature);
    // Asked for by name, the branch it was cloned from is pushed to (a fast-forward of main).
    const onMain = await run(["run", "--repo", url, "--ref", "main", "--push", "--push-branch", "main", "--allowed-tools", "Bash", "commit and leave some"], here);
    expect(onMain.code).toBe(0);
    const latest = (await client.listTasks({ limit: 1000 })).tasks.find((t) => t.promptSummary === "commit and leave some")!;
    expect(latest.exit!.changes!.push!.error).toBe("");
    expect(server.refsOf("public.git")["main"]).toBe(latest.exit!.changes!.push!.commit);
  });

  it("--repo URL --upload sends only what the repository lacks, and --push pushes the checkout's work with claude's", async () => {
    const url = `${server.url}/private.git`;
    const local = checkout(join(root, "clone-of-private"), { ...userEnv, GIT_SSL_CAINFO: server.caFile });
    // Asynchronously: the git server answers from this process.
    await execFileAsync("git", ["-c", `http.extraHeader=Authorization: Basic ${Buffer.from(`x-access-token:${server.token}`).toString("base64")}`, "clone", "--quiet", url, local.dir], {
      env: { ...userEnv, GIT_SSL_CAINFO: server.caFile },
    });
    local.write("mine.txt", "committed locally, never pushed\n");
    local.git("add", "mine.txt");
    local.git("commit", "--quiet", "-m", "local work");
    local.write("dirty.txt", "uncommitted\n");
    // The token reaches the worker with the task (the Python and buf curl callers set it in the request; cc has no
    // flag for it), so this run goes through the router's client.
    const { prepareUpload, sendUpload } = await import("../../cli/lib/checkout/index.js");
    const prepared = await prepareUpload(local.dir, { originUrl: url });
    try {
      expect(prepared.header.commit).not.toBe(server.commits.main);
      // The bundle holds the local commit and the snapshot; main's commit, which the server has, is left out.
      expect(prepared.description).toContain("without what origin has");
      const res = await sendUpload(client, prepared.header, prepared.file);
      const events = await collect(
        client.run({
          prompt: "commit and leave some (incremental)",
          agent: { allowedTools: ["Bash"] },
          workspace: { source: { case: "upload", value: { uploadId: res.uploadId, origin: { url, ref: "main", token: server.token } } }, push: {} },
        }),
      );
      const statuses = ofCase(events, "status").map((s) => s.detail);
      expect(statuses).toContain(`fetching 1 base commit(s) from ${url}`);
      const exited = ofCase(events, "exited")[0]!;
      expect(exited.reason).toBe(ExitReason.COMPLETED);
      const push = exited.changes!.push!;
      expect(push.error).toBe("");
      const refs = server.refsOf("private.git");
      expect(refs[push.branch]).toBe(push.commit);
      const show = (args: string[]) => execFileSync("git", ["--git-dir", server.repoDir("private.git"), ...args], { encoding: "utf8", env: userEnv }).trim();
      expect(show(["show", `${push.commit}:mine.txt`])).toBe("committed locally, never pushed");
      expect(show(["show", `${push.commit}:dirty.txt`])).toBe("uncommitted");
      expect(show(["show", `${push.commit}:LEFTOVER.md`])).toBe("left uncommitted");
      expect(refs["main"]).toBe(server.commits.main);
      expect(JSON.stringify(events, (_k, v: unknown) => (typeof v === "bigint" ? String(v) : v))).not.toContain(server.token);
    } finally {
      await prepared.cleanup();
    }
  });

  it("a task that is not in a git workspace of its own has no changes; an unknown one is not found", async () => {
    const events = await collect(client.run({ prompt: "nothing to see", workspace: { source: { case: "directory", value: "shared" } } }));
    const id = events[0]!.taskId;
    expect((await client.getTask({ taskId: id })).status).toBe(TaskStatus.SUCCEEDED);
    const diff = await run(["diff", id], first.dir);
    expect(diff).toMatchObject({ code: 4, stderr: `cc: task ${id} did not run in a git workspace of its own (cc run --upload or --repo), so it has no recorded changes\n` });
    const unknown = await run(["diff", "01j0000000zzzzzzzzzzzzzzzz"], first.dir);
    expect(unknown.code).toBe(4);
    expect(unknown.stderr).toContain('no task "01j0000000zzzzzzzzzzzzzzzz"');
  });
});
