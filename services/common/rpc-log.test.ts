import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Client, type ServiceImpl } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterEach, describe, expect, it } from "vitest";
import { ExitReason, RunEventSchema, type RunEvent } from "../../gen/claudecluster/v1/run_pb.js";
import { WorkerService } from "../../gen/claudecluster/v1/worker_pb.js";
import { until } from "../../test/helpers/wait.js";
import { bearerAuth, errorBoundary } from "./interceptors.js";
import { createLogger, prettyLine } from "./logger.js";
import { createConnectHandler } from "./node-adapter.js";
import { REQUEST_ID, requestIdHeaders, rpcLog, saneRequestId, type RpcLogOptions } from "./rpc-log.js";
import { createDualServer, type DualServer } from "./serve.js";

type Line = Record<string, unknown>;

/** A stand-in worker: Run says `started` on w-9 and exits, or fails, or waits for its caller to leave. */
const fakeWorker: Partial<ServiceImpl<typeof WorkerService>> = {
  async *run(req, ctx) {
    const taskId = req.taskId || "t-direct";
    const event = (body: RunEvent["event"]): RunEvent => create(RunEventSchema, { taskId, event: body });
    yield event({ case: "started", value: { $typeName: "claudecluster.v1.Started", workerId: "w-9", pid: 1, mode: 1, workspace: "/ws", claudeVersion: "", attempt: 1 } });
    if (req.prompt === "fail") throw new ConnectError("no room", Code.ResourceExhausted);
    if (req.prompt === "hang") {
      await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve));
      return;
    }
    yield event({ case: "exited", value: { $typeName: "claudecluster.v1.Exited", exitCode: 0, signal: "", reason: ExitReason.COMPLETED, message: "" } });
  },
  cancel(req) {
    throw new ConnectError(`task ${req.taskId} not found`, Code.NotFound);
  },
  // Echoes the request id the handler sees.
  getInfo(_req, ctx) {
    return { workerId: ctx.values.get(REQUEST_ID) };
  },
  sendInput() {
    return {};
  },
};

