// cc answering claude's permission requests, end to end: the built CLI (dist/cc/main.js) against a local cluster
// whose workers run the real claude pointed at the scripted model. In a pseudo-terminal cc asks
// `Allow Bash(…)? [y]es / [n]o / [a]lways`; y runs the command, n denies it (the model is sent the denial), a allows
// the next Bash call without asking. Without a terminal claude refuses by itself and cc says so; with --approve, cc
// allows what matches and denies the rest.
// `cc ps` shows a detached task waiting for approval, and `cc attach` asks about it again.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as pty from "node-pty";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startLocalCluster, type LocalCluster } from "../services/cluster/local.js";
import { silentLogger } from "../services/common/logger.js";
import type { Script, ScriptedModel } from "../services/scripted-model/index.js";
import { modelEnv, startModel } from "../test/helpers/model.js";
import { waitForNoProcessesUnder } from "../test/helpers/processes.js";
import { until } from "../test/helpers/wait.js";
import { stripAnsi } from "./lib/style.js";

const MAIN = new URL("../dist/cc/main.js", import.meta.url).pathname;
const NODE = process.execPath;

const bash = (command: string) => ({ content: [{ type: "tool_use" as const, name: "Bash", input: { command, description: "run it" } }] });
const text = (t: string) => ({ content: [{ type: "text" as const, text: t }] });
const SCRIPT: Script = {
  conversations: [
    { match: "tty-yes", turns: [bash("echo yes > yes.txt"), text("finished yes")] },
    { match: "tty-no", turns: [bash("echo no > no.txt"), text("finished no")] },
    { match: "tty-always", turns: [bash("echo 1 > always1.txt"), bash("echo 2 > always2.txt"), text("finished always")] },
    { match: "pipe-deny", turns: [bash("echo piped > piped.txt"), text("finished pipe")] },
    { match: "pipe-approve", turns: [bash("npm --version > approved.txt"), text("finished approve")] },
    { match: "detached-ask", turns: [bash("echo later > later.txt"), text("finished later")] },
  ],
};

/** The tool results claude sent the model, by tool_use id. */
function toolResultsSent(model: ScriptedModel): { id: string; content: string; isError: boolean }[] {
  const out: { id: string; content: string; isError: boolean }[] = [];
  for (const req of model.mainRequests()) {
    for (const m of (req.body as { messages?: { content: unknown }[] }).messages ?? []) {
      if (!Array.isArray(m.content)) continue;
      for (const b of m.content as { type: string; tool_use_id?: string; content?: unknown; is_error?: boolean }[]) {
        if (b.type === "tool_result" && b.tool_use_id) out.push({ id: b.tool_use_id, content: typeof b.content === "string" ? b.content : JSON.stringify(b.content), isError: b.is_error === true });
      }
    }
  }
  return out;
}

