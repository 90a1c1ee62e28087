// Hostile inputs, table-driven, against a router and a worker running as real processes (so a crash shows): bad
// fields, oversized and malformed messages over Connect and gRPC, odd task ids, tokens that are missing, wrong or in
// the wrong place, bogus worker registrations. Every row states the code a user should get and a fragment of a message
// that tells them what to do; after each batch a normal Run through the router still completes with the real claude
// against the scripted model, both processes are alive and no task record was lost.
import { mkdtempSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { create, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { WireType } from "@bufbuild/protobuf/wire";
import { Code, ConnectError, createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { AnswerPermissionRequestSchema, PermissionDecision } from "../../gen/claudecluster/v1/permissions_pb.js";
import { RouterService } from "../../gen/claudecluster/v1/router_pb.js";
import { ExitReason, RunMode, type RunEvent, RunRequestSchema } from "../../gen/claudecluster/v1/run_pb.js";
import { WorkerInfoSchema, WorkerService, WorkerState } from "../../gen/claudecluster/v1/worker_pb.js";
import type { ScriptedModel } from "../../services/scripted-model/index.js";
import { modelEnv, startModel } from "../helpers/model.js";
import { waitForNoProcessesUnder } from "../helpers/processes.js";
import {
  type Answer,
  bytesField,
  codeName,
  connectStream,
  connectUnary,
  envelope,
  grpcCall,
  grpcWebCall,
  http1Raw,
  minusOneVarint,
  protoFields,
} from "../helpers/raw-rpc.js";
import { spawnRouterProcess, type RouterProcess } from "../helpers/router-process.js";
import { collect, ofCase } from "../helpers/worker.js";
import { spawnWorkerProcess, type WorkerProcess } from "../helpers/worker-process.js";

const PROTO_DIR = fileURLToPath(new URL("../../proto", import.meta.url));
const CLIENT_TOKEN = "client-token-for-hostile-inputs";
const WORKER_TOKEN = "worker-token-for-hostile-inputs";
/** CC_MAX_PROMPT_BYTES left at its default on both. */
const PROMPT_LIMIT = 1024 * 1024;
/** What both accept as one request message: the prompt limit plus 256 KiB for the other fields (server.ts). */
const READ_MAX_BYTES = PROMPT_LIMIT + 256 * 1024;
const UNKNOWN_ID = "01j0000000zzzzzzzzzzzzzzzz";
const LONG_ID = "a".repeat(300);
const CONTROL_ID = "abc\u001b[2J\r\nfake log line";

type Req = MessageInitShape<typeof RunRequestSchema>;
type TargetName = "router" | "worker";

/** What a row expects: the code, and fragments the message must contain. */
interface Expected {
  code: Code | undefined;
  message: (string | RegExp)[];
  httpStatus?: number;
}

interface Target {
  name: TargetName;
  url: string;
  /** Path prefix of the target's own service. */
  service: string;
  /** Typed clients for Run on either target, with the right token. */
  run: (req: Req) => AsyncIterable<RunEvent>;
  /** The right token's header. */
  auth: Record<string, string>;
}

interface Row {
  name: string;
  targets: TargetName[];
  call: (t: Target) => Promise<Answer>;
  expect: Expected | ((t: Target) => Expected);
}

const bearer = (value: string | undefined): Interceptor[] =>
  value === undefined
    ? []
    : [
        (next) => (req) => {
          req.header.set("authorization", value);
          return next(req);
        },
      ];

/** The code and message of a call that settles, or of the first event of a stream (then abandoned). */
async function answerOf(call: () => Promise<unknown> | AsyncIterable<unknown>): Promise<Answer> {
  try {
    const result = call();
    if (result && typeof result === "object" && Symbol.asyncIterator in result) {
      for await (const first of result as AsyncIterable<RunEvent>) {
        return { code: undefined, message: `accepted: the stream started with ${first.event.case}` };
      }
      return { code: undefined, message: "accepted: an empty stream" };
    }
    await result;
    return { code: undefined, message: "" };
  } catch (err) {
    const e = ConnectError.from(err);
    return { code: e.code, message: e.rawMessage };
  }
}

const invalid = (...message: (string | RegExp)[]): Expected => ({ code: Code.InvalidArgument, message });

/** A ResizeRequest (or SendInputRequest: field 1 is the task id in both) with raw fields after the task id. */
function withTaskId(taskId: string, rest: Uint8Array = new Uint8Array()): Uint8Array {
  const head = protoFields((w) => w.tag(1, WireType.LengthDelimited).string(taskId));
  return new Uint8Array([...head, ...rest]);
}

describe("hostile inputs", () => {
  let model: ScriptedModel;
  let root: string;
  let router: RouterProcess;
  let worker: WorkerProcess;
  let routerClient: Client<typeof RouterService>;
  let workerClient: Client<typeof WorkerService>;
  const targets = {} as Record<TargetName, Target>;
  /** Every task the router accepted, which ListTasks must keep showing. */
  const taskIds: string[] = [];
  /** Each row's outcome, printed at the end for the report. */
  const outcomes: string[] = [];

  /**
   * Clients for the 10 MB rows. A Node HTTP/2 session refuses to queue more than maxSessionMemory (10 MB by default)
   * of outgoing data, so with the default a 10 MB message fails inside the client with ENHANCE_YOUR_CALM, and that
   * connection stays unusable, before the server has a say; these rows are about the server's answer.
   */
  const bigRuns = new Map<TargetName, (req: Req) => AsyncIterable<RunEvent>>();
  const bigRun = (t: Target, req: Req) => {
    if (!bigRuns.has(t.name)) {
      const transport = createGrpcTransport({ baseUrl: t.url, interceptors: bearer(t.auth["authorization"]), nodeOptions: { maxSessionMemory: 64 } });
      const client = t.name === "router" ? createClient(RouterService, transport) : createClient(WorkerService, transport);
      bigRuns.set(t.name, (r) => client.run(r));
    }
    return bigRuns.get(t.name)!(req);
  };

  /** A Run from @grpc/grpc-js reading the .proto files: how a client that knows nothing of Connect sees the answer. */
  function grpcJsRun(t: Target, req: { prompt: string }): Promise<Answer> {
    const file = t.name === "router" ? "claudecluster/v1/router.proto" : "claudecluster/v1/worker.proto";
    const pkg = grpc.loadPackageDefinition(protoLoader.loadSync(file, { includeDirs: [PROTO_DIR] })) as unknown as {
      claudecluster: { v1: Record<string, grpc.ServiceClientConstructor> };
    };
    const Service = pkg.claudecluster.v1[t.name === "router" ? "RouterService" : "WorkerService"]!;
    const client = new Service(t.url.replace("http://", ""), grpc.credentials.createInsecure());
    const metadata = new grpc.Metadata();
    metadata.set("authorization", t.auth["authorization"]!);
    return new Promise<Answer>((resolve) => {
      const call = (client as unknown as Record<string, (r: object, m: grpc.Metadata) => grpc.ClientReadableStream<unknown>>)["Run"]!(req, metadata);
      call.on("data", () => call.cancel());
      call.on("error", (err: grpc.ServiceError) => resolve({ code: err.code === grpc.status.OK ? undefined : (err.code as number as Code), message: err.details }));
      call.on("end", () => resolve({ code: undefined, message: "accepted" }));
    }).finally(() => client.close());
  }

  const routerAs = (authorization: string | undefined) => createClient(RouterService, createGrpcTransport({ baseUrl: router.url, interceptors: bearer(authorization) }));
  const workerAs = (authorization: string | undefined) => createClient(WorkerService, createGrpcTransport({ baseUrl: worker.url, interceptors: bearer(authorization) }));

  beforeAll(async () => {
    root = realpathSync(mkdtempSync(join(tmpdir(), "cc-test-hostile-")));
    model = await startModel({ conversations: [{ turns: [{ content: [{ type: "text", text: "answer to {{prompt}}" }] }] }] });
    router = await spawnRouterProcess({
      CC_TOKEN: CLIENT_TOKEN,
      CC_WORKER_TOKEN: WORKER_TOKEN,
      CC_HEARTBEAT_INTERVAL: "500ms",
      CC_CALLER_GRACE: "1s",
    });
    worker = await spawnWorkerProcess("hw1", {
      ...modelEnv(model),
      CC_ROUTER_URL: router.url,
      CC_WORKER_TOKEN: WORKER_TOKEN,
      CC_CLAUDE_HOME: join(root, "home"),
      CC_WORKSPACE_ROOT: join(root, "ws"),
      CC_KILL_GRACE: "2s",
      CC_DISCONNECT_GRACE: "1s",
    });
    routerClient = routerAs(`Bearer ${CLIENT_TOKEN}`);
    workerClient = workerAs(`Bearer ${WORKER_TOKEN}`);
    targets.router = {
      name: "router",
      url: router.url,
      service: "/claudecluster.v1.RouterService",
      run: (req) => routerClient.run(req),
      auth: { authorization: `Bearer ${CLIENT_TOKEN}` },
    };
    targets.worker = {
      name: "worker",
      url: worker.url,
      service: "/claudecluster.v1.WorkerService",
      run: (req) => workerClient.run(req),
      auth: { authorization: `Bearer ${WORKER_TOKEN}` },
    };
    const online = async () => (await routerClient.listWorkers({})).workers.some((w) => w.id === "hw1" && w.info?.state === WorkerState.SERVING);
    const deadline = Date.now() + 20_000;
    while (!(await online())) {
      if (Date.now() > deadline) throw new Error(`worker never came online:\n${worker.logs.join("\n")}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    await stillServing("start");
  });

  afterAll(async () => {
    console.log(`hostile inputs, as answered:\n${outcomes.join("\n")}`);
    router?.child.kill("SIGTERM");
    worker?.child.kill("SIGTERM");
    await Promise.all([router?.exited, worker?.exited]);
    await model?.close();
    const left = root ? await waitForNoProcessesUnder(root) : [];
    if (root) rmSync(root, { recursive: true, force: true });
    expect(left).toEqual([]);
  });

  afterEach(() => {
    // A crash would show here first: both processes outlive every row.
    expect(router.child.exitCode, router.logs.slice(-20).join("\n")).toBeNull();
    expect(worker.child.exitCode, worker.logs.slice(-20).join("\n")).toBeNull();
  });

  /** A normal Run through the router completes with the real claude; every task seen so far is still listed. */
  async function stillServing(after: string): Promise<void> {
    expect(router.child.exitCode).toBeNull();
    expect(worker.child.exitCode).toBeNull();
    const prompt = `still serving after ${after}`;
    const events = await collect(routerClient.run({ prompt }));
    const exited = ofCase(events, "exited")[0];
    expect(exited, JSON.stringify(events.map((e) => e.event.case))).toMatchObject({ exitCode: 0, reason: ExitReason.COMPLETED });
    expect(exited?.result?.result).toBe(`answer to ${prompt}`);
    taskIds.push(events[0]!.taskId);
    const listed = (await routerClient.listTasks({ limit: 1000 })).tasks.map((t) => t.id);
    expect(taskIds.filter((id) => !listed.includes(id))).toEqual([]);
  }

  /** Runs one row against one target and checks code and message. */
  async function check(row: Row, targetName: TargetName): Promise<void> {
    const t = targets[targetName];
    const want = typeof row.expect === "function" ? row.expect(t) : row.expect;
    const got = await row.call(t);
    const shown = got.message.length > 300 ? `${got.message.slice(0, 300)}… (${got.message.length} chars)` : got.message;
    const ok =
      got.code === want.code &&
      want.message.every((m) => (typeof m === "string" ? got.message.includes(m) : m.test(got.message))) &&
      (want.httpStatus === undefined || got.httpStatus === want.httpStatus);
    outcomes.push(
      `${ok ? "ok  " : "FAIL"} ${targetName.padEnd(6)} ${row.name} → ${codeName(got.code)}${got.httpStatus ? ` (HTTP ${got.httpStatus})` : ""}: ${JSON.stringify(shown)}` +
        (ok ? "" : `  [expected ${codeName(want.code)} with ${want.message.map(String).join(" & ")}]`),
    );
    expect({ code: codeName(got.code), message: shown }).toMatchObject({ code: codeName(want.code) });
    for (const m of want.message) {
      if (typeof m === "string") expect(got.message).toContain(m);
      else expect(got.message).toMatch(m);
    }
    if (want.httpStatus !== undefined) expect(got.httpStatus).toBe(want.httpStatus);
  }

  const cases = (rows: Row[]) => rows.flatMap((row) => row.targets.map((target) => ({ label: `${target}: ${row.name}`, row, target })));

  // ---------------------------------------------------------------------------------------------------------------
  describe("Run requests with bad fields (typed gRPC client)", () => {
    const run = (req: Req) => (t: Target) => answerOf(() => t.run(req));
    const both: TargetName[] = ["router", "worker"];
    const rows: Row[] = [
      { name: "empty prompt", targets: both, call: run({ prompt: "" }), expect: invalid("prompt: is empty", "needs a prompt") },
      { name: "whitespace-only prompt", targets: both, call: run({ prompt: " \n\t " }), expect: invalid("prompt: is empty") },
      {
        name: "10 MB prompt (over CC_MAX_PROMPT_BYTES and the message limit)",
        targets: both,
        call: (t) => answerOf(() => bigRun(t, { prompt: "x".repeat(10 * 1024 * 1024) })),
        // The message limit (prompt limit + 256 KiB) refuses it before any field is read: RESOURCE_EXHAUSTED, with
        // the limit and the setting that raises it.
        expect: { code: Code.ResourceExhausted, message: ["10485765 bytes", `limit of ${READ_MAX_BYTES} bytes`, "CC_MAX_PROMPT_BYTES"] },
      },
      {
        name: "10 MB prompt, then a normal call on the same connection",
        targets: both,
        call: async (t) => {
          await answerOf(() => bigRun(t, { prompt: "x".repeat(10 * 1024 * 1024) }));
          return answerOf(() => bigRun(t, { prompt: "" }));
        },
        // The refused request's unread bytes must not leave the connection stuck.
        expect: invalid("prompt: is empty"),
      },
      {
        name: "10 MB prompt over the Connect protocol (HTTP/1.1 streaming)",
        targets: both,
        call: (t) => connectStream(t.url, `${t.service}/Run`, envelope(toBinary(RunRequestSchema, create(RunRequestSchema, { prompt: "x".repeat(10 * 1024 * 1024) }))), { headers: t.auth }),
        expect: { code: Code.ResourceExhausted, message: ["10485765 bytes", `limit of ${READ_MAX_BYTES} bytes`, "CC_MAX_PROMPT_BYTES"] },
      },
      {
        name: "empty prompt from grpc-js (message readable, not percent-encoded)",
        targets: both,
        call: (t) => grpcJsRun(t, { prompt: "" }),
        expect: invalid("prompt: is empty; a headless task needs a prompt"),
      },
      {
        name: "prompt one byte over CC_MAX_PROMPT_BYTES",
        targets: both,
        call: run({ prompt: "x".repeat(PROMPT_LIMIT + 1) }),
        expect: invalid(`prompt: is ${PROMPT_LIMIT + 1} bytes, over the limit of ${PROMPT_LIMIT}`, "shorten it"),
      },
      { name: "prompt with a NUL", targets: both, call: run({ prompt: "a\0b" }), expect: invalid("prompt: contains a NUL") },
      { name: "mode = 99 (unknown enum value)", targets: both, call: run({ prompt: "x", mode: 99 as RunMode }), expect: invalid("mode: unknown value 99", "RUN_MODE_HEADLESS") },
      { name: 'permission mode "42"', targets: both, call: run({ prompt: "x", agent: { permissionMode: "42" } }), expect: invalid('agent.permission_mode: unknown mode "42"', "use one of") },
      {
        name: "terminal rows 0",
        targets: both,
        call: run({ prompt: "x", mode: RunMode.INTERACTIVE, terminal: { cols: 80, rows: 0 } }),
        expect: invalid("terminal.rows: must be from 1 to 1000, got 0"),
      },
      {
        name: "terminal cols 100000",
        targets: both,
        call: run({ prompt: "x", mode: RunMode.INTERACTIVE, terminal: { cols: 100_000, rows: 40 } }),
        expect: invalid("terminal.cols: must be from 1 to 1000, got 100000"),
      },
      { name: "workspace.directory ../etc", targets: both, call: run({ prompt: "x", workspace: { source: { case: "directory", value: "../etc" } } }), expect: invalid("workspace.directory", "relative path") },
      { name: "workspace.directory /abs", targets: both, call: run({ prompt: "x", workspace: { source: { case: "directory", value: "/etc" } } }), expect: invalid("workspace.directory", "relative path") },
      {
        name: "workspace.directory a/../../b",
        targets: both,
        call: run({ prompt: "x", workspace: { source: { case: "directory", value: "a/../../b" } } }),
        expect: invalid("workspace.directory", "relative path"),
      },
      { name: "workspace.directory a\\0b", targets: both, call: run({ prompt: "x", workspace: { source: { case: "directory", value: "a\0b" } } }), expect: invalid("workspace.directory", "may contain only") },
      ...[
        ["ext::sh -c touch% /tmp/pwned", /whitespace|transport helper/],
        ["ext::sh", 'transport helper ("::")'],
        ["file:///etc", 'uses the scheme "file://"'],
        ["-uoption", 'must not start with "-"'],
        ["http://example.com/repo.git", 'uses the scheme "http://"'],
        ["git://example.com/repo.git", 'uses the scheme "git://"'],
        ["/srv/repo.git", "is a local path"],
        ["https://user:secret@example.com/repo.git", "must not carry credentials"],
      ].map(([url, problem]): Row => ({
        name: `repository url ${JSON.stringify(url)}`,
        targets: both,
        call: run({ prompt: "x", workspace: { source: { case: "repository", value: { url: url as string } } } }),
        // Repository workspaces are validated in validate-run.ts (a clone is refused before it starts).
        expect: invalid("workspace.repository.url", problem!, "only https://"),
      })),
      { name: "timeout 0", targets: both, call: run({ prompt: "x", timeout: { seconds: 0n, nanos: 0 } }), expect: invalid("timeout: must be positive and at most 86400s") },
      { name: "timeout -5s", targets: both, call: run({ prompt: "x", timeout: { seconds: -5n, nanos: 0 } }), expect: invalid("timeout: must be positive") },
      { name: "timeout 25h, over CC_MAX_TASK_TIMEOUT (24h)", targets: both, call: run({ prompt: "x", timeout: { seconds: 25n * 3600n, nanos: 0 } }), expect: invalid("timeout: must be positive and at most 86400s") },
      { name: 'model "--dangerously-skip-permissions"', targets: both, call: run({ prompt: "x", agent: { model: "--dangerously-skip-permissions" } }), expect: invalid('agent.model: must not start with "-"') },
      { name: 'allowed_tools ["Bash", "--foo"]', targets: both, call: run({ prompt: "x", agent: { allowedTools: ["Bash", "--foo"] } }), expect: invalid('agent.allowed_tools[1]: must not start with "-"') },
      { name: 'allowed_tools ["Bash\\n--foo"]', targets: both, call: run({ prompt: "x", agent: { allowedTools: ["Bash\n--foo"] } }), expect: invalid("agent.allowed_tools[0]: contains a NUL or newline") },
      { name: 'disallowed_tools [""]', targets: both, call: run({ prompt: "x", agent: { disallowedTools: [""] } }), expect: invalid("agent.disallowed_tools[0]: is empty") },
      {
        name: 'resume_session_id "--fork-session"',
        targets: both,
        call: run({ prompt: "x", agent: { resumeSessionId: "--fork-session" } }),
        // It travels as --resume=--fork-session, so it cannot become a flag; but like model and the tool lists, a value
        // that looks like an option is refused up front rather than started as a task that then fails.
        expect: invalid("agent.resume_session_id"),
      },
      { name: "task_id with control characters", targets: both, call: run({ prompt: "x", taskId: CONTROL_ID }), expect: invalid("task_id: must be 1-64 letters") },
      { name: 'worker_id "../hw1"', targets: ["router"], call: run({ prompt: "x", workerId: "../hw1" }), expect: invalid("worker_id: must be 1-64 letters") },
      { name: 'label key "a b"', targets: both, call: run({ prompt: "x", labels: { "a b": "x" } }), expect: invalid('labels: key "a b" must be') },
      { name: "env HOME (reserved by the worker)", targets: both, call: run({ prompt: "x", env: { HOME: "/tmp" } }), expect: invalid("env: HOME is reserved by the worker") },
      { name: "env ANTHROPIC_BASE_URL (would send the worker's key elsewhere)", targets: both, call: run({ prompt: "x", env: { ANTHROPIC_BASE_URL: "http://evil.example" } }), expect: invalid("env: ANTHROPIC_BASE_URL is reserved by the worker (every ANTHROPIC_* name is)") },
      { name: "env name with control characters", targets: both, call: run({ prompt: "x", env: { "A\u001b[2JB": "v" } }), expect: invalid("env:", "is not a variable name") },
      { name: "env value of 1 MiB", targets: both, call: run({ prompt: "x", env: { BIG: "x".repeat(1024 * 1024) } }), expect: invalid("env: the value of BIG is over 32 KiB") },
      { name: "add_dirs ../up", targets: both, call: run({ prompt: "x", agent: { addDirs: ["../up"] } }), expect: invalid("agent.add_dirs[0]", "relative path") },
      { name: "settings_json that is not JSON", targets: both, call: run({ prompt: "x", agent: { settingsJson: "{" } }), expect: invalid("agent.settings_json: is not valid JSON") },
      { name: 'fallback_model "--verbose"', targets: both, call: run({ prompt: "x", agent: { fallbackModel: "--verbose" } }), expect: invalid('agent.fallback_model: must not start with "-"') },
      { name: "json_schema for an interactive task", targets: both, call: run({ prompt: "x", mode: RunMode.INTERACTIVE, agent: { jsonSchema: "{}" } }), expect: invalid("agent.json_schema: applies to headless tasks only") },
    ];
    it.each(cases(rows))("$label", ({ row, target }) => check(row, target));
    it("still serving", () => stillServing("bad Run fields"));
  });

  // ---------------------------------------------------------------------------------------------------------------
  describe("task ids: unknown, overlong, with control characters, empty", () => {
    type Rpc = { name: string; target: TargetName; call: (id: string) => Promise<unknown> | AsyncIterable<unknown> };
    const rpcs: Rpc[] = [
      { name: "Attach", target: "router", call: (id) => routerClient.attach({ taskId: id }) },
      { name: "GetTask", target: "router", call: (id) => routerClient.getTask({ taskId: id }) },
      { name: "CancelTask", target: "router", call: (id) => routerClient.cancelTask({ taskId: id }) },
      { name: "SendInput", target: "router", call: (id) => routerClient.sendInput({ taskId: id, input: { case: "text", value: "x" } }) },
      { name: "Resize", target: "router", call: (id) => routerClient.resize({ taskId: id, size: { cols: 80, rows: 24 } }) },
      { name: "SendInput", target: "worker", call: (id) => workerClient.sendInput({ taskId: id, input: { case: "text", value: "x" } }) },
      { name: "Resize", target: "worker", call: (id) => workerClient.resize({ taskId: id, size: { cols: 80, rows: 24 } }) },
      { name: "Cancel", target: "worker", call: (id) => workerClient.cancel({ taskId: id }) },
    ];
    // Malformed ids are refused as INVALID_ARGUMENT before any lookup, so they are never echoed back into messages
    // and logs; well-formed unknown ones are NOT_FOUND naming the id.
    const rows: Row[] = rpcs.flatMap((rpc): Row[] => [
      { name: `${rpc.name} unknown id`, targets: [rpc.target], call: () => answerOf(() => rpc.call(UNKNOWN_ID)), expect: { code: Code.NotFound, message: [`task ${UNKNOWN_ID} not found`] } },
      { name: `${rpc.name} 300-character id`, targets: [rpc.target], call: () => answerOf(() => rpc.call(LONG_ID)), expect: invalid("task_id", "64") },
      { name: `${rpc.name} id with control characters`, targets: [rpc.target], call: () => answerOf(() => rpc.call(CONTROL_ID)), expect: invalid("task_id", "letters, digits") },
      { name: `${rpc.name} empty id`, targets: [rpc.target], call: () => answerOf(() => rpc.call("")), expect: invalid("task_id", "required") },
    ]);
    it.each(cases(rows))("$label", ({ row, target }) => check(row, target));
  });

  // ---------------------------------------------------------------------------------------------------------------
  describe("tokens", () => {
    const routerCall = (authorization: string | undefined) => () => answerOf(() => routerAs(authorization).listTasks({}));
    const workerCall = (authorization: string | undefined) => () => answerOf(() => workerAs(authorization).getInfo({}));
    const routerToken = "router token (CC_TOKEN)";
    const workerToken = "worker token (CC_WORKER_TOKEN)";
    const unauthenticated = (...message: string[]): Expected => ({ code: Code.Unauthenticated, message });
    const register = (authorization: string) => () =>
      answerOf(() => routerAs(authorization).registerWorker({ url: "http://127.0.0.1:1", info: { workerId: "intruder", state: WorkerState.SERVING, capacity: 4 } }));
    const rows: Row[] = [
      { name: "ListTasks without a token", targets: ["router"], call: routerCall(undefined), expect: unauthenticated(`missing ${routerToken}`, "Bearer <token>") },
      { name: "ListTasks with a wrong token", targets: ["router"], call: routerCall("Bearer nope"), expect: unauthenticated(`wrong ${routerToken}`) },
      { name: "ListTasks with Basic scheme", targets: ["router"], call: routerCall(`Basic ${Buffer.from(`u:${CLIENT_TOKEN}`).toString("base64")}`), expect: unauthenticated(routerToken, 'send "authorization: Bearer <token>"') },
      { name: "ListTasks with trailing garbage after the token", targets: ["router"], call: routerCall(`Bearer ${CLIENT_TOKEN} garbage`), expect: unauthenticated(`wrong ${routerToken}`) },
      { name: "ListTasks with the worker token", targets: ["router"], call: routerCall(`Bearer ${WORKER_TOKEN}`), expect: unauthenticated(`wrong ${routerToken}`) },
      { name: "RegisterWorker with the client token", targets: ["router"], call: register(`Bearer ${CLIENT_TOKEN}`), expect: unauthenticated(`wrong ${workerToken}`) },
      { name: "GetInfo without a token", targets: ["worker"], call: workerCall(undefined), expect: unauthenticated(`missing ${workerToken}`, "Bearer <token>") },
      { name: "GetInfo with a wrong token", targets: ["worker"], call: workerCall("Bearer nope"), expect: unauthenticated(`wrong ${workerToken}`) },
      { name: "GetInfo with Basic scheme", targets: ["worker"], call: workerCall(`Basic ${Buffer.from(`u:${WORKER_TOKEN}`).toString("base64")}`), expect: unauthenticated(workerToken, 'send "authorization: Bearer <token>"') },
      { name: "GetInfo with trailing garbage after the token", targets: ["worker"], call: workerCall(`Bearer ${WORKER_TOKEN} garbage`), expect: unauthenticated(`wrong ${workerToken}`) },
      { name: "GetInfo with the client token", targets: ["worker"], call: workerCall(`Bearer ${CLIENT_TOKEN}`), expect: unauthenticated(`wrong ${workerToken}`) },
      {
        name: "Run without a token (gRPC)",
        targets: ["router", "worker"],
        call: (t) => answerOf(() => (t.name === "router" ? routerAs(undefined).run({ prompt: "x" }) : workerAs(undefined).run({ prompt: "x" }))),
        expect: (t) => unauthenticated(`missing ${t.name === "router" ? routerToken : workerToken}`),
      },
      {
        name: "no token and a malformed body (Connect unary)",
        targets: ["router", "worker"],
        call: (t) => connectUnary(t.url, `${t.service}/${t.name === "router" ? "GetTask" : "Cancel"}`, new Uint8Array([0x0a, 0xff])),
        // The token is checked before the body is read or parsed: a caller without one learns nothing else.
        expect: (t) => unauthenticated(`missing ${t.name === "router" ? routerToken : workerToken}`),
      },
    ];
    it.each(cases(rows))("$label", ({ row, target }) => check(row, target));
    it("still serving", () => stillServing("token rows"));
  });

  // ---------------------------------------------------------------------------------------------------------------
  describe("malformed bytes on the wire (raw Connect and gRPC)", () => {
    const both: TargetName[] = ["router", "worker"];
    /** A unary method whose field 1 is a string (the task id) on each target. */
    const unary = (t: Target) => `${t.service}/${t.name === "router" ? "GetTask" : "Cancel"}`;
    const run = (t: Target) => `${t.service}/Run`;
    const badUtf8 = bytesField(1, new Uint8Array([0x61, 0xff, 0xfe, 0x62]));
    const truncatedVarint = new Uint8Array([0x0a, 0xff]); // field 1, length-delimited, length varint cut short
    const wrongWireType = new Uint8Array([0x08, 0x01]); // field 1 (a string) sent as a varint
    /** INVALID_ARGUMENT naming the message type, what was wrong with the bytes, and what to check. */
    const parseError =
      (method: "unary" | "run", detail: string | RegExp) =>
      (t: Target): Expected => {
        const type = method === "run" ? "RunRequest" : t.name === "router" ? "GetTaskRequest" : "CancelRequest";
        return invalid(`the request is not a valid claudecluster.v1.${type} message`, detail, "this service's .proto");
      };
    const rows: Row[] = [
      {
        name: "invalid UTF-8 in a string field (Connect unary, application/proto)",
        targets: both,
        call: (t) => connectUnary(t.url, unary(t), badUtf8, { headers: t.auth }),
        expect: parseError("unary", /not valid for encoding utf-8/),
      },
      {
        name: "invalid UTF-8 in the prompt (Connect streaming Run)",
        targets: both,
        call: (t) => connectStream(t.url, run(t), envelope(badUtf8), { headers: t.auth }),
        expect: parseError("run", /not valid for encoding utf-8/),
      },
      {
        name: "invalid UTF-8 in the prompt (gRPC Run)",
        targets: both,
        call: (t) => grpcCall(t.url, run(t), envelope(badUtf8), { headers: t.auth }),
        expect: parseError("run", /not valid for encoding utf-8/),
      },
      {
        name: "truncated varint (Connect unary)",
        targets: both,
        call: (t) => connectUnary(t.url, unary(t), truncatedVarint, { headers: t.auth }),
        expect: parseError("unary", "premature EOF"),
      },
      {
        name: "truncated varint (gRPC unary)",
        targets: both,
        call: (t) => grpcCall(t.url, unary(t), envelope(truncatedVarint), { headers: t.auth }),
        expect: parseError("unary", "premature EOF"),
      },
      {
        name: "wrong wire type for a string field (Connect unary)",
        targets: both,
        call: (t) => connectUnary(t.url, unary(t), wrongWireType, { headers: t.auth }),
        expect: parseError("unary", "premature EOF"),
      },
      {
        name: "wrong wire type for a string field (gRPC Run)",
        targets: both,
        call: (t) => grpcCall(t.url, run(t), envelope(wrongWireType), { headers: t.auth }),
        expect: parseError("run", "premature EOF"),
      },
      {
        name: "gRPC frame declaring 100 bytes, carrying 10",
        targets: both,
        call: (t) => grpcCall(t.url, unary(t), envelope(new Uint8Array(10), { length: 100 }), { headers: t.auth }),
        expect: invalid("incomplete envelope"),
      },
      {
        name: "gRPC frame length over readMaxBytes",
        targets: both,
        call: (t) => grpcCall(t.url, run(t), envelope(new Uint8Array(16), { length: 0x7fffffff }), { headers: t.auth }),
        expect: { code: Code.ResourceExhausted, message: [String(0x7fffffff), String(READ_MAX_BYTES)] },
      },
      {
        name: "gRPC frame with the compressed flag and no grpc-encoding",
        targets: both,
        call: (t) => grpcCall(t.url, unary(t), envelope(new Uint8Array([0x0a, 0x01, 0x61]), { flags: 1 }), { headers: t.auth }),
        // The gRPC spec makes a compressed flag without a message encoding a protocol violation (INTERNAL, as
        // grpc-go and connect-go answer too); the message says what was wrong.
        expect: { code: Code.Internal, message: ["compressed"] },
      },
      {
        name: "gRPC unary with no message at all",
        targets: both,
        call: (t) => grpcCall(t.url, unary(t), new Uint8Array(), { headers: t.auth }),
        // The gRPC spec's code for a request cardinality violation.
        expect: { code: Code.Unimplemented, message: ["missing input message"] },
      },
      {
        name: "malformed Run request message (gRPC, field 3 truncated)",
        targets: both,
        call: (t) => grpcCall(t.url, run(t), envelope(new Uint8Array([0x0a, 0x01, 0x61, 0x1a, 0x05, 0x0a])), { headers: t.auth }),
        expect: parseError("run", "premature EOF"),
      },
      {
        name: "truncated varint (gRPC-web unary)",
        targets: both,
        call: (t) => grpcWebCall(t.url, unary(t), envelope(truncatedVarint), { headers: t.auth }),
        expect: parseError("unary", "premature EOF"),
      },
      {
        name: "10 MB Connect unary body (Content-Length over the limit)",
        targets: both,
        call: (t) => connectUnary(t.url, unary(t), bytesField(2, new Uint8Array(10 * 1024 * 1024)), { headers: t.auth }),
        expect: { code: Code.ResourceExhausted, message: [`limit of ${READ_MAX_BYTES} bytes`, "CC_MAX_PROMPT_BYTES"], httpStatus: 429 },
      },
      {
        name: "Content-Type text/plain (Connect)",
        targets: both,
        call: (t) => connectUnary(t.url, unary(t), "hello", { contentType: "text/plain", headers: t.auth }),
        // Connect spec: 415 Unsupported Media Type, which clients map to UNKNOWN.
        expect: { code: Code.Unknown, message: [], httpStatus: 415 },
      },
      {
        name: "JSON body with a wrong type for a field (Connect unary, application/json)",
        targets: both,
        call: (t) => connectUnary(t.url, unary(t), JSON.stringify({ taskId: 5 }), { contentType: "application/json", headers: t.auth }),
        expect: invalid(/taskId|task_id/),
      },
      {
        name: "grpc-timeout header that is not a duration",
        targets: both,
        call: (t) => grpcCall(t.url, unary(t), envelope(protoFields((w) => w.tag(1, WireType.LengthDelimited).string(UNKNOWN_ID))), { headers: { ...t.auth, "grpc-timeout": "soon" } }),
        expect: invalid(/timeout/i),
      },
      {
        name: "64 KiB header (HTTP/1.1)",
        targets: both,
        call: (t) =>
          http1Raw(
            t.url,
            `POST ${unary(t)} HTTP/1.1\r\nHost: x\r\nContent-Type: application/proto\r\nContent-Length: 0\r\nX-Junk: ${"j".repeat(64 * 1024)}\r\n\r\n`,
          ),
        // Node's HTTP/1.1 parser refuses headers over 16 KiB before any handler runs.
        expect: { code: Code.Unknown, message: ["Request Header Fields Too Large"], httpStatus: 431 },
      },
      {
        name: "64 KiB header (HTTP/2)",
        targets: both,
        call: (t) => grpcCall(t.url, unary(t), envelope(new Uint8Array()), { headers: { ...t.auth, "x-junk": "j".repeat(64 * 1024) } }),
        // Over Node's HTTP/2 header list limit: the stream is refused (REFUSED_STREAM), which gRPC clients report as
        // UNAVAILABLE; the connection and the server carry on.
        expect: { code: Code.Unavailable, message: ["REFUSED_STREAM"] },
      },
    ];
    it.each(cases(rows))("$label", ({ row, target }) => check(row, target));
    it("still serving", () => stillServing("malformed bytes"));
  });

  // ---------------------------------------------------------------------------------------------------------------
  describe("router only: worker registrations and listings", () => {
    const info = (workerId: string) => create(WorkerInfoSchema, { workerId, state: WorkerState.SERVING, capacity: 4 });
    const register = (url: string, workerId = "bogus") => () =>
      answerOf(() => createClient(RouterService, createGrpcTransport({ baseUrl: router.url, interceptors: bearer(`Bearer ${WORKER_TOKEN}`) })).registerWorker({ url, info: info(workerId) }));
    const rows: Row[] = [
      { name: "RegisterWorker url javascript:alert(1)", targets: ["router"], call: register("javascript:alert(1)"), expect: invalid("url", "http://") },
      { name: "RegisterWorker url http:// (no host)", targets: ["router"], call: register("http://"), expect: invalid("url", "http://") },
      { name: "RegisterWorker url http:///path (no host)", targets: ["router"], call: register("http:///path"), expect: invalid("url", "host") },
      { name: "RegisterWorker url of 10,000 characters", targets: ["router"], call: register(`http://127.0.0.1:9/${"a".repeat(10_000)}`), expect: invalid("url", "characters") },
      { name: "RegisterWorker url with credentials", targets: ["router"], call: register("http://user:pw@127.0.0.1:9"), expect: invalid("url", "credentials") },
      { name: "RegisterWorker worker_id with control characters", targets: ["router"], call: register("http://127.0.0.1:9", "evil\u001b[2J\nid"), expect: invalid("info.worker_id") },
      { name: "RegisterWorker worker_id of 300 characters", targets: ["router"], call: register("http://127.0.0.1:9", "w".repeat(300)), expect: invalid("info.worker_id") },
      { name: "ListTasks limit 1000000000", targets: ["router"], call: () => answerOf(() => routerClient.listTasks({ limit: 1_000_000_000 })), expect: invalid("limit: must be at most 1000") },
      { name: "ListTasks with a page token it did not issue", targets: ["router"], call: () => answerOf(() => routerClient.listTasks({ pageToken: "../../etc/passwd" })), expect: invalid("page_token: is not a token ListTasks returned") },
      { name: "ListTasks worker_id with control characters", targets: ["router"], call: () => answerOf(() => routerClient.listTasks({ workerId: "a\u001b[2J" })), expect: invalid("worker_id: must be 1-64 letters") },
      {
        name: "ListTasks limit -1 (int64 varint in a uint32 field)",
        targets: ["router"],
        call: (t) => connectUnary(t.url, `${t.service}/ListTasks`, minusOneVarint(2), { headers: t.auth }),
        expect: invalid("limit: must be at most 1000"),
      },
    ];
    it.each(cases(rows))("$label", ({ row, target }) => check(row, target));
    it("no bogus worker was registered", async () => {
      const workers = (await routerClient.listWorkers({})).workers;
      expect(workers.map((w) => `${w.id} ${w.url.slice(0, 60)}`)).toEqual([expect.stringMatching(/^hw1 http:\/\/127\.0\.0\.1:\d+$/)]);
    });
    it("still serving", () => stillServing("registrations"));
  });

  // ---------------------------------------------------------------------------------------------------------------
  describe("permission answers", () => {
    const answer = (t: Target, req: MessageInitShape<typeof AnswerPermissionRequestSchema>) =>
      answerOf(() => (t.name === "router" ? routerClient.answerPermission(req) : workerClient.answerPermission(req)));
    const unknownTask = "01jb3k5x2q7w9h4r8t6y1m0c3d";
    const ok = { taskId: unknownTask, requestId: "r1", decision: PermissionDecision.ALLOW };
    const both: TargetName[] = ["router", "worker"];
    const rows: Row[] = [
      { name: "AnswerPermission without task_id", targets: both, call: (t) => answer(t, { ...ok, taskId: "" }), expect: invalid("task_id", "required") },
      { name: "AnswerPermission task_id with control characters", targets: both, call: (t) => answer(t, { ...ok, taskId: "evil\u001b[2J" }), expect: invalid("task_id") },
      { name: "AnswerPermission without request_id", targets: both, call: (t) => answer(t, { ...ok, requestId: "" }), expect: invalid("request_id", "required") },
      { name: "AnswerPermission request_id of 500 characters", targets: both, call: (t) => answer(t, { ...ok, requestId: "r".repeat(500) }), expect: invalid("request_id", "at most 128") },
      { name: "AnswerPermission request_id with a newline", targets: both, call: (t) => answer(t, { ...ok, requestId: "r1\nr2" }), expect: invalid("request_id") },
      { name: "AnswerPermission without a decision", targets: both, call: (t) => answer(t, { ...ok, decision: PermissionDecision.UNSPECIFIED }), expect: invalid("decision", "PERMISSION_DECISION_ALLOW") },
      { name: "AnswerPermission decision 99 (unknown enum value)", targets: both, call: (t) => answer(t, { ...ok, decision: 99 as PermissionDecision }), expect: invalid("decision") },
      { name: "AnswerPermission updated_input_json a JSON array", targets: both, call: (t) => answer(t, { ...ok, updatedInputJson: "[1,2]" }), expect: invalid("updated_input_json", "JSON object") },
      { name: "AnswerPermission updated_input_json not JSON", targets: both, call: (t) => answer(t, { ...ok, updatedInputJson: "{nope" }), expect: invalid("updated_input_json", "not valid JSON") },
      { name: "AnswerPermission updated_input_json of 1.1 MiB", targets: both, call: (t) => answer(t, { ...ok, updatedInputJson: `{"a":"${"x".repeat(1_150_000)}"}` }), expect: invalid("updated_input_json", "1048576 bytes") },
      { name: "AnswerPermission deny message of 5000 characters", targets: both, call: (t) => answer(t, { ...ok, decision: PermissionDecision.DENY, message: "m".repeat(5000) }), expect: invalid("message", "4096") },
      { name: "AnswerPermission allow with a message", targets: both, call: (t) => answer(t, { ...ok, message: "why" }), expect: invalid("message", "DENY only") },
      {
        name: "AnswerPermission for an unknown task",
        targets: both,
        call: (t) => answer(t, ok),
        expect: (t) => ({ code: Code.NotFound, message: [t.name === "router" ? `task ${unknownTask} not found` : "not running on this worker"] }),
      },
      {
        name: "AnswerPermission for an ended task",
        targets: ["router"],
        call: (t) => answer(t, { ...ok, taskId: taskIds[0]! }),
        expect: () => ({ code: Code.FailedPrecondition, message: [`task ${taskIds[0]} has ended`] }),
      },
    ];
    it.each(cases(rows))("$label", ({ row, target }) => check(row, target));
    it("still serving", () => stillServing("permission answers"));
  });

  // ---------------------------------------------------------------------------------------------------------------
  describe("input and resizes for a live interactive task", () => {
    let taskId = "";
    let headlessId = "";
    let stream: AsyncIterator<RunEvent> | undefined;
    const size = (t: Target, cols: number, rows: number) =>
      answerOf(() => (t.name === "router" ? routerClient.resize({ taskId, size: { cols, rows } }) : workerClient.resize({ taskId, size: { cols, rows } })));

    beforeAll(async () => {
      headlessId = taskIds[0]!;
      stream = routerClient.run({ mode: RunMode.INTERACTIVE, terminal: { cols: 80, rows: 24 } })[Symbol.asyncIterator]();
      for (let r = await stream.next(); !r.done; r = await stream.next()) {
        taskId = r.value.taskId;
        if (r.value.event.case === "started") break;
      }
      taskIds.push(taskId);
    });
    afterAll(async () => {
      if (taskId) await routerClient.cancelTask({ taskId, reason: "hostile inputs done" }).catch(() => {});
      if (stream) for (let r = await stream.next().catch(() => ({ done: true as const })); !r.done; r = await stream.next());
    });

    const rows: Row[] = [
      { name: "Resize rows 0", targets: ["router", "worker"], call: (t) => size(t, 80, 0), expect: invalid("size", "1 to 1000") },
      { name: "Resize rows 100000", targets: ["router", "worker"], call: (t) => size(t, 80, 100_000), expect: invalid("size", "1 to 1000") },
      {
        name: "Resize cols -1 (int64 varint in a uint32 field)",
        targets: ["router", "worker"],
        call: (t) => {
          const terminal = new Uint8Array([...minusOneVarint(1), ...protoFields((w) => w.tag(2, WireType.Varint).uint32(24))]);
          return connectUnary(t.url, `${t.service}/Resize`, withTaskId(taskId, bytesField(2, terminal)), { headers: t.auth });
        },
        expect: invalid("size", "1 to 1000"),
      },
      {
        name: "SendInput with neither data nor text",
        targets: ["router", "worker"],
        call: (t) => answerOf(() => (t.name === "router" ? routerClient.sendInput({ taskId }) : workerClient.sendInput({ taskId }))),
        expect: invalid("input", "set data or text"),
      },
      {
        name: "SendInput of 1.1 MiB",
        targets: ["router", "worker"],
        call: (t) => {
          const input = { case: "data" as const, value: new Uint8Array(1024 * 1024 + 100_000) };
          return answerOf(() => (t.name === "router" ? routerClient.sendInput({ taskId, input }) : workerClient.sendInput({ taskId, input })));
        },
        expect: invalid("input", "1 MiB", "in pieces"),
      },
      {
        name: "SendInput to an ended headless task",
        targets: ["router"],
        call: () => answerOf(() => routerClient.sendInput({ taskId: headlessId, input: { case: "text", value: "x" } })),
        expect: () => ({ code: Code.FailedPrecondition, message: [`task ${headlessId} has ended`] }),
      },
    ];
    it.each(cases(rows))("$label", ({ row, target }) => check(row, target));
    it("the interactive task still runs on its worker", async () => {
      const task = await routerClient.getTask({ taskId });
      expect(task.workerId).toBe("hw1");
      expect(task.exit).toBeUndefined();
    });
  });

  describe("after everything", () => {
    it("still serving, with every earlier task listed", () => stillServing("everything"));
    it("logged no unexpected error: every row was answered on purpose, none masked as INTERNAL", () => {
      const severe = (logs: string[]) =>
        logs.filter((line) => {
          try {
            return (JSON.parse(line) as { level?: number }).level! >= 50;
          } catch {
            return true; // not pino: a crash or a stray console.error
          }
        });
      expect(severe(router.logs)).toEqual([]);
      expect(severe(worker.logs)).toEqual([]);
    });
    it("serialized a RunRequest the way the rows above assume", () => {
      // Guards the hand-built bytes: field 1 of RunRequest is the prompt.
      expect([...toBinary(RunRequestSchema, create(RunRequestSchema, { prompt: "a" }))]).toEqual([0x0a, 0x01, 0x61]);
    });
  });
});