describe("rpcLog", () => {
  let server: DualServer | undefined;
  afterEach(async () => {
    await server?.close(0);
    server = undefined;
  });

  async function start(level: string, options: RpcLogOptions = {}, token = ""): Promise<{ lines: Line[]; client: Client<typeof WorkerService> }> {
    const lines: Line[] = [];
    const logger = createLogger("worker", level, { format: "json", destination: { write: (s: string) => void lines.push(JSON.parse(s) as Line) } });
    const handler = createConnectHandler({
      logger,
      routes: (router) => router.service(WorkerService, fakeWorker),
      interceptors: [rpcLog(logger, options), errorBoundary(logger), bearerAuth(token ? [token] : [], "worker token")],
    });
    server = createDualServer(handler);
    const port = await server.listen(0, "127.0.0.1");
    return { lines, client: createClient(WorkerService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${port}` })) };
  }

  const rpcLines = (lines: Line[]) => lines.filter((l) => l["msg"] === "rpc");

  it("writes one line per stream when it ends: code ok, task and worker from the events, the caller's request id", async () => {
    const { lines, client } = await start("info");
    let echoed: string | null = null;
    const events = [];
    for await (const e of client.run({ prompt: "hi", taskId: "t1" }, { headers: { "x-request-id": "req-1.A_b" }, onHeader: (h) => (echoed = h.get("x-request-id")) })) events.push(e);
    expect(events).toHaveLength(2);
    expect(echoed).toBe("req-1.A_b");
    const [line, ...more] = rpcLines(lines);
    expect(more).toEqual([]);
    expect(line).toMatchObject({ level: 30, component: "worker", method: "claudecluster.v1.WorkerService/Run", code: "ok", requestId: "req-1.A_b", taskId: "t1", workerId: "w-9", messages: 2 });
    expect(line!["durationMs"]).toBeTypeOf("number");
    expect(line).not.toHaveProperty("error");
  });

  it("takes the task id from the first event when the request has none", async () => {
    const { lines, client } = await start("info");
    for await (const _ of client.run({ prompt: "hi" }));
    expect(rpcLines(lines)[0]).toMatchObject({ taskId: "t-direct", workerId: "w-9" });
  });

  it("replaces a request id that is too long or has odd characters, and hands its own to the handler", async () => {
    const { client } = await start("info");
    for (const bad of ["has space", "x".repeat(65), "semi;colon"]) {
      const info = await client.getInfo({}, { headers: { "x-request-id": bad } });
      expect(info.workerId).not.toBe(bad);
      expect(info.workerId).toMatch(/^[0-9a-f-]{36}$/);
    }
    expect((await client.getInfo({}, { headers: { "x-request-id": "x".repeat(64) } })).workerId).toBe("x".repeat(64));
    expect(saneRequestId("a.b-c_D9")).toBe("a.b-c_D9");
    expect(saneRequestId("")).toBeUndefined();
    expect(requestIdHeaders("r1")).toEqual({ "x-request-id": "r1" });
    expect(requestIdHeaders("")).toEqual({});
  });

  it("unary calls: the task id from the request, the Connect code name and message of a failure", async () => {
    const { lines, client } = await start("info", { workerOf: (id) => (id === "t-7" ? "w-placed" : undefined) });
    await expect(client.cancel({ taskId: "t-7" })).rejects.toThrow("task t-7 not found");
    expect(rpcLines(lines)).toEqual([
      expect.objectContaining({ method: "claudecluster.v1.WorkerService/Cancel", code: "not_found", taskId: "t-7", workerId: "w-placed", error: "task t-7 not found" }),
    ]);
  });

  it("a stream that fails after some events: its code and how many messages went out", async () => {
    const { lines, client } = await start("info", { workerId: "self" });
    await expect(
      (async () => {
        for await (const _ of client.run({ prompt: "fail", taskId: "t2" }));
      })(),
    ).rejects.toThrow("no room");
    expect(rpcLines(lines)[0]).toMatchObject({ code: "resource_exhausted", taskId: "t2", workerId: "w-9", messages: 1, error: "no room" });
  });

  it("a caller that goes away: canceled, logged when the stream ends", async () => {
    const { lines, client } = await start("info");
    const controller = new AbortController();
    await expect(
      (async () => {
        for await (const _ of client.run({ prompt: "hang", taskId: "t3" }, { signal: controller.signal })) controller.abort();
      })(),
    ).rejects.toThrow();
    await until(() => rpcLines(lines).length > 0, 5000);
    expect(rpcLines(lines)[0]).toMatchObject({ code: "canceled", taskId: "t3", messages: 1 });
  });

  it("routine calls (GetInfo, health, reflection, RegisterWorker) only at debug, unless they fail", async () => {
    const quiet = await start("info");
    await quiet.client.getInfo({});
    expect(rpcLines(quiet.lines)).toEqual([]);
    await server!.close(0);
    const chatty = await start("debug");
    await chatty.client.getInfo({});
    expect(rpcLines(chatty.lines)).toEqual([expect.objectContaining({ level: 20, method: "claudecluster.v1.WorkerService/GetInfo", code: "ok" })]);
  });

  it("never logs the token; the prompt only at debug, truncated", async () => {
    const token = "tok-0123456789-secret";
    const prompt = `distinctive-prompt-${"p".repeat(300)}`;
    for (const level of ["info", "debug"]) {
      const { lines, client } = await start(level, {}, token);
      for await (const _ of client.run({ prompt, taskId: "t4" }, { headers: { authorization: `Bearer ${token}` } }));
      await expect(client.sendInput({ taskId: "t4", input: { case: "text", value: "typed" } })).rejects.toMatchObject({ code: Code.Unauthenticated });
      const all = lines.map((l) => JSON.stringify(l));
      expect(all.some((l) => l.includes(token))).toBe(false);
      expect(rpcLines(lines).map((l) => l["code"])).toEqual(["ok", "unauthenticated"]);
      const info = lines.filter((l) => (l["level"] as number) >= 30).map((l) => JSON.stringify(l));
      expect(info.some((l) => l.includes("distinctive-prompt"))).toBe(false);
      const debug = lines.filter((l) => l["msg"] === "rpc request");
      if (level === "info") expect(debug).toEqual([]);
      else expect(debug[0]).toMatchObject({ level: 20, taskId: "t4", prompt: prompt.slice(0, 200) });
      await server!.close(0);
      server = undefined;
    }
  });
});

describe("pretty log lines", () => {
  it("time, level, component, message, then key=value", () => {
    const time = new Date(2026, 0, 2, 12, 34, 56, 789).getTime(); // local time, as the line shows it
    const line = JSON.stringify({ level: 30, time, component: "router", msg: "rpc", method: "claudecluster.v1.RouterService/Run", code: "ok", durationMs: 3.2, note: "two words" });
    expect(prettyLine(line)).toBe('12:34:56.789 INFO  router rpc method=claudecluster.v1.RouterService/Run code=ok durationMs=3.2 note="two words"\n');
    const err = JSON.stringify({ level: 50, time, component: "worker", msg: "unexpected error", err: { message: "boom", stack: "Error: boom\n    at x" } });
    expect(prettyLine(err)).toBe("12:34:56.789 ERROR worker unexpected error err=boom\n    Error: boom\n        at x\n");
    expect(prettyLine("not json")).toBe("not json\n");
  });

  it("auto: pretty on a terminal, JSON elsewhere; CC_LOG_FORMAT-style overrides", () => {
    const written = (format: "json" | "pretty" | "auto", isTTY: boolean) => {
      const out: string[] = [];
      createLogger("worker", "info", { format, destination: { write: (s: string) => void out.push(s), isTTY } }).info({ a: 1 }, "hello");
      return out[0]!;
    };
    expect(written("auto", true)).toMatch(/^\d\d:\d\d:\d\d\.\d{3} INFO  worker hello a=1\n$/);
    expect(JSON.parse(written("auto", false))).toMatchObject({ component: "worker", msg: "hello", a: 1 });
    expect(JSON.parse(written("json", true))).toMatchObject({ msg: "hello" });
    expect(written("pretty", false)).toContain("INFO  worker hello a=1");
  });
});
