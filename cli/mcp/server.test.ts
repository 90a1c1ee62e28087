// The MCP server in memory: a real MCP client (the SDK's) over an in-memory transport, the tools over a fake
// cluster, and a clock the test moves. test/e2e/mcp.test.ts runs the same server against the real router and claude.
import { afterEach, describe, expect, it } from "vitest";
import { PermissionDecision } from "../../gen/claudecluster/v1/permissions_pb.js";
import type { RunRequest } from "../../gen/claudecluster/v1/run_pb.js";
import { closeMcpSessions, connectMcp as connect, until } from "../testing/mcp-session.js";
import { claudeMcpAddLine, mcpConfigJson, mcpLaunch } from "./config.js";
import { PROGRESS_INTERVAL_MS } from "./tools/wait-tasks.js";

afterEach(closeMcpSessions);

describe("cc mcp's tools", () => {
  it("lists every tool with a description, input and output schemas, and readOnlyHint on the read-only ones", async () => {
    const { client } = await connect();
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toEqual(["run_task", "wait_tasks", "get_task", "task_output", "task_diff", "list_tasks", "list_workers", "cancel_task", "send_input", "list_permission_requests", "answer_permission"]);
    for (const t of tools) {
      expect(t.description!.length).toBeGreaterThan(60);
      expect(t.inputSchema.type).toBe("object");
      expect(t.outputSchema?.type).toBe("object");
    }
    const readOnly = tools.filter((t) => t.annotations?.readOnlyHint).map((t) => t.name);
    expect(readOnly).toEqual(["wait_tasks", "get_task", "task_output", "task_diff", "list_tasks", "list_workers", "list_permission_requests"]);
    expect(tools.find((t) => t.name === "cancel_task")?.annotations?.destructiveHint).toBe(true);
    expect(client.getInstructions()).toContain("call run_task once for each independent part");
  });

  it("run_task returns at once with the task id and worker; the task is detached and asks for permissions by default", async () => {
    const { call, cluster } = await connect({ taskDefaults: { directory: "." } });
    const r = await call("run_task", { prompt: "count the files", allowed_tools: ["Read"], timeout_seconds: 60, labels: { zone: "a" } });
    expect(r.isError).toBeUndefined();
    expect(r.structuredContent).toEqual({ task_id: "t1", status: "running", worker_id: "w1", queue_position: 0 });
    // The text beside it is the same JSON, for clients that read only text.
    expect(JSON.parse(r.content[0]!.text)).toEqual(r.structuredContent);
    const req = cluster.calls.find((c) => c.method === "run")!.request as RunRequest;
    expect(req).toMatchObject({ prompt: "count the files", detach: true, labels: { zone: "a" }, agent: { allowedTools: ["Read"], askPermissions: true } });
    expect(req.workspace?.source).toEqual({ case: "directory", value: "." });
    expect(Number(req.timeout?.seconds)).toBe(60);
    expect(req.requestId).toMatch(/^[0-9a-f-]{36}$/);
    // Never waits for the task: it is still running.
    expect(cluster.tasks.get("t1")!.task.exit).toBeUndefined();
  });

  it("wait_tasks waits for all, sends progress while it waits, and returns every result", async () => {
    const { call, cluster, clock } = await connect();
    for (const p of ["one", "two", "three"]) await call("run_task", { prompt: p });
    const progress: { progress: number; total?: number; message?: string }[] = [];
    const waiting = call("wait_tasks", { task_ids: ["t1", "t2", "t3"] }, (p) => progress.push(p));
    await until(() => progress.length === 1 && clock.sleeping === 1).catch((e: Error) => {
      throw new Error(`${e.message}; progress ${JSON.stringify(progress)}, sleeping ${clock.sleeping}`);
    });
    expect(progress[0]).toEqual({ progress: 0, total: 3, message: "0 of 3 tasks ended; t1 runs on w1, t2 runs on w2, t3 runs on w1" });
    cluster.finish("t2", "two is done");
    await until(() => progress.length === 2);
    expect(progress[1]).toMatchObject({ progress: 1, total: 3 });
    // Nothing happens for a while: progress keeps coming, on the clock.
    await until(() => clock.sleeping === 1);
    clock.advance(PROGRESS_INTERVAL_MS);
    await until(() => progress.length === 3);
    cluster.finish("t1", "one is done");
    cluster.finish("t3", "three is done", { costUsd: 0.25 });
    const r = await waiting;
    const s = r.structuredContent as { done: boolean; timed_out: boolean; ended: number; tasks: Record<string, unknown>[] };
    expect(s).toMatchObject({ done: true, timed_out: false, ended: 3, waiting_for_approval: false });
    expect(s.tasks.map((t) => [t["task_id"], t["status"], t["result"]])).toEqual([
      ["t1", "succeeded", "one is done"],
      ["t2", "succeeded", "two is done"],
      ["t3", "succeeded", "three is done"],
    ]);
    expect(s.tasks[2]).toMatchObject({ cost_usd: 0.25, turns: 2, session_id: "session-t3", exit_reason: "completed", is_error: false });
  });

  it("wait_tasks with any returns at the first end; on timeout it says so and returns what it knows", async () => {
    const { call, cluster, clock } = await connect();
    await call("run_task", { prompt: "a" });
    await call("run_task", { prompt: "b" });
    const first = call("wait_tasks", { task_ids: ["t1", "t2"], any: true });
    await until(() => clock.sleeping === 1);
    cluster.finish("t2", "b done");
    expect((await first).structuredContent).toMatchObject({ done: true, ended: 1 });

    const slow = call("wait_tasks", { task_ids: ["t1"], timeout_seconds: 15 });
    await until(() => clock.sleeping === 1);
    clock.advance(PROGRESS_INTERVAL_MS);
    await until(() => clock.sleeping === 1);
    clock.advance(5_000);
    const r = await slow;
    expect(r.structuredContent).toMatchObject({ done: false, timed_out: true, ended: 0, tasks: [{ task_id: "t1", status: "running" }] });
  });

  it("wait_tasks returns early for a permission request; answer_permission settles it; list_permission_requests lists what waits", async () => {
    const { call, cluster, clock } = await connect();
    await call("run_task", { prompt: "clean up" });
    const waiting = call("wait_tasks", { task_ids: ["t1"] });
    await until(() => clock.sleeping === 1);
    cluster.ask("t1", "req-1");
    const r = await waiting;
    expect(r.structuredContent).toMatchObject({ done: false, waiting_for_approval: true, tasks: [{ task_id: "t1", waiting_for_approval: true, pending_permissions: [{ request_id: "req-1", tool: "Bash", summary: "Bash(rm -rf build)", input: '{"command":"rm -rf build"}' }] }] });
    expect((await call("list_permission_requests")).structuredContent).toMatchObject({ requests: [{ task_id: "t1", request_id: "req-1" }], truncated: false });

    const answered = await call("answer_permission", { task_id: "t1", request_id: "req-1", decision: "allow_always" });
    expect(answered.structuredContent).toEqual({ task_id: "t1", request_id: "req-1", decision: "allow_always", resolution: "answered" });
    cluster.ask("t1", "req-2");
    await call("answer_permission", { task_id: "t1", request_id: "req-2", decision: "deny", message: "not that" });
    cluster.ask("t1", "req-3");
    await call("answer_permission", { task_id: "t1", request_id: "req-3", decision: "allow", updated_input: { command: "rm -rf build/tmp" } });
    const sent = cluster.calls.filter((c) => c.method === "answerPermission").map((c) => c.request);
    expect(sent).toMatchObject([
      { requestId: "req-1", decision: PermissionDecision.ALLOW_ALWAYS, message: "", updatedInputJson: "" },
      { requestId: "req-2", decision: PermissionDecision.DENY, message: "not that" },
      { requestId: "req-3", decision: PermissionDecision.ALLOW, updatedInputJson: '{"command":"rm -rf build/tmp"}' },
    ]);
    // A second answer to a settled request is the router's error, code first.
    const again = await call("answer_permission", { task_id: "t1", request_id: "req-1", decision: "allow" });
    expect(again).toMatchObject({ isError: true, content: [{ text: "failed_precondition: task t1 is not waiting for approval" }] });
  });

  it("says what went wrong, with the router's code: an unknown task, a bad argument", async () => {
    const { call } = await connect();
    expect(await call("get_task", { task_id: "nope" })).toMatchObject({ isError: true, content: [{ text: "not_found: task nope not found; list tasks with `cc ps --all`; ended tasks are kept only for a while" }] });
    const bad = await call("wait_tasks", { task_ids: [] });
    expect(bad.isError).toBe(true);
    expect(bad.content[0]!.text).toMatch(/Input validation error/);
    expect((await call("run_task", { prompt: "x", repo: "https://example.com/r.git", directory: "d" })).content[0]!.text).toBe("give repo or directory, not both");
  });

  it("bounds what it returns and says when it cut: results, task output, lists", async () => {
    const { call, cluster } = await connect();
    await call("run_task", { prompt: "long" });
    cluster.say("t1", "x".repeat(3000));
    cluster.say("t1", "the end");
    cluster.finish("t1", "r".repeat(10_000));
    const got = (await call("get_task", { task_id: "t1", result_chars: 100 })).structuredContent!;
    expect(got).toMatchObject({ result: "r".repeat(100), result_truncated: true });
    const out = (await call("task_output", { task_id: "t1", tail_chars: 500 })).structuredContent!;
    expect(out["truncated"]).toBe(true);
    expect(String(out["text"]).length).toBe(500);
    expect(String(out["text"]).endsWith("the end\n")).toBe(true);
    expect(Number(out["omitted_chars"])).toBeGreaterThan(2500);
    const full = (await call("task_output", { task_id: "t1", full_result: true })).structuredContent!;
    expect(full).toMatchObject({ text: "r".repeat(10_000), truncated: false });
    for (let i = 0; i < 3; i++) await call("run_task", { prompt: `p${i}` });
    expect((await call("list_tasks", { limit: 2 })).structuredContent).toMatchObject({ truncated: true, tasks: [{ task_id: "t4" }, { task_id: "t3" }] });
    expect((await call("list_tasks", { statuses: ["succeeded"] })).structuredContent).toMatchObject({ truncated: false, tasks: [{ task_id: "t1", result: "r".repeat(500), result_truncated: true }] });
  });

  it("lists workers with their free slots, cancels a task, and types into one", async () => {
    const { call, cluster } = await connect();
    await call("run_task", { prompt: "a" });
    expect((await call("list_workers")).structuredContent).toEqual({
      workers: [
        { worker_id: "w1", health: "online", tasks: 1, capacity: 2, labels: { zone: "w1" }, claude_version: "2.1.330 (Claude Code)", problem: "" },
        { worker_id: "w2", health: "online", tasks: 0, capacity: 2, labels: { zone: "w2" }, claude_version: "2.1.330 (Claude Code)", problem: "" },
      ],
      free_slots: 3,
      truncated: false,
    });
    expect((await call("cancel_task", { task_id: "t1", reason: "changed my mind" })).structuredContent).toEqual({ task_id: "t1", status: "cancelled" });
    expect(cluster.calls.find((c) => c.method === "cancelTask")?.request).toEqual({ taskId: "t1", reason: "changed my mind" });
    expect((await call("send_input", { task_id: "t1", text: "/exit" })).structuredContent).toEqual({ task_id: "t1", sent_bytes: 6 });
    expect(cluster.calls.find((c) => c.method === "sendInput")?.request).toMatchObject({ taskId: "t1", input: { case: "text", value: "/exit\r" } });
  });
});

