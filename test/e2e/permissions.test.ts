// Permission prompts relayed, with the real claude against the scripted model, through the router: a Bash call not
// in the allowlist becomes a permission_request event; AnswerPermission allows it (the command ran), denies it (the
// model is sent the denial), or allows the tool for the rest of the task (the next call runs without asking);
// nobody answering denies it after the worker's timeout; a task whose caller left keeps waiting until then; and bad
// answers get clear codes.
import { existsSync, mkdtempSync, readFileSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PermissionDecision, PermissionResolution, type PermissionRequest } from "../../gen/claudecluster/v1/permissions_pb.js";
import { RouterService, TaskStatus } from "../../gen/claudecluster/v1/router_pb.js";
import { ExitReason, Phase, type RunEvent } from "../../gen/claudecluster/v1/run_pb.js";
import { startLocalCluster, type LocalCluster } from "../../services/cluster/local.js";
import { silentLogger } from "../../services/common/logger.js";
import type { Script, ScriptedModel } from "../../services/scripted-model/index.js";
import { modelEnv, startModel } from "../helpers/model.js";
import { waitForNoProcessesUnder } from "../helpers/processes.js";
import { until } from "../helpers/wait.js";
import { collect, ofCase } from "../helpers/worker.js";

const bash = (command: string) => ({ content: [{ type: "tool_use" as const, name: "Bash", input: { command, description: "run it" } }] });
const text = (t: string) => ({ content: [{ type: "text" as const, text: t }] });
const SCRIPT: Script = {
  conversations: [
    { match: "perm-allow", turns: [bash("echo allowed > allowed.txt"), text("finished allow")] },
    { match: "perm-deny", turns: [bash("echo no > denied.txt"), text("finished deny")] },
    { match: "perm-always", turns: [bash("echo 1 > one.txt"), bash("echo 2 > two.txt"), text("finished always")] },
    { match: "perm-edit", turns: [bash("echo original > edited.txt"), text("finished edit")] },
    { match: "perm-wait", turns: [bash("echo late > late.txt"), text("finished wait")] },
    { match: "perm-none", turns: [text("nothing to ask")] },
  ],
};

type Answer = { decision: PermissionDecision; message?: string; updatedInputJson?: string };

/** The tool results claude sent the model, across every recorded request, by tool_use id. */
function toolResultsSent(model: ScriptedModel): Map<string, { content: string; isError: boolean }> {
  const out = new Map<string, { content: string; isError: boolean }>();
  for (const req of model.mainRequests()) {
    const messages = (req.body as { messages?: { role: string; content: unknown }[] }).messages ?? [];
    for (const m of messages) {
      if (!Array.isArray(m.content)) continue;
      for (const block of m.content as { type: string; tool_use_id?: string; content?: unknown; is_error?: boolean }[]) {
        if (block.type !== "tool_result" || !block.tool_use_id) continue;
        const content = typeof block.content === "string" ? block.content : JSON.stringify(block.content);
        out.set(block.tool_use_id, { content, isError: block.is_error === true });
      }
    }
  }
  return out;
}

