// `--mcp-config` often holds tokens. The worker hands it to the real claude as a 0600 file in a private directory
// of the task's, outside its workspace, and removes it when the task ends: the JSON is on no command line.
import { existsSync, readdirSync, readFileSync, readlinkSync, statSync } from "node:fs";
import { dirname } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ScriptedModel } from "../../services/scripted-model/index.js";
import { modelEnv, startModel } from "../helpers/model.js";
import { until } from "../helpers/wait.js";
import { ofCase, startTestWorker, type TestWorker } from "../helpers/worker.js";
import type { RunEvent } from "../../gen/claudecluster/v1/run_pb.js";
import { ExitReason } from "../../gen/claudecluster/v1/run_pb.js";

const SECRET = "ghp_mcpConfigSecret0123456789";
const MCP_CONFIG = JSON.stringify({ mcpServers: { probe: { type: "stdio", command: "mcp-probe-not-installed", env: { GITHUB_TOKEN: SECRET } } } });

/** Pids whose command line mentions `text`. */
function commandLinesWith(text: string): { pid: number; args: string[] }[] {
  const found: { pid: number; args: string[] }[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const args = readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0");
      if (args.some((a) => a.includes(text))) found.push({ pid: Number(entry), args });
    } catch {
      // Gone meanwhile, or not ours to read.
    }
  }
  return found;
}

describe("an MCP config reaches claude as a private file", () => {
  let model: ScriptedModel;
  let w: TestWorker;
  beforeAll(async () => {
    model = await startModel("sleep");
    w = await startTestWorker(modelEnv(model));
  });
  afterAll(async () => {
    await w?.close();
    await model?.close();
  });

  it("is on no command line, is a 0600 file outside the workspace that claude reads, and is gone when the task ends", async () => {
    const events: RunEvent[] = [];
    let file = "";
    let workspace = "";
    for await (const ev of w.client.run({ prompt: "wait", agent: { allowedTools: ["Bash"], mcpConfigJson: MCP_CONFIG } })) {
      events.push(ev);
      if (ev.event.case === "started") workspace = ev.event.value.workspace;
      // claude is running its Bash call: look at it from outside.
      if (ev.event.case === "message" && ev.event.value.body.case === "assistant" && !file) {
        expect(commandLinesWith(SECRET)).toEqual([]);
        const [claude] = commandLinesWith("--mcp-config=");
        file = claude!.args.find((a) => a.startsWith("--mcp-config="))!.slice("--mcp-config=".length);
        expect(readFileSync(file, "utf8")).toBe(MCP_CONFIG);
        expect(statSync(file).mode & 0o777).toBe(0o600);
        expect(statSync(dirname(file)).mode & 0o777).toBe(0o700);
        expect(file.startsWith(workspace + "/")).toBe(false);
        expect(readlinkSync(`/proc/${claude!.pid}/cwd`)).toBe(workspace);
        await w.client.cancel({ taskId: ev.taskId, reason: "enough" });
      }
    }
    // claude read it: the server it names is in claude's init event.
    const init = ofCase(events, "message").find((m) => m.body.case === "init");
    expect(init?.body.case === "init" && init.body.value.mcpServers.map((s) => s.name)).toEqual(["probe"]);
    expect(ofCase(events, "exited")[0]).toMatchObject({ reason: ExitReason.CANCELLED });
    await until(() => !existsSync(dirname(file)));
  });
});