describe("cc answers permission requests", () => {
  let model: ScriptedModel;
  let cluster: LocalCluster;
  let root: string;
  let env: Record<string, string>;
  const workspace = (dir: string) => join(root, "workspaces", dir);

  beforeAll(async () => {
    if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run \`npm run build\` first`);
    root = realpathSync(mkdtempSync(join(tmpdir(), "cc-test-cli-permissions-")));
    model = await startModel(SCRIPT);
    cluster = await startLocalCluster({
      env: { ...modelEnv(model), CC_KILL_GRACE: "2s", CC_LOG_LEVEL: "silent" },
      claudeHome: join(root, "home"),
      workspaceRoot: join(root, "workspaces"),
      logger: silentLogger(),
    });
    env = { PATH: process.env["PATH"] ?? "/usr/bin:/bin", HOME: join(root, "user-home"), XDG_CONFIG_HOME: join(root, "config"), CC_ROUTER_URL: cluster.url, NO_COLOR: "1" };
  });

  afterAll(async () => {
    await cluster?.close();
    await model?.close();
    const left = root ? await waitForNoProcessesUnder(root) : [];
    if (root) rmSync(root, { recursive: true, force: true });
    expect(left).toEqual([]);
  });

  /** Runs cc with pipes (no terminal). */
  function piped(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return new Promise((resolve, reject) => {
      const child = spawn(NODE, [MAIN, ...args], { env, stdio: ["pipe", "pipe", "pipe"] });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
      child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
      child.on("error", reject);
      child.on("close", (code) => resolve({ code, stdout, stderr }));
      child.stdin.end();
    });
  }

  /** Drives cc in a pseudo-terminal. `screen()` is what it showed so far, escape codes removed. */
  async function inTerminal(args: string[], drive: (t: { write(s: string): void; waitFor(re: RegExp): Promise<void>; screen(): string }) => Promise<void>) {
    const p = pty.spawn(NODE, [MAIN, ...args], { cols: 120, rows: 30, cwd: root, env: { ...env, TERM: "xterm-256color" } });
    let raw = "";
    const waiters: { re: RegExp; resolve: () => void }[] = [];
    const screen = () => stripAnsi(raw).replace(/\r/g, "");
    p.onData((d) => {
      raw += d;
      for (const w of waiters.splice(0)) (w.re.test(screen()) ? w.resolve() : waiters.push(w));
    });
    const exited = new Promise<number>((resolve) => p.onExit(({ exitCode }) => resolve(exitCode)));
    try {
      await drive({
        write: (s) => p.write(s),
        screen,
        waitFor: (re) =>
          new Promise<void>((resolve, reject) => {
            if (re.test(screen())) return resolve();
            const timer = setTimeout(() => reject(new Error(`${re} did not appear; the screen shows: ${screen().slice(-800)}`)), 60_000);
            waiters.push({ re, resolve: () => (clearTimeout(timer), resolve()) });
          }),
      });
      const exitCode = await Promise.race([exited, new Promise<number>((_, reject) => setTimeout(() => reject(new Error(`cc did not exit; screen: ${screen().slice(-800)}`)), 60_000))]);
      return { exitCode, screen: screen() };
    } finally {
      try {
        p.kill();
      } catch {
        // Already gone.
      }
    }
  }

  const PROMPT = (cmd: string) => new RegExp(`Allow Bash\\(${cmd.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\)\\? \\[y\\]es / \\[n\\]o / \\[a\\]lways`);

  it("on a terminal asks, and y runs the command", async () => {
    const r = await inTerminal(["run", "--cwd", "yes", "tty-yes"], async (t) => {
      await t.waitFor(PROMPT("echo yes > yes.txt"));
      t.write("y\r");
    });
    expect(r.exitCode).toBe(0);
    expect(readFileSync(join(workspace("yes"), "yes.txt"), "utf8")).toBe("yes\n");
    expect(r.screen).toContain("finished yes");
  });

  it("n denies it: the command does not run and the model is sent the denial", async () => {
    const r = await inTerminal(["run", "--cwd", "no", "tty-no"], async (t) => {
      await t.waitFor(PROMPT("echo no > no.txt"));
      t.write("n\r");
    });
    expect(r.exitCode).toBe(0);
    expect(existsSync(join(workspace("no"), "no.txt"))).toBe(false);
    expect(toolResultsSent(model)).toContainEqual(expect.objectContaining({ content: "The user denied this Bash call.", isError: true }));
    // The transcript shows the denial as the tool's error.
    expect(r.screen).toContain("The user denied this Bash call.");
  });

  it("a allows the call, and the next Bash call runs without asking", async () => {
    const r = await inTerminal(["run", "--cwd", "always", "tty-always"], async (t) => {
      await t.waitFor(PROMPT("echo 1 > always1.txt"));
      t.write("a\r");
    });
    expect(r.exitCode).toBe(0);
    expect(r.screen.match(/Allow Bash\(/g)).toHaveLength(1);
    expect(readFileSync(join(workspace("always"), "always1.txt"), "utf8")).toBe("1\n");
    expect(readFileSync(join(workspace("always"), "always2.txt"), "utf8")).toBe("2\n");
    expect(r.screen).toContain("finished always");
  });

  it("without a terminal: claude refuses by itself and cc notes it; with --approve, cc allows what matches and denies the rest", async () => {
    const refused = await piped(["run", "--cwd", "pipe", "pipe-deny"]);
    expect(refused.code).toBe(0);
    expect(refused.stderr).toContain("cc: claude was not allowed Bash(echo piped > piped.txt): run cc on a terminal to be asked, or allow it with `--approve 'Bash(echo piped > piped.txt)'` or --allowed-tools\n");
    expect(existsSync(join(workspace("pipe"), "piped.txt"))).toBe(false);
    // Nobody could answer, so the task did not ask: claude -p's own refusal, no round trip.
    const tasks = JSON.parse((await piped(["ps", "--all", "--json"])).stdout) as { promptSummary: string; agent?: { askPermissions?: boolean } }[];
    expect(tasks.find((t) => t.promptSummary === "pipe-deny")?.agent?.askPermissions).toBeUndefined();

    const denied = await piped(["run", "--cwd", "pipe2", "--approve", "Bash(npm *)", "pipe-deny"]);
    expect(denied.code).toBe(0);
    expect(denied.stderr).toContain("cc: denied Bash(echo piped > piped.txt): there is no terminal to ask on; `--approve 'Bash(echo piped > piped.txt)'` (or --allowed-tools) would allow it\n");
    expect(existsSync(join(workspace("pipe2"), "piped.txt"))).toBe(false);
    expect(toolResultsSent(model)).toContainEqual(expect.objectContaining({ content: expect.stringContaining("cc denied this call: it had no terminal to ask the user on"), isError: true }));

    const approved = await piped(["run", "--cwd", "approve", "--approve", "Bash(npm *)", "--output-format", "text", "pipe-approve"]);
    expect(approved).toMatchObject({ code: 0, stdout: "finished approve\n" });
    expect(approved.stderr).toContain("cc: allowed Bash(npm --version > approved.txt) (--approve Bash(npm *))");
    expect(readFileSync(join(workspace("approve"), "approved.txt"), "utf8")).toMatch(/^\d+\.\d+\.\d+\n$/);
  });

  it("a detached task waits for approval: cc ps says so, and cc attach asks again", async () => {
    const started = await piped(["run", "-d", "--cwd", "later", "detached-ask"]);
    expect(started.code).toBe(0);
    const taskId = started.stdout.trim();
    await until(async () => (await piped(["ps"])).stdout.includes(`${taskId}  waiting for approval`));
    const json = JSON.parse((await piped(["ps", "--json"])).stdout) as { id: string; pendingPermissions?: { summary: string }[] }[];
    expect(json.find((t) => t.id === taskId)?.pendingPermissions?.map((p) => p.summary)).toEqual(["Bash(echo later > later.txt)"]);

    // An attacher without a terminal only says where to answer.
    const looking = spawn(NODE, [MAIN, "attach", taskId], { env, stdio: ["pipe", "pipe", "pipe"] });
    let lookingErr = "";
    looking.stderr.on("data", (d: Buffer) => (lookingErr += d.toString()));
    await until(() => lookingErr.includes(`cc: task ${taskId} waits for approval of Bash(echo later > later.txt); answer it from a terminal with \`cc attach ${taskId}\``));

    const r = await inTerminal(["attach", taskId], async (t) => {
      await t.waitFor(PROMPT("echo later > later.txt"));
      t.write("y\r");
    });
    expect(r.exitCode).toBe(0);
    expect(readFileSync(join(workspace("later"), "later.txt"), "utf8")).toBe("later\n");
    // The other attacher saw it answered and followed the task to its end.
    const lookingCode = await new Promise<number | null>((resolve) => (looking.exitCode !== null ? resolve(looking.exitCode) : looking.on("close", resolve)));
    expect(lookingCode).toBe(0);
    expect(lookingErr).toContain("cc: Bash was allowed elsewhere");
  });
});
