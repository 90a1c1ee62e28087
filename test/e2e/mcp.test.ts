// `cc mcp` end to end. A real claude is the primary, given `--mcp-config` from `cc mcp --print-config`: the scripted
// model has it call run_task three times and wait_tasks once, and the three sub-tasks run at the same time on two
// workers, each a real claude against the same scripted model. Then the primary sends a local checkout out to a
// sub-task (run_task's upload), waits, and reads its changes back with task_diff. The MCP Inspector's CLI lists the
// tools and calls list_workers and run_task. Run `npm run build` first (npm test does): cc runs from dist/cc/main.js.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Client as McpClient } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RouterService, TaskStatus } from "../../gen/claudecluster/v1/router_pb.js";
import { startLocalCluster, type LocalCluster } from "../../services/cluster/local.js";
import { silentLogger } from "../../services/common/logger.js";
import { bundledClaudePath } from "../../services/worker/claude-bin.js";
import type { Script, ScriptedModel } from "../../services/scripted-model/index.js";
import { checkout, gitUserEnv } from "../helpers/checkout.js";
import { runCommand } from "../helpers/command.js";
import { modelEnv, startModel } from "../helpers/model.js";
import { waitForNoProcessesUnder } from "../helpers/processes.js";
import { until } from "../helpers/wait.js";

const MAIN = new URL("../../dist/cc/main.js", import.meta.url).pathname;
const INSPECTOR = new URL("../../node_modules/.bin/mcp-inspector", import.meta.url).pathname;
const NODE = process.execPath;
const PARTS = ["alpha", "beta", "gamma"] as const;

type Json = Record<string, unknown>;
const bash = (command: string) => ({ content: [{ type: "tool_use" as const, name: "Bash", input: { command, description: "run it" } }] });
const text = (t: string) => ({ content: [{ type: "text" as const, text: t }] });
type Block = { type: string; name?: string; text?: string; content?: unknown; input?: Json; is_error?: boolean };

