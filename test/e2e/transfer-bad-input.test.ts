// Bad input to uploads, changes and files, as a table against a router and a worker running as processes of their
// own: corrupt, truncated, overlong and oversized uploads, things that are not bundles or archives, unknown uploads and
// tasks, paths out of a workspace (`..`, absolute, a symbolic link claude made), copies over the limit, changes of a
// task still running or without a git workspace, and `cc apply` outside a checkout or on an unrelated history. Every
// row states the code (or exit code) and a fragment of the message that says what to do; after the table both
// processes are alive, a normal task still runs through the router, and nothing was written outside a workspace.
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RouterService, WorkerHealth } from "../../gen/claudecluster/v1/router_pb.js";
import { ExitReason } from "../../gen/claudecluster/v1/run_pb.js";
import { FileType, UploadHeaderSchema, UploadKind, UploadWorkspaceRequestSchema, WriteFileRequestSchema } from "../../gen/claudecluster/v1/transfer_pb.js";
import { WorkerService } from "../../gen/claudecluster/v1/worker_pb.js";
import type { Script, ScriptedModel } from "../../services/scripted-model/index.js";
import { cc, checkout, gitUserEnv } from "../helpers/checkout.js";
import { modelEnv, startModel } from "../helpers/model.js";
import { waitForNoProcessesUnder } from "../helpers/processes.js";
import { spawnRouterProcess, type RouterProcess } from "../helpers/router-process.js";
import { until } from "../helpers/wait.js";
import { collect, ofCase } from "../helpers/worker.js";
import { spawnWorkerProcess, type WorkerProcess } from "../helpers/worker-process.js";

const WORKER_MAX_UPLOAD = 1024 * 1024;
const ROUTER_MAX_UPLOAD = 2 * 1024 * 1024;
const MAX_COPY = 64 * 1024;
const UNKNOWN_ID = "01j0000000zzzzzzzzzzzzzzzz";

const SCRIPT: Script = {
  conversations: [
    {
      match: "make links",
      turns: [{ content: [{ type: "tool_use", name: "Bash", input: { command: "ln -s /etc escape && ln -s /etc/hostname escape-file && head -c 100000 /dev/zero > big.bin && echo hi > ok.txt", description: "Make links" } }] }, { content: [{ type: "text", text: "Done." }] }],
    },
    { match: "hang", turns: [{ content: [{ type: "tool_use", name: "Bash", input: { command: "tail -f /dev/null", description: "Wait" } }] }] },
    { turns: [{ content: [{ type: "text", text: "Fine." }] }] },
  ],
};

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
type Header = MessageInitShape<typeof UploadHeaderSchema>;

/** An upload's messages: a header, then chunks (or anything else a row wants to send). */
async function* uploadOf(first: Header | { chunk: Uint8Array }, chunks: Uint8Array[] = []) {
  yield create(UploadWorkspaceRequestSchema, { part: "chunk" in first ? { case: "chunk", value: first.chunk } : { case: "header", value: create(UploadHeaderSchema, first) } });
  for (const c of chunks) yield create(UploadWorkspaceRequestSchema, { part: { case: "chunk", value: c } });
}

interface Answer {
  code: Code | undefined;
  message: string;
}

async function answer(call: () => Promise<unknown> | AsyncIterable<unknown>): Promise<Answer> {
  try {
    const r = call();
    if (r && typeof r === "object" && Symbol.asyncIterator in r) for await (const _ of r as AsyncIterable<unknown>) void _;
    else await r;
    return { code: undefined, message: "accepted" };
  } catch (err) {
    const e = ConnectError.from(err);
    return { code: e.code, message: e.rawMessage };
  }
}

