// Independent clients prove the contract: @grpc/grpc-js with proto-loader reading the same .proto files, and
// `buf curl` with the schema, both streaming a Run from a worker that runs the real claude; and both moving bytes:
// an upload as a client stream (buf curl over gRPC and over Connect on HTTP/1.1, grpc-js), the recorded changes as a
// server stream, a listing of the task's files.
import { execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ScriptedModel } from "../../services/scripted-model/index.js";
import { modelEnv, startModel } from "../helpers/model.js";
import { collect, ofCase, startTestWorker, type TestWorker } from "../helpers/worker.js";

const PROTO_DIR = fileURLToPath(new URL("../../proto", import.meta.url));
const BUF = fileURLToPath(new URL("../../node_modules/.bin/buf", import.meta.url));

interface PlainEvent {
  taskId: string;
  seq: string;
  event?: string;
  started?: { workerId: string };
  status?: { phase: string; detail: string };
  message?: { type: string; json: string };
  exited?: { exitCode: number; reason: string; result?: { totalCostUsd: number; sessionId: string; result: string } };
}

describe("independent clients", () => {
  let model: ScriptedModel;
  let w: TestWorker;

  beforeAll(async () => {
    model = await startModel({ conversations: [{ turns: [{ content: [{ type: "text", text: "contract answer: {{prompt}}" }] }] }] });
    w = await startTestWorker(modelEnv(model));
  });
  afterAll(async () => {
    await w?.close();
    await model?.close();
  });

  it("@grpc/grpc-js with proto-loader streams a Run", async () => {
    const definition = protoLoader.loadSync("claudecluster/v1/worker.proto", { includeDirs: [PROTO_DIR], longs: String, enums: String, defaults: true, oneofs: true });
    const pkg = grpc.loadPackageDefinition(definition) as unknown as { claudecluster: { v1: { WorkerService: grpc.ServiceClientConstructor } } };
    const client = new pkg.claudecluster.v1.WorkerService(w.url.replace("http://", ""), grpc.credentials.createInsecure());
    const events = await new Promise<PlainEvent[]>((resolve, reject) => {
      const out: PlainEvent[] = [];
      const call = client["Run"]!({ prompt: "from grpc-js" }) as grpc.ClientReadableStream<PlainEvent>;
      call.on("data", (e: PlainEvent) => out.push(e));
      call.on("error", reject);
      call.on("end", () => resolve(out));
    });
    client.close();
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => String(i + 1)));
    // The worker's acknowledgement, then claude's start.
    expect(events[0]).toMatchObject({ event: "status", status: { phase: "PHASE_STARTING", detail: "accepted by worker test-worker" } });
    expect(events[1]?.event).toBe("started");
    expect(events.some((e) => e.event === "message" && e.message?.type === "assistant")).toBe(true);
    const exited = events.at(-1)!;
    expect(exited.event).toBe("exited");
    expect(exited.exited).toMatchObject({ exitCode: 0, reason: "EXIT_REASON_COMPLETED" });
    expect(exited.exited?.result?.result).toBe("contract answer: from grpc-js");
    expect(exited.exited?.result?.totalCostUsd).toBeGreaterThan(0);
  });

  it("buf curl over gRPC (h2c prior knowledge) with the schema streams a Run", async () => {
    const stdout = await run(BUF, [
      "curl",
      "--protocol", "grpc",
      "--http2-prior-knowledge",
      "--schema", PROTO_DIR,
      "-d", JSON.stringify({ prompt: "from buf curl" }),
      `${w.url}/claudecluster.v1.WorkerService/Run`,
    ]);
    // buf curl prints each message as a JSON document.
    const events = stdout.trim().split(/\n(?=\{)/).map((doc) => JSON.parse(doc) as PlainEvent);
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => String(i + 1)));
    expect(events[0]?.status?.phase).toBe("PHASE_STARTING");
    expect(events[1]?.started?.workerId).toBe("test-worker");
    expect(events.at(-1)?.exited?.result?.result).toBe("contract answer: from buf curl");
  });

  it("buf curl over the Connect protocol on HTTP/1.1 calls GetInfo", async () => {
    const stdout = await run(BUF, ["curl", "--protocol", "connect", "--schema", PROTO_DIR, `${w.url}/claudecluster.v1.WorkerService/GetInfo`]);
    expect(JSON.parse(stdout)).toMatchObject({ workerId: "test-worker", state: "WORKER_STATE_SERVING", capacity: 4 });
  });
});

