// Independent clients prove the contract: @grpc/grpc-js with proto-loader reading the same .proto files, and
// `buf curl` with the schema, both streaming a Run from a worker that runs the real claude.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ScriptedModel } from "../../services/scripted-model/index.js";
import { modelEnv, startModel } from "../helpers/model.js";
import { startTestWorker, type TestWorker } from "../helpers/worker.js";

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