describe("permission prompts relayed through the router", () => {
  let model: ScriptedModel;
  let cluster: LocalCluster;
  let quick: LocalCluster;
  let client: Client<typeof RouterService>;
  let quickClient: Client<typeof RouterService>;
  let root: string;

  const clusterOptions = (name: string, env: Record<string, string>) => ({
    env: { ...modelEnv(model), CC_KILL_GRACE: "2s", CC_LOG_LEVEL: "silent", ...env },
    claudeHome: join(root, "home"),
    workspaceRoot: join(root, name),
    logger: silentLogger(),
  });

  beforeAll(async () => {
    root = realpathSync(mkdtempSync(join(tmpdir(), "cc-test-permissions-")));
    model = await startModel(SCRIPT);
    cluster = await startLocalCluster(clusterOptions("ws", { CC_PERMISSION_TIMEOUT: "5m" }));
    // Requests here time out quickly; callers that leave are given up on much sooner than that.
    quick = await startLocalCluster(clusterOptions("ws-quick", { CC_PERMISSION_TIMEOUT: "3s", CC_CALLER_GRACE: "200ms" }));
    client = createClient(RouterService, createGrpcTransport({ baseUrl: cluster.url }));
    quickClient = createClient(RouterService, createGrpcTransport({ baseUrl: quick.url }));
  });

  afterAll(async () => {
    await cluster?.close();
    await quick?.close();
    await model?.close();
    const left = root ? await waitForNoProcessesUnder(root) : [];
    if (root) rmSync(root, { recursive: true, force: true });
    expect(left).toEqual([]);
  });

  /** Runs a task that asks, answering each request with `answer` (undefined: leave it waiting). */
  async function runAnswering(prompt: string, answer: (request: PermissionRequest, taskId: string) => Answer | undefined, c = client): Promise<RunEvent[]> {
    const events: RunEvent[] = [];
    for await (const event of c.run({ prompt, agent: { askPermissions: true } })) {
      events.push(event);
      if (event.event.case !== "permissionRequest") continue;
      const a = answer(event.event.value, event.taskId);
      if (a) await c.answerPermission({ taskId: event.taskId, requestId: event.event.value.requestId, ...a });
    }
    return events;
  }

  const workspaceOf = (events: RunEvent[]) => ofCase(events, "started")[0]!.workspace;

  it("asks, and an allow runs the command: the file exists and claude saw no error", async () => {
    const events = await runAnswering("perm-allow", () => ({ decision: PermissionDecision.ALLOW }));
    const [request] = ofCase(events, "permissionRequest");
    expect(request).toMatchObject({ toolName: "Bash", summary: "Bash(echo allowed > allowed.txt)", reason: "run it" });
    expect(JSON.parse(request!.inputJson)).toEqual({ command: "echo allowed > allowed.txt", description: "run it" });
    expect(request!.requestId).not.toBe("");
    const statuses = ofCase(events, "status").map((s) => s.phase);
    expect(statuses).toContain(Phase.WAITING_FOR_APPROVAL);
    expect(statuses.at(-1)).toBe(Phase.RUNNING);
    expect(ofCase(events, "permissionResolved")).toMatchObject([{ requestId: request!.requestId, decision: PermissionDecision.ALLOW, resolution: PermissionResolution.ANSWERED }]);
    expect(readFileSync(join(workspaceOf(events), "allowed.txt"), "utf8")).toBe("allowed\n");
    expect(toolResultsSent(model).get(request!.toolUseId)).toMatchObject({ isError: false });
    // The control protocol never shows up as claude's output.
    expect(ofCase(events, "message").some((m) => m.type.startsWith("control_"))).toBe(false);
    expect(ofCase(events, "exited")[0]).toMatchObject({ exitCode: 0, reason: ExitReason.COMPLETED, result: { result: "finished allow" } });
  });

  it("a deny does not run it, and the model is sent the denial", async () => {
    const events = await runAnswering("perm-deny", () => ({ decision: PermissionDecision.DENY, message: "not on my machine" }));
    const [request] = ofCase(events, "permissionRequest");
    expect(existsSync(join(workspaceOf(events), "denied.txt"))).toBe(false);
    expect(toolResultsSent(model).get(request!.toolUseId)).toEqual({ content: "not on my machine", isError: true });
    expect(ofCase(events, "permissionResolved")[0]).toMatchObject({ decision: PermissionDecision.DENY, message: "not on my machine" });
    expect(ofCase(events, "exited")[0]).toMatchObject({ exitCode: 0, result: { result: "finished deny" } });
  });

  it("allow-always runs the call and the next Bash call without asking again", async () => {
    const events = await runAnswering("perm-always", () => ({ decision: PermissionDecision.ALLOW_ALWAYS }));
    expect(ofCase(events, "permissionRequest")).toHaveLength(1);
    const ws = workspaceOf(events);
    expect(readFileSync(join(ws, "one.txt"), "utf8")).toBe("1\n");
    expect(readFileSync(join(ws, "two.txt"), "utf8")).toBe("2\n");
    expect(ofCase(events, "exited")[0]).toMatchObject({ exitCode: 0, result: { result: "finished always" } });
  });

  it("an allow with an updated input runs that input instead", async () => {
    const events = await runAnswering("perm-edit", () => ({ decision: PermissionDecision.ALLOW, updatedInputJson: JSON.stringify({ command: "echo changed > edited.txt" }) }));
    expect(readFileSync(join(workspaceOf(events), "edited.txt"), "utf8")).toBe("changed\n");
  });

  it("gives bad answers clear codes while the request waits, then takes a good one", async () => {
    const failures: { code: Code; message: string }[] = [];
    const attempt = (p: Promise<unknown>) =>
      p.then(
        () => failures.push({ code: Code.Unknown, message: "succeeded" }),
        (err: unknown) => failures.push({ code: ConnectError.from(err).code, message: ConnectError.from(err).rawMessage }),
      );
    const events: RunEvent[] = [];
    for await (const event of client.run({ prompt: "perm-wait", agent: { askPermissions: true } })) {
      events.push(event);
      if (event.event.case !== "permissionRequest") continue;
      const taskId = event.taskId;
      const requestId = event.event.value.requestId;
      // The record says what waits, for callers that come late.
      const record = await client.getTask({ taskId });
      expect(record.pendingPermissions.map((p) => p.requestId)).toEqual([requestId]);
      expect(record.status).toBe(TaskStatus.RUNNING);
      await attempt(client.answerPermission({ taskId, requestId: "no-such-request", decision: PermissionDecision.ALLOW }));
      await attempt(client.answerPermission({ taskId, requestId, decision: PermissionDecision.ALLOW, updatedInputJson: '"rm -rf /"' }));
      await attempt(client.answerPermission({ taskId, requestId, decision: PermissionDecision.ALLOW, updatedInputJson: "{not json" }));
      await attempt(client.answerPermission({ taskId, requestId }));
      await attempt(client.answerPermission({ taskId: "01jb3k5x2q7w9h4r8t6y1m0c3d", requestId, decision: PermissionDecision.ALLOW }));
      await client.answerPermission({ taskId, requestId, decision: PermissionDecision.ALLOW });
      await attempt(client.answerPermission({ taskId, requestId, decision: PermissionDecision.DENY }));
    }
    const taskId = events[0]!.taskId;
    const requestId = ofCase(events, "permissionRequest")[0]!.requestId;
    expect(failures).toEqual([
      { code: Code.NotFound, message: `permission request no-such-request of task ${taskId} not found; the requests waiting are: ${requestId}` },
      { code: Code.InvalidArgument, message: 'updated_input_json: must be a JSON object (the tool\'s whole input), e.g. {"command":"ls"}' },
      { code: Code.InvalidArgument, message: 'updated_input_json: is not valid JSON; give the tool\'s whole input as a JSON object, e.g. {"command":"ls"}' },
      { code: Code.InvalidArgument, message: "decision: must be PERMISSION_DECISION_ALLOW, PERMISSION_DECISION_DENY or PERMISSION_DECISION_ALLOW_ALWAYS" },
      { code: Code.NotFound, message: "task 01jb3k5x2q7w9h4r8t6y1m0c3d not found; list tasks with `cc ps --all`; ended tasks are kept only for a while" },
      { code: Code.FailedPrecondition, message: `permission request ${requestId} of task ${taskId} was already answered (allowed); nothing is waiting on it` },
    ]);
    expect(ofCase(events, "permissionResolved")).toHaveLength(1);
    expect(readFileSync(join(workspaceOf(events), "late.txt"), "utf8")).toBe("late\n");
    // Ended, or never asking: nothing to answer.
    const ended = await client.answerPermission({ taskId, requestId, decision: PermissionDecision.ALLOW }).catch((e: unknown) => ConnectError.from(e));
    expect(ended).toMatchObject({ code: Code.FailedPrecondition, rawMessage: `task ${taskId} has ended; it waits for no approval` });
    expect((await client.getTask({ taskId })).pendingPermissions).toEqual([]);
    const plain = await collect(client.run({ prompt: "perm-none", detach: true }));
    const notAsking = await client.answerPermission({ taskId: plain[0]!.taskId, requestId: "r1", decision: PermissionDecision.ALLOW }).catch((e: unknown) => ConnectError.from(e));
    expect(notAsking).toMatchObject({ code: Code.FailedPrecondition });
  });

  it("a request nobody answers is denied after the timeout, and the model is told why", async () => {
    const events = await runAnswering("perm-wait", () => undefined, quickClient);
    const [request] = ofCase(events, "permissionRequest");
    expect(ofCase(events, "permissionResolved")[0]).toMatchObject({ requestId: request!.requestId, decision: PermissionDecision.DENY, resolution: PermissionResolution.TIMED_OUT });
    const sent = toolResultsSent(model).get(request!.toolUseId);
    expect(sent?.isError).toBe(true);
    expect(sent?.content).toContain("nobody answered this permission request within 3s");
    expect(existsSync(join(workspaceOf(events), "late.txt"))).toBe(false);
    expect(ofCase(events, "exited")[0]).toMatchObject({ exitCode: 0, result: { result: "finished wait" } });
  });

  it("a task whose caller left keeps waiting for approval past the caller grace, and a late attacher sees what waits", async () => {
    const abort = new AbortController();
    let taskId = "";
    let requestId = "";
    try {
      for await (const event of quickClient.run({ prompt: "perm-wait", agent: { askPermissions: true } }, { signal: abort.signal })) {
        taskId = event.taskId;
        if (event.event.case === "permissionRequest") {
          requestId = event.event.value.requestId;
          abort.abort();
        }
      }
    } catch (err) {
      expect(ConnectError.from(err).code).toBe(Code.Canceled);
    }
    expect(requestId).not.toBe("");
    // Someone attaching now learns what waits: from the record, and from the replay.
    expect((await quickClient.getTask({ taskId })).pendingPermissions.map((p) => p.requestId)).toEqual([requestId]);
    const late = new AbortController();
    await (async () => {
      for await (const event of quickClient.attach({ taskId, afterSeq: 0n }, { signal: late.signal })) {
        if (event.event.case === "permissionRequest") {
          expect(event.event.value.requestId).toBe(requestId);
          late.abort();
        }
      }
    })().catch((err: unknown) => expect(ConnectError.from(err).code).toBe(Code.Canceled));
    await until(() => quick.router.tasks.get(taskId).log.subscriberCount === 0);
    // The router's grace for a caller that left is 200 ms; the request waits 3 s. Had the grace applied, the task
    // would have been cancelled and its request withdrawn; instead the request waits, then times out.
    await until(async () => (await quickClient.getTask({ taskId })).pendingPermissions.length === 0);
    const replay: RunEvent[] = [];
    for await (const event of quickClient.attach({ taskId, afterSeq: 0n })) {
      replay.push(event);
      if (event.event.case === "permissionResolved") break;
    }
    expect(ofCase(replay, "permissionRequest").map((r) => r.requestId)).toEqual([requestId]);
    expect(ofCase(replay, "permissionResolved")).toMatchObject([{ requestId, resolution: PermissionResolution.TIMED_OUT }]);
  });
});