describe("cc mcp with the real claude as the primary", () => {
  let model: ScriptedModel;
  let cluster: LocalCluster;
  let router: Client<typeof RouterService>;
  let root: string;
  let gate: string;
  let project: string;
  let script: Script;

  beforeAll(async () => {
    if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run \`npm run build\` first`);
    root = realpathSync(mkdtempSync(join(tmpdir(), "cc-test-mcp-")));
    gate = join(root, "gate");
    // The primary's own checkout: a commit, and a change not committed yet, which goes out with it.
    project = join(root, "project");
    const co = checkout(project, gitUserEnv(join(root, "git-home")));
    co.git("init", "-q");
    co.write("notes.txt", "line one\nline two\n");
    co.git("add", ".");
    co.git("commit", "-qm", "notes");
    co.write("notes.txt", "line one\nline two, not committed yet\n");
    script = {
      conversations: [
        {
          match: "fan out the release notes",
          turns: [
            // Three parts at once, in one message, as a model splitting a job does.
            {
              content: [
                { type: "text", text: "I'll split this into three tasks." },
                ...PARTS.map((part) => ({ type: "tool_use" as const, name: "mcp__claudecluster__run_task", input: { prompt: `subtask ${part}: write the ${part} section`, allowed_tools: ["Bash"] } })),
              ],
            },
            { content: [{ type: "tool_use", name: "mcp__claudecluster__wait_tasks", input: { task_ids: "{{collect:task_id}}", timeout_seconds: 300 } }] },
            { content: [{ type: "text", text: "All three parts are back:\n{{collect:result}}" }] },
          ],
        },
        // Each sub-task waits at a gate the test opens once it has seen all three running at once.
        ...PARTS.map((part) => ({
          match: `subtask ${part}`,
          turns: [
            { content: [{ type: "tool_use" as const, name: "Bash", input: { command: `while [ ! -e ${gate} ]; do sleep 0.1; done`, description: "Wait for the gate" } }] },
            { content: [{ type: "text" as const, text: `${part} section: done (${part}-42)` }] },
          ],
        })),
        {
          match: "send my checkout out",
          turns: [
            { content: [{ type: "tool_use", name: "mcp__claudecluster__run_task", input: { prompt: "subtask edit: add a line to notes.txt", upload: project, allowed_tools: ["Bash"], ask_permissions: false } }] },
            { content: [{ type: "tool_use", name: "mcp__claudecluster__wait_tasks", input: { task_ids: "{{collect:task_id}}", timeout_seconds: 300 } }] },
            { content: [{ type: "tool_use", name: "mcp__claudecluster__task_diff", input: { task_id: "{{first:task_id}}" } }] },
            { content: [{ type: "text", text: "The sub-task's changes are back." }] },
          ],
        },
        { match: "subtask edit", turns: [bash("printf 'line three, by the sub-task\\n' >> notes.txt"), text("notes.txt has a third line")] },
        { match: "mcp-allow", turns: [bash("echo allowed > allowed.txt"), text("mcp-allow finished")] },
        { match: "mcp-deny", turns: [bash("echo denied > denied.txt"), text("mcp-deny finished")] },
        { match: "mcp-always", turns: [bash("echo 1 > one.txt"), bash("echo 2 > two.txt"), text("mcp-always finished")] },
        { match: "inspector task", turns: [{ content: [{ type: "text", text: "the inspector's task ran" }] }] },
        {
          match: "progress task",
          turns: [
            { content: [{ type: "tool_use", name: "Bash", input: { command: `while [ ! -e ${gate}-progress ]; do sleep 0.1; done`, description: "Wait for the gate" } }] },
            { content: [{ type: "text", text: "progress task done" }] },
          ],
        },
      ],
    };
    model = await startModel(script);
    cluster = await startLocalCluster({
      workers: 2,
      maxSessionsPerWorker: 2,
      env: { ...modelEnv(model), CC_KILL_GRACE: "2s", CC_LOG_LEVEL: "silent" },
      claudeHome: join(root, "home"),
      workspaceRoot: join(root, "workspaces"),
      logger: silentLogger(),
    });
    router = createClient(RouterService, createGrpcTransport({ baseUrl: cluster.url }));
  });

  afterAll(async () => {
    await cluster?.close();
    await model?.close();
    const left = root ? await waitForNoProcessesUnder(root) : [];
    if (root) rmSync(root, { recursive: true, force: true });
    expect(left).toEqual([]);
  });

  it("the primary calls run_task three times and wait_tasks once; the parts run at once on two workers; its answer has all three results", async () => {
    const printed = await runCommand(NODE, [MAIN, "mcp", "--print-config", "--router", cluster.url], { XDG_CONFIG_HOME: join(root, "config") });
    expect(printed.code).toBe(0);
    const config = printed.stdout;
    expect(JSON.parse(config)).toMatchObject({ mcpServers: { claudecluster: { type: "stdio", command: NODE, args: [MAIN, "mcp", "--router", cluster.url] } } });
    expect(printed.stderr).toContain(`claude mcp add claudecluster -- ${NODE} ${MAIN} mcp --router ${cluster.url}`);

    const primaryDir = join(root, "primary");
    const claude = spawn(bundledClaudePath()!, ["-p", "--output-format=json", `--mcp-config=${config}`, "--allowedTools=mcp__claudecluster"], {
      cwd: root,
      env: {
        PATH: process.env["PATH"] ?? "/usr/bin:/bin",
        HOME: primaryDir,
        XDG_CONFIG_HOME: join(root, "config"),
        // MCP tools straight in the request's `tools`, not behind ToolSearch, so the script can call them by name.
        ENABLE_TOOL_SEARCH: "false",
        ...modelEnv(model),
      },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    claude.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    claude.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => claude.on("close", resolve));
    claude.stdin.end("fan out the release notes");

    // The three parts are running at the same time, on both workers, before any is let through the gate.
    await until(async () => (await router.listTasks({ statuses: [TaskStatus.RUNNING] })).tasks.length === 3, 60_000);
    const running = (await router.listTasks({ statuses: [TaskStatus.RUNNING] })).tasks;
    expect(new Set(running.map((t) => t.workerId))).toEqual(new Set(["local-1", "local-2"]));
    writeFileSync(gate, "");

    expect(await exited).toBe(0);
    const answer = JSON.parse(stdout) as { result: string; is_error: boolean };
    expect(answer.is_error, stderr).toBe(false);
    for (const part of PARTS) expect(answer.result).toContain(`${part} section: done (${part}-42)`);

    // What the primary's model was sent: its own tool calls, and the tool results they got.
    const primary = model.mainRequests().filter((r) => r.turn?.conversation === 0);
    const last = primary.at(-1)!.body as { messages: { role: string; content: Block[] | string }[]; tools: { name: string }[] };
    expect(last.tools.map((t) => t.name)).toEqual(expect.arrayContaining(["mcp__claudecluster__run_task", "mcp__claudecluster__wait_tasks"]));
    const blocks = last.messages.flatMap((m) => (typeof m.content === "string" ? [] : m.content));
    const calls = blocks.filter((b) => b.type === "tool_use").map((b) => b.name);
    expect(calls).toEqual(["mcp__claudecluster__run_task", "mcp__claudecluster__run_task", "mcp__claudecluster__run_task", "mcp__claudecluster__wait_tasks"]);
    const results = blocks.filter((b) => b.type === "tool_result").map((b) => JSON.parse(typeof b.content === "string" ? b.content : ((b.content as Block[])[0]?.text ?? "")) as Json);
    const started = results.slice(0, 3).map((r) => r["task_id"] as string);
    expect(started.every((id) => /^[0-9a-z]{26}$/.test(id))).toBe(true);
    const waited = results[3] as { done: boolean; tasks: { task_id: string; status: string; result: string }[] };
    expect(waited.done).toBe(true);
    expect(waited.tasks.map((t) => t.task_id)).toEqual(started);
    expect(waited.tasks.map((t) => [t.status, t.result])).toEqual(PARTS.map((p) => ["succeeded", `${p} section: done (${p}-42)`]));

    // The router's records agree: three sub-tasks, succeeded, with those answers, on two workers.
    const records = await Promise.all(started.map((taskId) => router.getTask({ taskId })));
    expect(records.map((t) => [t.status, t.promptSummary, t.exit?.result?.result])).toEqual(
      PARTS.map((p) => [TaskStatus.SUCCEEDED, `subtask ${p}: write the ${p} section`, `${p} section: done (${p}-42)`]),
    );
    expect(new Set(records.map((t) => t.workerId))).toEqual(new Set(["local-1", "local-2"]));
    expect(records.every((t) => t.detach && t.agent?.askPermissions)).toBe(true);
  });

  it("the primary uploads its checkout to a sub-task, waits, and reads the sub-task's edit back with task_diff", async () => {
    const config = (await runCommand(NODE, [MAIN, "mcp", "--print-config", "--router", cluster.url], { XDG_CONFIG_HOME: join(root, "config") })).stdout;
    const claude = spawn(bundledClaudePath()!, ["-p", "--output-format=json", `--mcp-config=${config}`, "--allowedTools=mcp__claudecluster"], {
      cwd: root,
      env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin", HOME: join(root, "primary-upload"), XDG_CONFIG_HOME: join(root, "config"), ENABLE_TOOL_SEARCH: "false", ...modelEnv(model) },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    claude.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    claude.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => claude.on("close", resolve));
    claude.stdin.end("send my checkout out");
    expect(await exited, stderr).toBe(0);
    expect((JSON.parse(stdout) as { result: string }).result).toBe("The sub-task's changes are back.");

    // The tool results the primary's model was sent, in order: run_task, wait_tasks, task_diff.
    const conversation = script.conversations.findIndex((c) => c.match === "send my checkout out");
    const last = model.mainRequests().filter((r) => r.turn?.conversation === conversation).at(-1)!.body as { messages: { content: Block[] | string }[] };
    const blocks = last.messages.flatMap((m) => (typeof m.content === "string" ? [] : m.content));
    expect(blocks.filter((b) => b.type === "tool_use").map((b) => b.name)).toEqual(["mcp__claudecluster__run_task", "mcp__claudecluster__wait_tasks", "mcp__claudecluster__task_diff"]);
    const [ran, waited, diff] = blocks.filter((b) => b.type === "tool_result").map((b) => JSON.parse(typeof b.content === "string" ? b.content : ((b.content as Block[])[0]?.text ?? "")) as Json);
    expect(ran!["uploaded"]).toMatch(/^the checkout at [0-9a-f]{12} on main, with its uncommitted changes, \d+ B git bundle, to worker local-\d$/);
    const taskId = ran!["task_id"] as string;
    expect(waited).toMatchObject({ done: true, tasks: [{ task_id: taskId, status: "succeeded", changes: { files_changed: 1, insertions: 1, deletions: 0, files: ["notes.txt"], commits: 0 } }] });
    expect(diff).toMatchObject({ task_id: taskId, files_changed: 1, files: [{ path: "notes.txt", change: "modified", insertions: 1, deletions: 0 }], patch_truncated: false, patch_error: "" });
    // The edit, on top of the uncommitted line that went out with the checkout.
    expect(diff!["patch"]).toContain(" line two, not committed yet\n+line three, by the sub-task\n");
    expect(diff!["stat"]).toContain(" notes.txt | 1 +");
    // What the record says, and the primary's checkout untouched.
    const record = await router.getTask({ taskId });
    expect(diff!["final_commit"]).toBe(record.exit?.changes?.finalCommit);
    expect(readFileSync(join(project, "notes.txt"), "utf8")).toBe("line one\nline two, not committed yet\n");
  });

  it("the MCP Inspector's CLI lists the tools and calls list_workers and run_task", async () => {
    const inspector = (args: string[]) => runCommand(INSPECTOR, ["--cli", NODE, MAIN, "mcp", "--router", cluster.url, ...args], { XDG_CONFIG_HOME: join(root, "config") });

    const listed = await inspector(["--method", "tools/list"]);
    expect(listed.code, listed.stderr).toBe(0);
    const tools = (JSON.parse(listed.stdout) as { tools: { name: string; annotations?: { readOnlyHint?: boolean }; outputSchema?: unknown }[] }).tools;
    expect(tools.map((t) => t.name)).toEqual(["run_task", "wait_tasks", "get_task", "task_output", "task_diff", "list_tasks", "list_workers", "cancel_task", "send_input", "list_permission_requests", "answer_permission"]);
    expect(tools.filter((t) => t.annotations?.readOnlyHint).map((t) => t.name)).toContain("list_workers");
    expect(tools.every((t) => t.outputSchema !== undefined)).toBe(true);

    const workers = await inspector(["--method", "tools/call", "--tool-name", "list_workers"]);
    expect(workers.code, workers.stderr).toBe(0);
    const w = JSON.parse(workers.stdout) as { isError?: boolean; structuredContent: { workers: { worker_id: string; health: string }[] } };
    expect(w.isError).toBeFalsy();
    expect(w.structuredContent.workers.map((x) => [x.worker_id, x.health]).sort()).toEqual([
      ["local-1", "online"],
      ["local-2", "online"],
    ]);

    const ran = await inspector(["--method", "tools/call", "--tool-name", "run_task", "--tool-arg", "prompt=inspector task: say hello"]);
    expect(ran.code, ran.stderr).toBe(0);
    const r = JSON.parse(ran.stdout) as { isError?: boolean; structuredContent: { task_id: string; worker_id: string } };
    expect(r.isError).toBeFalsy();
    // The task outlives the Inspector's connection: it is detached, and ends on its own.
    await until(async () => (await router.getTask({ taskId: r.structuredContent.task_id })).status === TaskStatus.SUCCEEDED, 60_000);
    const task = await router.getTask({ taskId: r.structuredContent.task_id });
    expect(task.exit?.result?.result).toBe("the inspector's task ran");
    expect(task.workerId).toBe(r.structuredContent.worker_id);
  });

  it("over stdio, wait_tasks sends progress notifications while it waits (the SDK's own client)", async () => {
    const client = new McpClient({ name: "e2e", version: "1" });
    await client.connect(new StdioClientTransport({ command: NODE, args: [MAIN, "mcp", "--router", cluster.url], env: { PATH: process.env["PATH"] ?? "", XDG_CONFIG_HOME: join(root, "config") }, stderr: "pipe" }));
    try {
      const ran = (await client.callTool({ name: "run_task", arguments: { prompt: "progress task", allowed_tools: ["Bash"] } })) as unknown as { structuredContent: { task_id: string } };
      const taskId = ran.structuredContent.task_id;
      const progress: { progress: number; total?: number; message?: string }[] = [];
      const waiting = client.callTool({ name: "wait_tasks", arguments: { task_ids: [taskId] } }, undefined, { onprogress: (p) => void progress.push(p), resetTimeoutOnProgress: true });
      await until(() => progress.length > 0);
      expect(progress[0]).toMatchObject({ progress: 0, total: 1, message: expect.stringMatching(new RegExp(`^0 of 1 tasks ended; ${taskId} runs on local-\\d$`)) });
      writeFileSync(`${gate}-progress`, "");
      const done = (await waiting) as unknown as { structuredContent: { done: boolean; tasks: { result: string }[] } };
      expect(done.structuredContent).toMatchObject({ done: true, tasks: [{ result: "progress task done" }] });
    } finally {
      await client.close();
    }
  });

  describe("answer_permission through cc mcp", () => {
    let client: McpClient;
    type Structured<T> = { isError?: boolean; structuredContent: T; content: { text: string }[] };
    type Waited = { done: boolean; waiting_for_approval: boolean; tasks: { task_id: string; status: string; result: string; pending_permissions: { request_id: string; summary: string }[] }[] };
    const call = async <T>(name: string, args: Json) => (await client.callTool({ name, arguments: args })) as unknown as Structured<T>;

    beforeAll(async () => {
      client = new McpClient({ name: "e2e", version: "1" });
      await client.connect(new StdioClientTransport({ command: NODE, args: [MAIN, "mcp", "--router", cluster.url], env: { PATH: process.env["PATH"] ?? "", XDG_CONFIG_HOME: join(root, "config") }, stderr: "pipe" }));
    });
    afterAll(async () => {
      await client?.close();
    });

    /** Starts a task that asks, waits until it does, answers with `decision`, and waits for its end. */
    async function askAndAnswer(prompt: string, decision: string, extra: Json = {}) {
      const started = await call<{ task_id: string }>("run_task", { prompt, directory: prompt });
      const taskId = started.structuredContent.task_id;
      const asked = await call<Waited>("wait_tasks", { task_ids: [taskId] });
      expect(asked.structuredContent).toMatchObject({ done: false, waiting_for_approval: true });
      const [request] = asked.structuredContent.tasks[0]!.pending_permissions;
      const listed = await call<{ requests: { request_id: string }[] }>("list_permission_requests", { task_ids: [taskId] });
      expect(listed.structuredContent.requests.map((r) => r.request_id)).toEqual([request!.request_id]);
      const answered = await call<{ decision: string }>("answer_permission", { task_id: taskId, request_id: request!.request_id, decision, ...extra });
      expect(answered.isError, answered.content[0]?.text).toBeFalsy();
      const waited = await call<Waited>("wait_tasks", { task_ids: [taskId] });
      return { taskId, request: request!, waited: waited.structuredContent, dir: join(root, "workspaces", prompt) };
    }

    it("allow runs the call", async () => {
      const { request, waited, dir } = await askAndAnswer("mcp-allow", "allow");
      expect(request.summary).toBe("Bash(echo allowed > allowed.txt)");
      expect(waited).toMatchObject({ done: true, tasks: [{ status: "succeeded", result: "mcp-allow finished" }] });
      expect(readFileSync(join(dir, "allowed.txt"), "utf8")).toBe("allowed\n");
    });

    it("deny refuses it, and the sub-task's model is sent the message", async () => {
      const { waited, dir } = await askAndAnswer("mcp-deny", "deny", { message: "the primary said no" });
      expect(waited).toMatchObject({ done: true, tasks: [{ status: "succeeded", result: "mcp-deny finished" }] });
      expect(existsSync(join(dir, "denied.txt"))).toBe(false);
      const sent = model.mainRequests().flatMap((r) => ((r.body as { messages: { content: unknown }[] }).messages ?? []).flatMap((m) => (Array.isArray(m.content) ? (m.content as Block[]) : [])));
      expect(sent).toContainEqual(expect.objectContaining({ type: "tool_result", content: "the primary said no", is_error: true }));
    });

    it("allow_always runs it and the next Bash call without asking", async () => {
      const { waited, dir } = await askAndAnswer("mcp-always", "allow_always");
      expect(waited).toMatchObject({ done: true, waiting_for_approval: false, tasks: [{ status: "succeeded", result: "mcp-always finished" }] });
      expect(readFileSync(join(dir, "one.txt"), "utf8")).toBe("1\n");
      expect(readFileSync(join(dir, "two.txt"), "utf8")).toBe("2\n");
    });

    it("a bad answer gets the router's code", async () => {
      const started = await call<{ task_id: string }>("run_task", { prompt: "inspector task: done at once", ask_permissions: false });
      await call<Waited>("wait_tasks", { task_ids: [started.structuredContent.task_id] });
      const bad = await call<unknown>("answer_permission", { task_id: started.structuredContent.task_id, request_id: "r1", decision: "allow" });
      expect(bad.isError).toBe(true);
      expect(bad.content[0]!.text).toBe(`failed_precondition: task ${started.structuredContent.task_id} has ended; it waits for no approval`);
    });
  });
});