describe("bad input to uploads, changes and files", () => {
  let model: ScriptedModel;
  let root: string;
  let router: RouterProcess;
  let worker: WorkerProcess;
  let client: Client<typeof RouterService>;
  let direct: Client<typeof WorkerService>;
  let linksTask = "";
  let plainTask = "";
  const outcomes: string[] = [];

  beforeAll(async () => {
    root = realpathSync(mkdtempSync(join(tmpdir(), "cc-test-transfer-bad-")));
    model = await startModel(SCRIPT);
    router = await spawnRouterProcess({ CC_HEARTBEAT_INTERVAL: "500ms", CC_MAX_UPLOAD_BYTES: String(ROUTER_MAX_UPLOAD) });
    worker = await spawnWorkerProcess("w1", {
      ...modelEnv(model),
      CC_ROUTER_URL: router.url,
      CC_CLAUDE_HOME: join(root, "claude-home"),
      CC_WORKSPACE_ROOT: join(root, "workspaces"),
      CC_KILL_GRACE: "2s",
      CC_MAX_UPLOAD_BYTES: String(WORKER_MAX_UPLOAD),
      CC_MAX_COPY_BYTES: String(MAX_COPY),
    });
    client = createClient(RouterService, createGrpcTransport({ baseUrl: router.url }));
    direct = createClient(WorkerService, createGrpcTransport({ baseUrl: worker.url }));
    await until(async () => (await client.listWorkers({})).workers.some((w) => w.health === WorkerHealth.ONLINE));
    // A task whose workspace holds links out of it, and one in a shared directory (no git workspace of its own).
    const links = await collect(client.run({ prompt: "make links", agent: { allowedTools: ["Bash"] } }));
    linksTask = links[0]!.taskId;
    plainTask = (await collect(client.run({ prompt: "plain", workspace: { source: { case: "directory", value: "shared" } } })))[0]!.taskId;
  }, 60_000);

  afterAll(async () => {
    console.log(`bad input rows:\n${outcomes.join("\n")}`);
    router?.child.kill("SIGTERM");
    worker?.child.kill("SIGTERM");
    await Promise.all([router?.exited, worker?.exited]);
    await model?.close();
    const left = root ? await waitForNoProcessesUnder(root) : [];
    if (root) rmSync(root, { recursive: true, force: true });
    expect(left).toEqual([]);
  });

  const bytes = Buffer.from("0123456789".repeat(100));
  const notABundle = Buffer.from("this is not a git bundle at all\n\n");
  const fakeCommit = "a".repeat(40);
  const header = (data: Buffer, extra: Omit<Header, "$typeName"> = {}): Header => ({ kind: UploadKind.GIT_BUNDLE, size: BigInt(data.length), sha256: sha(data), commit: fakeCommit, ...extra });
  const bundleHeader = Buffer.from(`# v2 git bundle\n${fakeCommit} refs/heads/main\n\nPACK-that-is-garbage`);

  const rows: { name: string; call: () => Promise<Answer>; code: Code; message: string | RegExp }[] = [
    { name: "upload: the first message is a chunk", call: () => answer(() => client.uploadWorkspace(uploadOf({ chunk: bytes }))), code: Code.InvalidArgument, message: "header: the first message of an upload must be its header" },
    { name: "upload: no kind", call: () => answer(() => client.uploadWorkspace(uploadOf(header(bytes, { kind: UploadKind.UNSPECIFIED }), [bytes]))), code: Code.InvalidArgument, message: "header.kind: must be UPLOAD_KIND_GIT_BUNDLE or UPLOAD_KIND_TARBALL" },
    { name: "upload: a malformed sha256", call: () => answer(() => client.uploadWorkspace(uploadOf(header(bytes, { sha256: "abc" }), [bytes]))), code: Code.InvalidArgument, message: "header.sha256: must be the SHA-256" },
    {
      name: "upload: over the router's limit, refused before any byte",
      call: () => answer(() => client.uploadWorkspace(uploadOf(header(bytes, { size: BigInt(ROUTER_MAX_UPLOAD + 1) })))),
      code: Code.ResourceExhausted,
      message: `the upload is ${ROUTER_MAX_UPLOAD + 1} bytes, over the router's limit of ${ROUTER_MAX_UPLOAD} (CC_MAX_UPLOAD_BYTES)`,
    },
    {
      name: "upload: over the worker's limit",
      call: () => answer(() => client.uploadWorkspace(uploadOf(header(bytes, { size: BigInt(WORKER_MAX_UPLOAD + 1) })))),
      code: Code.ResourceExhausted,
      message: `the upload is ${WORKER_MAX_UPLOAD + 1} bytes, over worker w1's limit of ${WORKER_MAX_UPLOAD} (CC_MAX_UPLOAD_BYTES)`,
    },
    {
      name: "upload: truncated",
      call: () => answer(() => client.uploadWorkspace(uploadOf(header(bytes), [bytes.subarray(0, 500)]))),
      code: Code.InvalidArgument,
      message: "the upload ended after 500 of the 1000 bytes its header announced (truncated); send it again",
    },
    {
      name: "upload: more bytes than announced",
      call: () => answer(() => client.uploadWorkspace(uploadOf(header(bytes.subarray(0, 100)), [bytes]))),
      code: Code.InvalidArgument,
      message: "the upload sent more than the 100 bytes its header announced",
    },
    {
      name: "upload: corrupted on the way (SHA-256 mismatch)",
      call: () => answer(() => client.uploadWorkspace(uploadOf(header(bytes), [Buffer.concat([bytes.subarray(0, 999), Buffer.from("X")])]))),
      code: Code.DataLoss,
      message: /^the upload's SHA-256 is [0-9a-f]{64}, not the [0-9a-f]{64} its header announced: it was corrupted on the way; send it again$/,
    },
    { name: "upload: not a git bundle", call: () => answer(() => client.uploadWorkspace(uploadOf(header(notABundle), [notABundle]))), code: Code.InvalidArgument, message: "the upload is not a git bundle" },
    {
      name: "upload: a bundle without the commit named",
      call: () => answer(() => client.uploadWorkspace(uploadOf(header(bundleHeader, { commit: "b".repeat(40) }), [bundleHeader]))),
      code: Code.InvalidArgument,
      message: `header.commit: the bundle has no ref at ${"b".repeat(40)}`,
    },
    {
      name: "upload: a tarball that is not gzip",
      call: () => answer(() => client.uploadWorkspace(uploadOf({ kind: UploadKind.TARBALL, size: BigInt(bytes.length), sha256: sha(bytes) }, [bytes]))),
      code: Code.InvalidArgument,
      message: "the upload is not a gzip-compressed tar archive",
    },
    {
      name: "run: an upload the router does not know",
      call: () => answer(() => client.run({ prompt: "x", workspace: { source: { case: "upload", value: { uploadId: UNKNOWN_ID } } } })),
      code: Code.NotFound,
      message: `upload ${UNKNOWN_ID} on this router not found; uploads serve one task and expire unused (CC_UPLOAD_TTL)`,
    },
    {
      name: "run on the worker: an upload it does not hold",
      call: () => answer(() => direct.run({ prompt: "x", workspace: { source: { case: "upload", value: { uploadId: UNKNOWN_ID } } } })),
      code: Code.NotFound,
      message: `upload ${UNKNOWN_ID} on worker w1 not found`,
    },
    {
      name: "run: a malformed upload id, not echoed",
      call: () => answer(() => client.run({ prompt: "x", workspace: { source: { case: "upload", value: { uploadId: "../x" } } } })),
      code: Code.InvalidArgument,
      message: "workspace.upload.upload_id: must be 1-64 letters, digits, '-' or '_'",
    },
    {
      name: "run: --push with nothing to push to",
      call: () => answer(() => client.run({ prompt: "x", workspace: { source: { case: "directory", value: "d" }, push: {} } })),
      code: Code.InvalidArgument,
      message: "workspace.push: needs a repository to push to",
    },
    {
      name: "run: a push branch git would not take",
      call: () => answer(() => client.run({ prompt: "x", workspace: { source: { case: "repository", value: { url: "https://example.com/r.git" } }, push: { branch: "bad..name" } } })),
      code: Code.InvalidArgument,
      message: 'workspace.push.branch: contains ".."',
    },
    { name: "ls: an unknown task", call: () => answer(() => client.listFiles({ taskId: UNKNOWN_ID })), code: Code.NotFound, message: `task ${UNKNOWN_ID} not found` },
    { name: "ls: a malformed task id", call: () => answer(() => client.listFiles({ taskId: "a/b" })), code: Code.InvalidArgument, message: "task_id: must be 1-64 letters" },
    { name: "ls: a path with ..", call: () => answer(() => client.listFiles({ taskId: linksTask, path: "../.." })), code: Code.InvalidArgument, message: 'path: must stay inside the task\'s workspace: ".." is not allowed' },
    { name: "cp: an absolute path", call: () => answer(() => client.readFile({ taskId: linksTask, path: "/etc/passwd" })), code: Code.InvalidArgument, message: "path: must be relative to the task's workspace, not absolute" },
    { name: "cp: through claude's link to /etc", call: () => answer(() => client.readFile({ taskId: linksTask, path: "escape/passwd" })), code: Code.InvalidArgument, message: 'path: "escape/passwd" leads out of the task\'s workspace through a symbolic link' },
    { name: "cp: claude's link to a file outside", call: () => answer(() => client.readFile({ taskId: linksTask, path: "escape-file" })), code: Code.InvalidArgument, message: "leads out of the task's workspace through a symbolic link" },
    { name: "ls: into claude's link to /etc", call: () => answer(() => client.listFiles({ taskId: linksTask, path: "escape" })), code: Code.InvalidArgument, message: "leads out of the task's workspace through a symbolic link" },
    {
      name: "cp in: a path with ..",
      call: () => answer(() => client.writeFile(writeOf({ taskId: linksTask, path: "../../outside.txt", type: FileType.FILE, size: 2n }, [Buffer.from("hi")]))),
      code: Code.InvalidArgument,
      message: "header.path: must stay inside the task's workspace",
    },
    {
      name: "cp in: under claude's link to /etc",
      call: () => answer(() => client.writeFile(writeOf({ taskId: linksTask, path: "escape/cc-was-here", type: FileType.FILE, size: 2n }, [Buffer.from("hi")]))),
      code: Code.InvalidArgument,
      message: "leads out of the task's workspace through a symbolic link",
    },
    {
      name: "cp in: over the copy limit",
      call: () => answer(() => client.writeFile(writeOf({ taskId: linksTask, path: "huge", type: FileType.FILE, size: BigInt(MAX_COPY + 1) }, []))),
      code: Code.ResourceExhausted,
      message: `over the worker's limit of ${MAX_COPY} (CC_MAX_COPY_BYTES)`,
    },
    {
      name: "cp in: truncated",
      call: () => answer(() => client.writeFile(writeOf({ taskId: linksTask, path: "half.txt", type: FileType.FILE, size: 10n }, [Buffer.from("12345")]))),
      code: Code.InvalidArgument,
      message: "chunk: the copy ended after 5 of the 10 bytes the header announced (truncated)",
    },
    {
      name: "cp out: over the copy limit",
      call: () => answer(() => client.readFile({ taskId: linksTask, path: "big.bin" })),
      code: Code.ResourceExhausted,
      message: `"big.bin" holds 100000 bytes, over the worker's limit of ${MAX_COPY} for one copy (CC_MAX_COPY_BYTES)`,
    },
    { name: "diff: an unknown task", call: () => answer(() => client.getChanges({ taskId: UNKNOWN_ID })), code: Code.NotFound, message: `task ${UNKNOWN_ID} not found` },
    {
      name: "diff: a task without a git workspace of its own",
      call: () => answer(() => client.getChanges({ taskId: plainTask })),
      code: Code.FailedPrecondition,
      message: /^task [0-9a-z]{26} did not run in a git workspace of its own \(cc run --upload or --repo\), so it has no recorded changes$/,
    },
    {
      name: "diff on the worker: a task it has no changes of",
      call: () => answer(() => direct.getChanges({ taskId: plainTask })),
      code: Code.NotFound,
      message: /^recorded changes of task [0-9a-z]{26} on this worker not found; /,
    },
  ];

  function writeOf(h: { taskId: string; path: string; type: FileType; size: bigint }, chunks: Buffer[]) {
    return (async function* () {
      yield create(WriteFileRequestSchema, { part: { case: "header", value: { ...h, name: "", mode: 0o644 } } });
      for (const c of chunks) yield create(WriteFileRequestSchema, { part: { case: "chunk", value: c } });
    })();
  }

  for (const row of rows) {
    it(row.name, async () => {
      const got = await row.call();
      outcomes.push(`  ${row.name}: ${got.code === undefined ? "accepted" : Code[got.code]}: ${got.message}`);
      expect(got.code === undefined ? "accepted" : Code[got.code], got.message).toBe(Code[row.code]);
      if (typeof row.message === "string") expect(got.message).toContain(row.message);
      else expect(got.message).toMatch(row.message);
    });
  }

  it("a bundle whose pack is corrupt is taken, and its task ends FAILED with git's reason before claude starts", async () => {
    const res = await client.uploadWorkspace(uploadOf(header(bundleHeader), [bundleHeader]));
    const events = await collect(client.run({ prompt: "x", workspace: { source: { case: "upload", value: { uploadId: res.uploadId } } } }));
    expect(ofCase(events, "started")).toEqual([]);
    const exited = ofCase(events, "exited")[0]!;
    expect(exited.reason).toBe(ExitReason.FAILED);
    expect(exited.message).toMatch(/^worker w1 could not run the task: |^unpacking the uploaded checkout failed: /);
    outcomes.push(`  run on a corrupt pack: exited ${ExitReason[exited.reason]}: ${exited.message}`);
  });

  it("diff of a task still running is refused until it ends", async () => {
    const stream = client.run({ prompt: "hang", agent: { allowedTools: ["Bash"] } })[Symbol.asyncIterator]();
    const taskId = (await stream.next()).value!.taskId as string;
    const got = await answer(() => client.getChanges({ taskId }));
    expect(got).toEqual({ code: Code.FailedPrecondition, message: `task ${taskId} is still running; its changes are recorded when it ends` });
    await client.cancelTask({ taskId });
    for (;;) if ((await stream.next()).done) break;
  });

  it("cc apply outside a checkout, and in a checkout of unrelated history, says so and changes nothing", async () => {
    const env = { ...gitUserEnv(join(root, "user-home")), CC_ROUTER_URL: router.url };
    // A task with changes to apply: an uploaded checkout.
    const co = checkout(join(root, "origin"), env);
    co.git("init", "--quiet");
    co.write("a.txt", "a\n");
    co.git("add", ".");
    co.git("commit", "--quiet", "-m", "a");
    const run = await cc(["run", "--allowed-tools", "Bash", "make links"], { cwd: co.dir, env });
    expect(run.code).toBe(0);
    const taskId = /task ([0-9a-z]{26})/.exec(run.stderr)![1]!;
    const outside = realpathSync(mkdtempSync(join(tmpdir(), "cc-not-git-")));
    try {
      const r = await cc(["apply", taskId], { cwd: outside, env });
      expect(r).toMatchObject({ code: 2, stderr: `cc: cc apply works inside a git checkout, and ${outside} is not in one: cd into a clone of the repository task ${taskId} ran on\n` });
      outcomes.push(`  cc apply outside a checkout: exit ${r.code}: ${r.stderr.trim()}`);
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
    const other = checkout(join(root, "unrelated"), env);
    other.git("init", "--quiet");
    other.write("a.txt", "something else\n");
    other.git("add", ".");
    other.git("commit", "--quiet", "-m", "unrelated");
    const r = await cc(["apply", taskId], { cwd: other.dir, env });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^cc: this checkout does not have commit [0-9a-f]{12}, which task .* started from: it is not a clone of the repository the task ran on .* cc apply refuses unrelated history/);
    expect(other.git("status", "--porcelain")).toBe("");
    outcomes.push(`  cc apply on unrelated history: exit ${r.code}: ${r.stderr.trim()}`);
  });

  it("afterwards both services serve, nothing was written outside a workspace, and every task is still known", async () => {
    expect(existsSync(join(root, "outside.txt"))).toBe(false);
    expect(existsSync("/etc/cc-was-here")).toBe(false);
    expect(worker.child.exitCode).toBeNull();
    expect(router.child.exitCode).toBeNull();
    const events = await collect(client.run({ prompt: "all good?" }));
    expect(ofCase(events, "exited")[0]).toMatchObject({ reason: ExitReason.COMPLETED, exitCode: 0 });
    const { tasks } = await client.listTasks({ limit: 1000 });
    for (const id of [linksTask, plainTask]) expect(tasks.map((t) => t.id)).toContain(id);
  });
});
