// `cc run` with no router and `cc up` run the real claude with the user's credentials, yet never modify the user's
// own Claude state: after them ~/.claude.json (realistic, or one that does not parse) and everything under ~/.claude
// are byte for byte, mode and mtime what they were. claude's state goes to the cluster's own config directory.
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ScriptedModel } from "../../services/scripted-model/index.js";
import { fingerprint, realisticUserClaude } from "../helpers/claude-state.js";
import { modelEnv, startModel } from "../helpers/model.js";
import { waitForNoProcessesUnder } from "../helpers/processes.js";

const CC = new URL("../../dist/cc/main.js", import.meta.url).pathname;
const ANSWER = "Hello from the scripted model. You said: hi there\n";

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cc(args: string[], env: Record<string, string>, cwd: string, onStdout?: (soFar: string, child: ReturnType<typeof spawn>) => void): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CC, ...args], { env, cwd, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString("utf8");
      onStdout?.(stdout, child);
    });
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString("utf8")));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

describe("the user's own Claude state through an embedded cluster", () => {
  let model: ScriptedModel;
  let root: string;

  beforeAll(async () => {
    root = realpathSync(mkdtempSync(join(tmpdir(), "cc-test-user-state-")));
    model = await startModel();
  });
  afterAll(async () => {
    await model?.close();
    const left = root ? await waitForNoProcessesUnder(root) : [];
    if (root) rmSync(root, { recursive: true, force: true });
    expect(left).toEqual([]);
  });

  /** A user's HOME with a realistic Claude config; `broken` replaces ~/.claude.json by one cut off mid-write. */
  function userHome(name: string, broken: boolean) {
    const home = join(root, name);
    realisticUserClaude(home);
    if (broken) writeFileSync(join(home, ".claude.json"), '{"numStartups": 212, "projects": {"/home/me/app": {"history": [{"display": "fix the bu');
    const project = join(home, "project");
    mkdirSync(project);
    const env = {
      PATH: process.env["PATH"] ?? "/usr/bin:/bin",
      HOME: home,
      XDG_CONFIG_HOME: join(root, `${name}-config`),
      NO_COLOR: "1",
      CC_LOG_LEVEL: "silent",
      ...modelEnv(model),
    };
    const snapshot = () => ({ global: readFileSync(join(home, ".claude.json")), tree: fingerprint(join(home, ".claude"), [join(home, ".claude.json")]) });
    return { home, project, env, before: snapshot(), snapshot };
  }

  for (const broken of [false, true]) {
    it(`cc run with no router leaves a ${broken ? "~/.claude.json that does not parse" : "realistic ~/.claude.json"} and ~/.claude byte for byte as they were`, async () => {
      const u = userHome(broken ? "broken" : "realistic", broken);
      const r = await cc(["run", "hi", "there"], u.env, u.project);
      expect(r.stderr).toMatch(/^✓ done/);
      expect(r).toMatchObject({ code: 0, stdout: ANSWER });

      const after = u.snapshot();
      expect(after.global.equals(u.before.global)).toBe(true);
      expect(after.tree).toEqual(u.before.tree);
      // No other Claude state in HOME (claude's logs of MCP servers go to ~/.cache as ever): it is all in the
      // cluster's own directory.
      expect(readdirSync(u.home).filter((n) => n.startsWith(".claude")).sort()).toEqual([".claude", ".claude.json"]);
      const own = join(u.home, ".local", "state", "claudecluster", "claude");
      const state = JSON.parse(readFileSync(join(own, ".claude.json"), "utf8")) as { projects: Record<string, { hasTrustDialogAccepted?: boolean }> };
      expect(state.projects[u.project]?.hasTrustDialogAccepted).toBe(true);
      // The session's transcript is there, not among the user's projects.
      expect(readdirSync(join(own, "projects")).length).toBe(1);
    });
  }

  it("a user logged in with OAuth only (no API key): the embedded claude uses their login, and leaves it as it was", async () => {
    const u = userHome("oauth", false);
    const env: Record<string, string> = { ...u.env };
    delete env["ANTHROPIC_API_KEY"];
    model.clearRequests();
    const r = await cc(["run", "hi", "there"], env, u.project);
    expect(r).toMatchObject({ code: 0, stdout: ANSWER });
    // The scripted model redacts credentials but records which were sent: the login's bearer token, no API key.
    const sent = model.mainRequests().map((q) => [q.headers["authorization"], q.headers["x-api-key"]]);
    expect(sent).toEqual([["[redacted]", undefined]]);
    const after = u.snapshot();
    expect(after.global.equals(u.before.global)).toBe(true);
    expect(after.tree).toEqual(u.before.tree);
  });

  it("cc up, with a task run through it, leaves ~/.claude.json and ~/.claude byte for byte as they were", async () => {
    const u = userHome("up", false);
    let url = "";
    let ran: Promise<Result> | undefined;
    const up = await cc(["up", "--port", "0"], u.env, u.project, (soFar, child) => {
      const m = /router\s+(http:\/\/\S+)/.exec(soFar);
      if (!m || ran) return;
      url = m[1]!;
      ran = cc(["run", "--router", url, "hi", "there"], u.env, u.project).finally(() => child.kill("SIGINT"));
    });
    expect(up.code).toBe(0);
    expect(await ran).toMatchObject({ code: 0, stdout: ANSWER });
    const after = u.snapshot();
    expect(after.global.equals(u.before.global)).toBe(true);
    expect(after.tree).toEqual(u.before.tree);
  });
});
