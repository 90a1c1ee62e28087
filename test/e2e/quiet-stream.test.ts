// 150 s of silence through the router: the real claude waits on a model turn that answers after 150 s (longer than
// any idle timeout the servers had), while three independent clients follow the one task — `cc run` that started
// it, an Attach from @grpc/grpc-js and an Attach from `buf curl`. None of them may be cut, and all see the answer.
// It takes about 2.5 minutes, nearly all of it waiting: `npm test` runs it apart from the timing-sensitive tests
// (scripts/test.sh, beside the load test).
import { spawn } from "node:child_process";
import { mkdtempSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startLocalCluster, type LocalCluster } from "../../services/cluster/local.js";
import { silentLogger } from "../../services/common/logger.js";
import type { ScriptedModel } from "../../services/scripted-model/index.js";
import { jsonDocuments, runCommand } from "../helpers/command.js";
import { modelEnv, startModel } from "../helpers/model.js";
import { waitForNoProcessesUnder } from "../helpers/processes.js";
import { until } from "../helpers/wait.js";

const SILENCE_MS = 150_000;
const PROTO_DIR = fileURLToPath(new URL("../../proto", import.meta.url));
const BUF = fileURLToPath(new URL("../../node_modules/.bin/buf", import.meta.url));
const CC = fileURLToPath(new URL("../../dist/cc/main.js", import.meta.url));

interface PlainEvent {
  taskId: string;
  seq: string;
  event?: string;
  message?: { type: string };
  exited?: { exitCode: number; reason: string; result?: { result: string } };
}

function grpcAttach(url: string, taskId: string): Promise<PlainEvent[]> {
  const definition = protoLoader.loadSync("claudecluster/v1/router.proto", { includeDirs: [PROTO_DIR], longs: String, enums: String, defaults: true, oneofs: true });
  const pkg = grpc.loadPackageDefinition(definition) as unknown as { claudecluster: { v1: { RouterService: grpc.ServiceClientConstructor } } };
  const client = new pkg.claudecluster.v1.RouterService(url.replace("http://", ""), grpc.credentials.createInsecure());
  return new Promise<PlainEvent[]>((resolve, reject) => {
    const out: PlainEvent[] = [];
    const call = client["Attach"]!({ taskId }) as grpc.ClientReadableStream<PlainEvent>;
    call.on("data", (e: PlainEvent) => out.push(e));
    call.on("error", reject);
    call.on("end", () => resolve(out));
  }).finally(() => client.close());
}

function ccRun(env: Record<string, string>, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CC, ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString("utf8")));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString("utf8")));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

describe("a stream quiet for 150 s", () => {
  let model: ScriptedModel;
  let cluster: LocalCluster;
  let root: string;

  beforeAll(async () => {
    root = realpathSync(mkdtempSync(join(tmpdir(), "cc-test-quiet-")));
    model = await startModel({ conversations: [{ match: "quiet", turns: [{ delayMs: SILENCE_MS, content: [{ type: "text", text: "after the silence" }] }] }] });
    cluster = await startLocalCluster({
      workers: 1,
      env: { ...modelEnv(model), CC_LOG_LEVEL: "silent" },
      claudeHome: join(root, "home"),
      workspaceRoot: join(root, "workspaces"),
      logger: silentLogger(),
    });
  });

  afterAll(async () => {
    await cluster?.close();
    await model?.close();
    const left = root ? await waitForNoProcessesUnder(root) : [];
    if (root) rmSync(root, { recursive: true, force: true });
    expect(left).toEqual([]);
  });

  it("reaches cc, grpc-js and buf curl whole, with no cut and no re-attach", async () => {
    const cc = ccRun(
      { PATH: process.env["PATH"] ?? "/usr/bin:/bin", HOME: join(root, "user-home"), XDG_CONFIG_HOME: join(root, "config"), CC_ROUTER_URL: cluster.url, NO_COLOR: "1" },
      ["run", "quiet please"],
    );
    // The silence begins when claude's request reaches the model, which holds its answer for SILENCE_MS.
    await until(() => model.mainRequests().length > 0, 60_000);
    const [task] = cluster.router.tasks.active();
    const beforeSilence = task!.log.lastSeq;
    const [ccResult, grpcEvents, bufResult] = await Promise.all([
      cc,
      grpcAttach(cluster.url, task!.id),
      runCommand(BUF, ["curl", "--protocol", "grpc", "--http2-prior-knowledge", "--schema", PROTO_DIR, "-d", JSON.stringify({ taskId: task!.id }), `${cluster.url}/claudecluster.v1.RouterService/Attach`]),
    ]);

    // cc: the answer, a clean summary, no word of a lost stream.
    expect(ccResult.stderr).not.toMatch(/lost|re-attach/);
    expect(ccResult).toMatchObject({ code: 0, stdout: "after the silence\n" });

    // grpc-js: the whole log, gapless, ending in exited.
    expect(grpcEvents.map((e) => e.seq)).toEqual(grpcEvents.map((_, i) => String(i + 1)));
    expect(grpcEvents.at(-1)?.exited).toMatchObject({ exitCode: 0, reason: "EXIT_REASON_COMPLETED", result: { result: "after the silence" } });
    // The premise: nothing at all crossed the stream while the model held its answer. Everything after the request
    // reached the model is the answer itself (claude's stream events, the assistant message and result) and exited.
    const afterSilence = grpcEvents.filter((e) => BigInt(e.seq) > beforeSilence);
    expect(afterSilence.slice(0, -1).every((e) => e.event === "message" && ["stream_event", "assistant", "result"].includes(e.message!.type))).toBe(true);
    expect(afterSilence.at(-1)?.event).toBe("exited");

    // buf curl: exit 0 and the same events.
    expect(bufResult.stderr).toBe("");
    expect(bufResult.code).toBe(0);
    expect(jsonDocuments<PlainEvent>(bufResult.stdout).map((e) => e.seq)).toEqual(grpcEvents.map((e) => e.seq));
    expect(model.mainRequests().length).toBe(1);
  }, SILENCE_MS + 90_000);
});