describe("independent clients move bytes: uploads, changes and files", () => {
  let model: ScriptedModel;
  let w: TestWorker;
  let repo: string;
  let bundle: Buffer;
  let head: string;

  beforeAll(async () => {
    model = await startModel({
      conversations: [{ turns: [{ content: [{ type: "tool_use", name: "Bash", input: { command: "printf 'changed\\n' > a.txt", description: "Change a.txt" } }] }, { content: [{ type: "text", text: "Done." }] }] }],
    });
    w = await startTestWorker(modelEnv(model));
    repo = mkdtempSync(join(tmpdir(), "cc-contract-repo-"));
    const env = { PATH: process.env["PATH"] ?? "", HOME: repo, GIT_CONFIG_NOSYSTEM: "1", GIT_AUTHOR_NAME: "a", GIT_AUTHOR_EMAIL: "a@b", GIT_COMMITTER_NAME: "a", GIT_COMMITTER_EMAIL: "a@b" };
    const git = (...args: string[]) => execFileSync("git", args, { cwd: repo, env, encoding: "utf8" }).trim();
    git("init", "-q", "-b", "main");
    writeFileSync(join(repo, "a.txt"), "original\n");
    git("add", ".");
    git("commit", "-qm", "one");
    head = git("rev-parse", "HEAD");
    git("bundle", "create", "-q", join(repo, "x.bundle"), "main");
    bundle = readFileSync(join(repo, "x.bundle"));
  });
  afterAll(async () => {
    await w?.close();
    await model?.close();
    rmSync(repo, { recursive: true, force: true });
  });

  const uploadBody = () =>
    JSON.stringify({ header: { kind: "UPLOAD_KIND_GIT_BUNDLE", size: String(bundle.length), sha256: createHash("sha256").update(bundle).digest("hex"), commit: head } }) +
    JSON.stringify({ chunk: bundle.toString("base64") });

  it("buf curl uploads a bundle as a client stream, over gRPC (h2c) and over Connect on HTTP/1.1", async () => {
    for (const protocol of [["--protocol", "grpc", "--http2-prior-knowledge"], ["--protocol", "connect"]]) {
      const out = JSON.parse(await run(BUF, ["curl", ...protocol, "--schema", PROTO_DIR, "-d", uploadBody(), `${w.url}/claudecluster.v1.WorkerService/UploadWorkspace`])) as { uploadId: string; size: string };
      expect(out.uploadId).toMatch(/^u[0-9a-z]{26}$/);
      expect(out.size).toBe(String(bundle.length));
    }
  });

  it("@grpc/grpc-js uploads, a task runs on it, and buf curl reads its changes and files", async () => {
    const definition = protoLoader.loadSync("claudecluster/v1/worker.proto", { includeDirs: [PROTO_DIR], longs: String, enums: String, defaults: true, oneofs: true });
    const pkg = grpc.loadPackageDefinition(definition) as unknown as { claudecluster: { v1: { WorkerService: grpc.ServiceClientConstructor } } };
    const client = new pkg.claudecluster.v1.WorkerService(w.url.replace("http://", ""), grpc.credentials.createInsecure());
    const uploadId = await new Promise<string>((resolve, reject) => {
      const call = client["UploadWorkspace"]!((err: Error | null, res: { uploadId: string }) => (err ? reject(err) : resolve(res.uploadId))) as grpc.ClientWritableStream<unknown>;
      call.write({ header: { kind: "UPLOAD_KIND_GIT_BUNDLE", size: String(bundle.length), sha256: createHash("sha256").update(bundle).digest("hex"), commit: head } });
      for (let i = 0; i < bundle.length; i += 100) call.write({ chunk: bundle.subarray(i, i + 100) });
      call.end();
    });
    client.close();
    const events = await collect(w.client.run({ prompt: "change a file", agent: { allowedTools: ["Bash"] }, workspace: { source: { case: "upload", value: { uploadId } } } }));
    const taskId = events[0]!.taskId;
    expect(ofCase(events, "exited")[0]?.changes?.files.map((f) => f.path)).toEqual(["a.txt"]);

    const docs = (await run(BUF, ["curl", "--protocol", "grpc", "--http2-prior-knowledge", "--schema", PROTO_DIR, "-d", JSON.stringify({ taskId }), `${w.url}/claudecluster.v1.WorkerService/GetChanges`]))
      .trim()
      .split(/\n(?=\{)/)
      .map((d) => JSON.parse(d) as { header?: { summary: { baseCommit: string }; size: string }; data?: string });
    expect(docs[0]?.header?.summary.baseCommit).toBe(head);
    const patch = Buffer.concat(docs.slice(1).map((d) => Buffer.from(d.data ?? "", "base64"))).toString("utf8");
    expect(patch).toContain("-original\n+changed\n");
    expect(Buffer.byteLength(patch)).toBe(Number(docs[0]?.header?.size));

    const listing = JSON.parse(await run(BUF, ["curl", "--protocol", "connect", "--schema", PROTO_DIR, "-d", JSON.stringify({ taskId }), `${w.url}/claudecluster.v1.WorkerService/ListFiles`])) as {
      entries: { name: string; type: string }[];
    };
    expect(listing.entries.map((e) => `${e.name} ${e.type}`)).toEqual([".git FILE_TYPE_DIRECTORY", "a.txt FILE_TYPE_FILE"]);
  });
});

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} exited ${code}: ${err}`))));
  });
}