describe("cc mcp --print-config", () => {
  const node = "/opt/node/bin/node";
  const main = "/opt/cc/dist/cc/main.js";
  it("names the router, or the profile, and how the token gets there", () => {
    const flag = mcpLaunch(node, main, { router: "http://r:8400", token: "s3cret", profile: "", source: "flag" }, "s3cret");
    expect(JSON.parse(mcpConfigJson(flag))).toEqual({ mcpServers: { claudecluster: { type: "stdio", command: node, args: [main, "mcp", "--router", "http://r:8400"], env: { CC_TOKEN: "s3cret" } } } });
    expect(claudeMcpAddLine(flag)).toBe(`claude mcp add -e CC_TOKEN=s3cret claudecluster -- ${node} ${main} mcp --router http://r:8400`);
    const env = mcpLaunch(node, main, { router: "http://r:8400", token: "s3cret", profile: "", source: "env" }, undefined);
    expect(env.env).toEqual({ CC_TOKEN: "${CC_TOKEN}" });
    expect(claudeMcpAddLine(env)).toBe(`claude mcp add -e "CC_TOKEN=$CC_TOKEN" claudecluster -- ${node} ${main} mcp --router http://r:8400`);
    const profile = mcpLaunch(node, main, { router: "http://r:8400", token: "s3cret", profile: "cloud", source: "profile" }, undefined);
    expect(profile).toEqual({ command: node, args: [main, "mcp", "--profile", "cloud"], env: {} });
    expect(mcpLaunch(node, main, { router: "", token: "", profile: "", source: "none" }, undefined).args).toEqual([main, "mcp"]);
  });
});
