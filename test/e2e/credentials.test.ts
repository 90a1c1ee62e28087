// The credential proxy with the real claude: the worker's API key (or OAuth token) reaches the model, checked by the
// scripted model as the real API would check it, while a task sees only a placeholder and finds the real value
// nowhere it can look (its environment, its files, /proc); the stream claude reads is the one the API sent. And the
// redaction of secret values, seen on an unsandboxed worker, where a task can read the worker's environment.
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { RunEvent } from "../../gen/claudecluster/v1/run_pb.js";
import { WorkerService } from "../../gen/claudecluster/v1/worker_pb.js";
import { startScriptedModel, type Script, type ScriptedModel } from "../../services/scripted-model/index.js";
import { bundledClaudePath } from "../../services/worker/claude-bin.js";
import { prepareClaudeHome } from "../../services/worker/claude-home.js";
import { fixtureScript } from "../helpers/model.js";
import { toolResults } from "../helpers/tool-results.js";
import { collect, ofCase } from "../helpers/worker.js";
import { spawnWorkerProcess, type WorkerProcess } from "../helpers/worker-process.js";

const API_KEY = "sk-ant-api03-the-real-key-of-the-worker-0123456789abcdefghij";
const OAUTH_TOKEN = "sk-ant-oat01-the-real-oauth-token-of-the-worker-9876543210";
const ATTACK = "# look";
const SCRIPT: Script = {
  conversations: [
    { match: ATTACK, turns: [{ content: [{ type: "tool_use", name: "Bash", input: { command: "{{prompt}}", description: "Look" } }] }, { content: [{ type: "text", text: "Looked." }] }] },
    ...fixtureScript("thinking").conversations,
  ],
};

/** A shell command that counts, without ever naming `secret` whole (so its own command line cannot match), where it appears. */
function searchFor(secret: string): string {
  const half = Math.floor(secret.length / 2);
  const find = `awk -v a='${secret.slice(0, half)}' -v b='${secret.slice(half)}' 'index($0, a b) { n++ } END { print n + 0 }'`;
  return [
    `env | ${find}`,
    `for f in /proc/[0-9]*/environ /proc/[0-9]*/cmdline; do tr '\\0' '\\n' < "$f" 2>/dev/null; done | ${find}`,
    `find "$HOME" /tmp "$PWD" /etc -type f 2>/dev/null | xargs cat 2>/dev/null | ${find}`,
    `printf '%s\\n' "$ANTHROPIC_API_KEY" | cut -c1-16`,
  ].join("; ");
}

