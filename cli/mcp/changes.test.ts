// cc mcp's tools for work that comes back, over the fake cluster: run_task uploading a local checkout (the real git
// snapshot and bundle of cli/lib/checkout) and asking for a push; get_task and wait_tasks with each task's changes
// summary; task_diff with its summary, its bounded patch, and its errors. test/e2e/mcp.test.ts runs them end to end.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { FileChangeKind, type RunRequest } from "../../gen/claudecluster/v1/run_pb.js";
import { UploadKind } from "../../gen/claudecluster/v1/transfer_pb.js";
import { closeMcpSessions, connectMcp as connect, type Progress, until } from "../testing/mcp-session.js";
import { BINARY_NOTE } from "./patch-excerpt.js";

afterEach(closeMcpSessions);

const root = mkdtempSync(join(tmpdir(), "cc-mcp-changes-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const env = { ...process.env, HOME: root, GIT_CONFIG_NOSYSTEM: "1", GIT_AUTHOR_NAME: "a", GIT_AUTHOR_EMAIL: "a@b", GIT_COMMITTER_NAME: "a", GIT_COMMITTER_EMAIL: "a@b" };
const repo = join(root, "project");
execFileSync("git", ["init", "-q", "-b", "main", repo], { env });
writeFileSync(join(repo, "a.txt"), "a\n");
execFileSync("git", ["add", "."], { cwd: repo, env });
execFileSync("git", ["commit", "-qm", "a"], { cwd: repo, env });
// Uncommitted work, which goes too.
writeFileSync(join(repo, "wip.txt"), "not committed yet\n");

const BASE = "b".repeat(40);
const FINAL = "f".repeat(40);
const PATCH = [
  "diff --git a/notes.txt b/notes.txt",
  "index 1111111111111111111111111111111111111111..2222222222222222222222222222222222222222 100644",
  "--- a/notes.txt",
  "+++ b/notes.txt",
  "@@ -1,2 +1,2 @@",
  " first line",
  "-second line",
  "+second line, edited",
  "diff --git a/logo.png b/logo.png",
  "new file mode 100644",
  "index 0000000000000000000000000000000000000000..3333333333333333333333333333333333333333",
  "GIT binary patch",
  "literal 12",
  "Tcmb=ZrK!o$2+kVHH#I&WrMIc",
  "",
  "literal 0",
  "HcmV?d00001",
  "",
  "diff --git a/old.txt b/old.txt",
  "deleted file mode 100644",
  "index 4444444444444444444444444444444444444444..0000000000000000000000000000000000000000",
  "--- a/old.txt",
  "+++ /dev/null",
  "@@ -1 +0,0 @@",
  "-gone",
  "",
].join("\n");
const CHANGES = {
  baseCommit: BASE,
  finalCommit: FINAL,
  branch: "cc/t1",
  filesTotal: 3,
  insertions: 1n,
  deletions: 2n,
  commits: 0,
  files: [
    { path: "logo.png", kind: FileChangeKind.ADDED, binary: true, newSize: 12n },
    { path: "notes.txt", kind: FileChangeKind.MODIFIED, insertions: 1, deletions: 1 },
    { path: "old.txt", kind: FileChangeKind.DELETED, deletions: 1, oldSize: 5n },
  ],
};

describe("run_task with upload and push", () => {
  it("sends the checkout as it is on disk (a git bundle of a snapshot) and names the upload in the task's workspace, with progress", async () => {
    const { call, cluster } = await connect({ cwd: root });
    const progress: Progress[] = [];
    const r = await call("run_task", { prompt: "fix it", upload: "project", labels: { zone: "a" } }, (p) => progress.push(p));
    expect(r.isError, r.content[0]?.text).toBeUndefined();
    expect(r.structuredContent).toMatchObject({ task_id: "t1", worker_id: "w1", uploaded: expect.stringMatching(/^the checkout at [0-9a-f]{12} on main, with its uncommitted changes, \d+ B git bundle, to worker w1$/) });
    const [upload] = cluster.uploads;
    expect(upload!.header).toMatchObject({ kind: UploadKind.GIT_BUNDLE, snapshot: true, labels: { zone: "a" } });
    expect(upload!.data.length).toBe(Number(upload!.header.size));
    expect(createHash("sha256").update(upload!.data).digest("hex")).toBe(upload!.header.sha256);
    expect(upload!.data.subarray(0, 16).toString()).toBe("# v2 git bundle\n");
    // The snapshot holds the uncommitted file; the user's index and work tree are untouched.
    expect(execFileSync("git", ["status", "--porcelain"], { cwd: repo, env, encoding: "utf8" })).toBe("?? wip.txt\n");
    const req = cluster.calls.find((c) => c.method === "run")!.request as RunRequest;
    expect(req.workspace?.source).toMatchObject({ case: "upload", value: { uploadId: "u1" } });
    expect(req.workspace?.push).toBeUndefined();
    // The upload was sent before the task, and said how far it got.
    expect(cluster.methods().slice(0, 2)).toEqual(["uploadWorkspace", "run"]);
    expect(progress.at(-1)).toMatchObject({ progress: upload!.data.length, total: upload!.data.length, message: expect.stringMatching(/^uploading project: .* of /) });
  });

  it("with repo, the repository is the upload's origin, and push options ask for a push", async () => {
    const { call, cluster } = await connect();
    const r = await call("run_task", { prompt: "p", upload: repo, repo: "https://example.com/org/project.git", push: true, push_branch: "cc/fix", push_message: "fix it" });
    expect(r.isError, r.content[0]?.text).toBeUndefined();
    const req = cluster.calls.find((c) => c.method === "run")!.request as RunRequest;
    expect(req.workspace?.source).toMatchObject({ case: "upload", value: { uploadId: "u1", origin: { url: "https://example.com/org/project.git", ref: "main" } } });
    expect(req.workspace?.push).toMatchObject({ branch: "cc/fix", author: "", message: "fix it" });

    await call("run_task", { prompt: "q", repo: "https://example.com/org/project.git", push: true });
    const cloned = cluster.calls.filter((c) => c.method === "run")[1]!.request as RunRequest;
    expect(cloned.workspace).toMatchObject({ source: { case: "repository", value: { url: "https://example.com/org/project.git" } }, push: { branch: "" } });
  });

  it("says what is wrong with the options, and sends nothing", async () => {
    const { call, cluster } = await connect({ taskDefaults: { directory: "." }, cwd: root });
    const text = async (args: Record<string, unknown>) => (await call("run_task", { prompt: "p", ...args })).content[0]!.text;
    expect(await text({ upload: repo, directory: "d" })).toBe("give upload or directory, not both: an upload is unpacked into a fresh directory of the task's own");
    expect(await text({ push: true })).toBe("push needs repo: the repository to push the task's branch to (with upload, the repository the checkout came from)");
    expect(await text({ repo: "https://example.com/r.git", push_branch: "x" })).toBe("push_branch needs push: true");
    expect(await text({ upload: "missing" })).toBe(`upload: ${join(root, "missing")} is not a directory (a relative path is taken from ${root}, where cc mcp runs)`);
    expect(cluster.methods()).toEqual([]);
    // An upload is the task's workspace: the embedded cluster's default directory does not apply.
    await call("run_task", { prompt: "p", upload: repo });
    expect((cluster.calls.find((c) => c.method === "run")!.request as RunRequest).workspace?.source.case).toBe("upload");
  });
});

describe("the changes of ended tasks", () => {
  it("get_task and wait_tasks carry each task's changes summary; a task without a git workspace has none", async () => {
    const { call, cluster, clock } = await connect();
    await call("run_task", { prompt: "edit" });
    await call("run_task", { prompt: "answer" });
    const waiting = call("wait_tasks", { task_ids: ["t1", "t2"] });
    await until(() => clock.sleeping === 1);
    cluster.finish("t1", "edited", { changes: { ...CHANGES, push: { url: "https://github.com/org/p.git", branch: "cc/t1", commit: FINAL, compareUrl: "https://github.com/org/p/compare/main...cc/t1" } }, patch: PATCH });
    cluster.finish("t2", "answered");
    const summary = {
      files_changed: 3,
      insertions: 1,
      deletions: 2,
      files: ["logo.png", "notes.txt", "old.txt"],
      commits: 0,
      base_commit: BASE,
      final_commit: FINAL,
      branch: "cc/t1",
      push: { url: "https://github.com/org/p.git", branch: "cc/t1", commit: FINAL, compare_url: "https://github.com/org/p/compare/main...cc/t1", error: "" },
      error: "",
    };
    const waited = (await waiting).structuredContent as { tasks: { task_id: string; changes: unknown }[] };
    expect(waited.tasks.map((t) => [t.task_id, t.changes])).toEqual([
      ["t1", summary],
      ["t2", null],
    ]);
    expect((await call("get_task", { task_id: "t1" })).structuredContent).toMatchObject({ changes: summary });
    // The summary names a bounded number of paths; the count says how many there are.
    cluster.tasks.get("t2")!.task.exit!.changes = { ...cluster.tasks.get("t1")!.task.exit!.changes!, filesTotal: 40, files: Array.from({ length: 40 }, (_, i) => ({ ...CHANGES.files[1]!, path: `f${i}` })) } as never;
    const many = (await call("get_task", { task_id: "t2" })).structuredContent as { changes: { files: string[]; files_changed: number } };
    expect([many.changes.files.length, many.changes.files_changed]).toEqual([20, 40]);
  });

  it("task_diff returns the stat, the files and the patch with binary data left out", async () => {
    const { call, cluster } = await connect();
    await call("run_task", { prompt: "edit" });
    cluster.finish("t1", "edited", { changes: CHANGES, patch: PATCH });
    const r = await call("task_diff", { task_id: "t1" });
    expect(r.isError, r.content[0]?.text).toBeUndefined();
    const s = r.structuredContent!;
    expect(s).toMatchObject({ task_id: "t1", status: "succeeded", files_changed: 3, insertions: 1, deletions: 2, base_commit: BASE, final_commit: FINAL, branch: "cc/t1", files_truncated: false, push: null, error: "" });
    expect(s["files"]).toEqual([
      { path: "logo.png", old_path: "", change: "added", insertions: 0, deletions: 0, binary: true, old_size: 0, new_size: 12 },
      { path: "notes.txt", old_path: "", change: "modified", insertions: 1, deletions: 1, binary: false, old_size: 0, new_size: 0 },
      { path: "old.txt", old_path: "", change: "deleted", insertions: 0, deletions: 1, binary: false, old_size: 5, new_size: 0 },
    ]);
    expect(s["stat"]).toBe([" logo.png  | Bin 0 -> 12 bytes", " notes.txt |   2 +-", " old.txt   |   1 -", " 3 files changed, 1 insertion(+), 2 deletions(-)", ""].join("\n"));
    const patch = String(s["patch"]);
    expect(patch).toContain("-second line\n+second line, edited\n");
    expect(patch).toContain(`index 0000000000000000000000000000000000000000..3333333333333333333333333333333333333333\n${BINARY_NOTE}\ndiff --git a/old.txt`);
    expect(patch).not.toContain("Tcmb=");
    expect(patch.endsWith("-gone\n")).toBe(true);
    expect(s).toMatchObject({ patch_bytes: Buffer.byteLength(PATCH), patch_truncated: false, omitted_bytes: 0, patch_error: "" });
    // The text beside it is the same JSON.
    expect(JSON.parse(r.content[0]!.text)).toEqual(s);
  });

  it("task_diff cuts the patch at max_chars on a line boundary, says so, and stops reading the stream there", async () => {
    const { call, cluster } = await connect();
    await call("run_task", { prompt: "big" });
    const lines = Array.from({ length: 5000 }, (_, i) => `+line ${i}`);
    const big = ["diff --git a/big.txt b/big.txt", "new file mode 100644", "--- /dev/null", "+++ b/big.txt", "@@ -0,0 +1,5000 @@", ...lines, ""].join("\n");
    cluster.finish("t1", "done", { changes: { ...CHANGES, files: [{ path: "big.txt", kind: FileChangeKind.ADDED, insertions: 5000 }], filesTotal: 1, insertions: 5000n, deletions: 0n }, patch: big });
    cluster.changesChunkBytes = 256;
    const s = (await call("task_diff", { task_id: "t1", max_chars: 1000 })).structuredContent!;
    const patch = String(s["patch"]);
    expect(patch.length).toBeLessThanOrEqual(1000);
    expect(patch.endsWith("\n")).toBe(true);
    expect(big.startsWith(patch)).toBe(true);
    expect(s).toMatchObject({ patch_truncated: true, omitted_bytes: Buffer.byteLength(big) - Buffer.byteLength(patch), patch_bytes: Buffer.byteLength(big) });
    // A few chunks past the bound at most were sent, of the patch's hundreds.
    expect(cluster.changesMessagesSent).toBeLessThan(10);

    // The summary alone reads no patch.
    const calls = cluster.methods().length;
    const summary = (await call("task_diff", { task_id: "t1", max_chars: 0 })).structuredContent!;
    expect(summary).toMatchObject({ patch: "", patch_truncated: false, stat: expect.stringContaining("big.txt | 5000 +") });
    expect(cluster.methods().slice(calls)).toEqual(["getTask"]);
  });

  it("task_diff narrows the patch to the paths asked for", async () => {
    const { call, cluster } = await connect();
    await call("run_task", { prompt: "edit" });
    cluster.finish("t1", "edited", { changes: CHANGES, patch: PATCH });
    const patch = String((await call("task_diff", { task_id: "t1", paths: ["old.txt"] })).structuredContent!["patch"]);
    expect(patch).toBe(PATCH.slice(PATCH.indexOf("diff --git a/old.txt")));
  });

  it("task_diff says why there is nothing to show: a running task, no git workspace, an unknown task, a patch no longer kept", async () => {
    const { call, cluster } = await connect();
    await call("run_task", { prompt: "running" });
    expect((await call("task_diff", { task_id: "t1" })).content[0]!.text).toBe("task t1 is still running: its changes are recorded when it ends (wait_tasks waits for that)");
    cluster.finish("t1", "done");
    expect((await call("task_diff", { task_id: "t1" })).content[0]!.text).toBe(
      "task t1 did not run in a git workspace of its own, so it has no recorded changes: tasks started with upload (a local checkout) or repo have them",
    );
    expect(await call("task_diff", { task_id: "nope" })).toMatchObject({ isError: true, content: [{ text: expect.stringMatching(/^not_found: task nope not found/) }] });

    await call("run_task", { prompt: "expired" });
    cluster.finish("t2", "done", { changes: CHANGES, patch: PATCH });
    cluster.client.getChanges = (() => {
      throw new ConnectError("the changes of task t2 are no longer kept (CC_CHANGES_RETAIN_AGE)", Code.NotFound);
    }) as never;
    const r = await call("task_diff", { task_id: "t2" });
    expect(r.isError).toBeUndefined();
    expect(r.structuredContent).toMatchObject({ files_changed: 3, patch: "", patch_error: "not_found: the changes of task t2 are no longer kept (CC_CHANGES_RETAIN_AGE)" });
  });
});