describe("the credential proxy, with the real claude in the sandbox", () => {
  let root: string;
  let model: ScriptedModel;
  let worker: WorkerProcess;
  let client: Client<typeof WorkerService>;

  async function startWorker(env: Record<string, string>): Promise<void> {
    worker = await spawnWorkerProcess("credentials", {
      ANTHROPIC_BASE_URL: model.url,
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1",
      CC_CLAUDE_HOME: join(root, `home-${Date.now()}`),
      CC_WORKSPACE_ROOT: join(root, "workspaces"),
      CC_SANDBOX: "bwrap",
      ...env,
    });
    client = createClient(WorkerService, createGrpcTransport({ baseUrl: worker.url }));
  }

  beforeAll(() => {
    root = realpathSync(mkdtempSync(join(tmpdir(), "cc-test-credentials-")));
  });
  afterEach(async () => {
    worker?.child.kill("SIGTERM");
    await worker?.exited;
    await model?.close();
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it("the API key reaches the model, and a task finds it nowhere: not in its environment, its files or /proc", async () => {
    model = await startScriptedModel({ script: SCRIPT, requireKey: API_KEY });
    await startWorker({ ANTHROPIC_API_KEY: API_KEY });
    const marker = `${ATTACK}-key`;
    // Also: the proxy takes no key but the task's own.
    const guess = `curl -s -o /dev/null -w '%{http_code}\\n' -H 'x-api-key: sk-ant-api03-a-guess' "$ANTHROPIC_BASE_URL/v1/messages" -d '{}'`;
    const events = await collect(client.run({ prompt: `${searchFor(API_KEY)}; ${guess} ${marker}`, agent: { allowedTools: ["Bash"] } }));
    expect(ofCase(events, "exited")[0]).toMatchObject({ exitCode: 0, result: { result: "Looked." } });
    // Every request claude made reached the model with the real key, added by the proxy.
    const requests = model.requests().filter((r) => r.path.startsWith("/v1/"));
    expect(requests.length).toBeGreaterThanOrEqual(2);
    expect(requests.every((r) => r.credential === "accepted")).toBe(true);
    const [result] = toolResults(model, marker);
    // Not in the environment, not in any process's environment or command line, not in a file; claude's own key is
    // the proxy's placeholder.
    expect(result!.trim().split("\n")).toEqual(["0", "0", "0", "sk-ant-cc-proxy-", "401"]);
    expect(JSON.stringify(events, (_, v: unknown) => (typeof v === "bigint" ? String(v) : v))).not.toContain(API_KEY);
  });

  it("an OAuth token reaches the model as a bearer token with the OAuth beta", async () => {
    model = await startScriptedModel({ script: SCRIPT, requireKey: OAUTH_TOKEN });
    await startWorker({ CLAUDE_CODE_OAUTH_TOKEN: OAUTH_TOKEN });
    const marker = `${ATTACK}-oauth`;
    const events = await collect(client.run({ prompt: `${searchFor(OAUTH_TOKEN)} ${marker}`, agent: { allowedTools: ["Bash"] } }));
    expect(ofCase(events, "exited")[0]).toMatchObject({ exitCode: 0 });
    const main = model.mainRequests();
    expect(main.every((r) => r.credential === "accepted")).toBe(true);
    expect(main[0]!.headers["anthropic-beta"]).toContain("oauth-2025-04-20");
    expect(toolResults(model, marker)[0]!.trim().split("\n")).toEqual(["0", "0", "0", "sk-ant-cc-proxy-"]);
  });

  it("streaming is unchanged: the same stream-json events as claude -p talking to the model directly", async () => {
    model = await startScriptedModel({ script: SCRIPT, requireKey: API_KEY });
    await startWorker({ ANTHROPIC_API_KEY: API_KEY });
    const viaWorker = ofCase(await collect(client.run({ prompt: "think about it" })), "message").map((m) => m.json);
    // The baseline: claude -p in a prepared HOME of its own, with the real key, straight at the model.
    const home = join(root, "direct-home");
    const workspace = join(root, "direct-workspace");
    mkdirSync(workspace, { recursive: true });
    prepareClaudeHome(join(home, ".claude.json"), workspace, API_KEY);
    // Not spawnSync: the scripted model answering claude runs in this process.
    const direct = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve, reject) => {
      const child = spawn(bundledClaudePath()!, ["-p", "--output-format=stream-json", "--verbose", "--include-partial-messages"], {
        cwd: workspace,
        env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin", HOME: home, ANTHROPIC_BASE_URL: model.url, ANTHROPIC_API_KEY: API_KEY, CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1", DISABLE_AUTOUPDATER: "1" },
      });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
      child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
      child.on("error", reject);
      child.on("close", (status) => resolve({ status, stdout, stderr }));
      child.stdin.end("think about it");
    });
    expect(direct.status, direct.stderr).toBe(0);
    const shape = (line: string) => {
      const j = JSON.parse(line) as { type: string; subtype?: string; event?: { type: string; delta?: { type: string; text?: string; thinking?: string } }; message?: { content?: { type: string }[] } };
      return [j.type, j.subtype, j.event?.type, j.event?.delta?.type, j.event?.delta?.text ?? j.event?.delta?.thinking, j.message?.content?.map((c) => c.type).join()];
    };
    const expected = direct.stdout.trim().split("\n").map(shape);
    expect(viaWorker.map(shape)).toEqual(expected);
    // Partial messages, streamed deltas and all.
    expect(expected.filter((s) => s[0] === "stream_event").length).toBeGreaterThan(3);
  });

  it("redaction: on an unsandboxed worker a task can read the worker's environment, but the secret values it knows come out as [redacted]", async () => {
    model = await startScriptedModel({ script: SCRIPT, requireKey: API_KEY });
    await startWorker({ ANTHROPIC_API_KEY: API_KEY, CC_SANDBOX: "off", CC_WORKER_TOKEN: "worker-token-to-be-redacted-0123" });
    client = createClient(WorkerService, createGrpcTransport({ baseUrl: worker.url, interceptors: [(next) => (req) => (req.header.set("authorization", "Bearer worker-token-to-be-redacted-0123"), next(req))] }));
    expect((await client.getInfo({})).sandbox).toBe("none");
    const marker = `${ATTACK}-redact`;
    const events: RunEvent[] = await collect(client.run({ prompt: `tr '\\0' '\\n' < /proc/${worker.child.pid}/environ | grep -E '^(ANTHROPIC_API_KEY|CC_WORKER_TOKEN)=' ${marker}`, agent: { allowedTools: ["Bash"] } }));
    const seen = JSON.stringify(ofCase(events, "message").map((m) => m.json));
    expect(seen).toContain("ANTHROPIC_API_KEY=[redacted]");
    expect(seen).toContain("CC_WORKER_TOKEN=[redacted]");
    expect(seen).not.toContain(API_KEY);
    expect(seen).not.toContain("worker-token-to-be-redacted-0123");
    // The worker's log lines carry neither.
    expect(worker.logs.join("\n")).not.toContain(API_KEY);
  });
});
