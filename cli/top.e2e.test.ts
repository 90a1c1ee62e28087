// `cc top` end to end: the built CLI (dist/cc/main.js) against a local cluster (router and worker) running the real
// claude, pointed at the scripted model. `--once` shows the worker and the tasks, with the files a task changed in
// its uploaded checkout; without a terminal it prints a line as a task starts and ends; in a pseudo-terminal it
// draws the fleet on the alternate screen as tasks start, queue and end, attaches with Enter, cancels with c then y, and
// gives the terminal back on q; Enter on an interactive task opens its terminal UI and Ctrl-P Ctrl-Q comes back.
// Run `npm run build` first.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import * as pty from "node-pty";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RouterService } from "../gen/claudecluster/v1/router_pb.js";
import { RunMode } from "../gen/claudecluster/v1/run_pb.js";
import { startLocalCluster, type LocalCluster } from "../services/cluster/local.js";
import type { Script, ScriptedModel } from "../services/scripted-model/index.js";
import { checkout, cc as runCc, gitUserEnv } from "../test/helpers/checkout.js";
import { fixtureScript, modelEnv, startModel } from "../test/helpers/model.js";
import { waitForNoProcessesUnder } from "../test/helpers/processes.js";
import { stripAnsi } from "./lib/style.js";

const MAIN = new URL("../dist/cc/main.js", import.meta.url).pathname;
const NODE = process.execPath;

const SCRIPT: Script = {
  conversations: [
    { match: "hang", turns: [{ content: [{ type: "tool_use", name: "Bash", input: { command: "tail -f /dev/null", description: "Wait" } }] }] },
    {
      match: "write the notes",
      turns: [{ content: [{ type: "tool_use", name: "Bash", input: { command: "printf 'one\\ntwo\\n' > notes.txt", description: "Write" } }] }, { content: [{ type: "text", text: "Written." }] }],
    },
    { match: "pair with me", turns: fixtureScript("two-turns").conversations[0]!.turns },
    { turns: fixtureScript("hello").conversations[0]!.turns },
  ],
};

describe("cc top, against the real claude", () => {
  let model: ScriptedModel;
  let cluster: LocalCluster;
  let root: string;
  let env: Record<string, string>;

  const cc = (args: string[], cwd = root) => runCc(args, { cwd, env });

  /** `cc run -d`: the task id. */
  async function startTask(args: string[]): Promise<string> {
    const r = await cc(["run", "-d", ...args]);
    expect(r.code, r.stderr).toBe(0);
    return r.stdout.trim();
  }

  /** `cc top` in a pseudo-terminal, and waiting for what it draws. */
  function topInPty() {
    const p = pty.spawn(NODE, [MAIN, "top"], { cols: 160, rows: 30, cwd: root, env: { ...env, TERM: "xterm-256color" } });
    let raw = "";
    const waiters: { re: RegExp; from: number; resolve: () => void }[] = [];
    const text = (from = 0) => stripAnsi(raw.slice(from));
    p.onData((d) => {
      raw += d;
      for (const w of waiters.splice(0)) (w.re.test(text(w.from)) ? w.resolve() : waiters.push(w));
    });
    /** Waits for `re` in what was drawn since `from` (a mark taken before the action that should draw it). */
    const shows = (re: RegExp, from: number) =>
      new Promise<void>((resolve, reject) => {
        if (re.test(text(from))) return resolve();
        const timer = setTimeout(() => reject(new Error(`${re} did not appear; the screen shows: ${text(from).slice(-1500)}`)), 40_000);
        waiters.push({ re, from, resolve: () => (clearTimeout(timer), resolve()) });
      });
    const exited = new Promise<number>((resolve) => p.onExit(({ exitCode }) => resolve(exitCode)));
    return { p, shows, mark: () => raw.length, raw: () => raw, exited };
  }

  beforeAll(async () => {
    if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run \`npm run build\` first`);
    root = realpathSync(mkdtempSync(join(tmpdir(), "cc-test-top-")));
    model = await startModel(SCRIPT);
    cluster = await startLocalCluster({
      workers: 1,
      env: { ...modelEnv(model), CC_KILL_GRACE: "2s" },
      claudeHome: join(root, "home"),
      workspaceRoot: join(root, "workspaces"),
      maxSessionsPerWorker: 2,
    });
    env = { ...gitUserEnv(join(root, "user-home")), XDG_STATE_HOME: join(root, "state"), CC_ROUTER_URL: cluster.url, NO_COLOR: "1" };
  });

  afterAll(async () => {
    await cluster?.close();
    await model?.close();
    const left = root ? await waitForNoProcessesUnder(root) : [];
    if (root) rmSync(root, { recursive: true, force: true });
    expect(left).toEqual([]);
  });

  it("--once: the worker with its health and load, then each task with its state, worker, prompt and changed files", async () => {
    const empty = await cc(["top", "--once"]);
    expect(empty.code, empty.stderr).toBe(0);
    expect(empty.stdout).toMatch(/^WORKER +HEALTH +TASKS +SESSIONS +CLAUDE +SEEN\nlocal-1 +online +0\/2 +0 +2\.1\.330 +\d+s\n\nno tasks match\n$/);

    // A task in a git checkout: the checkout is uploaded and what claude wrote there is recorded.
    const repo = checkout(join(root, "repo"), env);
    repo.git("init", "-q");
    repo.write("README.md", "hello\n");
    repo.git("add", ".");
    repo.git("commit", "-qm", "start");
    const run = await cc(["run", "--allowed-tools", "Bash", "write the notes"], repo.dir);
    expect(run.code, run.stderr).toBe(0);
    const hello = await cc(["run", "hello", "there"]);
    expect(hello.code, hello.stderr).toBe(0);

    const once = await cc(["top", "--once"]);
    expect(once.code, once.stderr).toBe(0);
    const lines = once.stdout.trimEnd().split("\n");
    expect(lines[3]).toMatch(/^ID +STATE +WORKER +AGE +COST +CHANGES +PROMPT +LATEST$/);
    // Newest first: the hello task (no checkout: no recorded changes), then the one that wrote notes.txt.
    expect(lines[4]).toMatch(/^[0-9a-z]{26} +succeeded +local-1 +\d+s +\$0\.\d{4} +- +hello there +/);
    expect(lines[5]).toMatch(/^[0-9a-z]{26} +succeeded +local-1 +\d+s +\$0\.\d{4} +1 file \+2 -0 +write the notes +/);
    expect(lines).toHaveLength(6);

    const filtered = await cc(["top", "--once", "--status", "failed"]);
    expect(filtered.stdout).toMatch(/\n\nno tasks match\n$/);
    const bad = await cc(["top", "--once", "--status", "sleeping"]);
    expect([bad.code, bad.stderr]).toEqual([2, 'cc: --status must be one of queued, running, succeeded, failed, cancelled; got "sleeping"\n']);
  });

  it("without a terminal: the snapshot, then a line as a task starts and as it ends", async () => {
    const child = spawn(NODE, [MAIN, "top", "--status", "running,succeeded"], { env, cwd: root, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    const seen: { re: RegExp; resolve: () => void }[] = [];
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString("utf8");
      for (const w of seen.splice(0)) (w.re.test(stdout) ? w.resolve() : seen.push(w));
    });
    const closed = new Promise<number | null>((resolve) => child.on("close", resolve));
    const appears = (re: RegExp) => new Promise<void>((resolve) => (re.test(stdout) ? resolve() : seen.push({ re, resolve })));
    try {
      await appears(/^WORKER[^]*\n\nID +STATE[^]*\n/);
      const snapshotEnd = stdout.length;
      const id = await startTask(["hello", "again"]);
      await appears(new RegExp(`\\n\\d\\d:\\d\\d:\\d\\d +${id} +running +local-1 `));
      await appears(new RegExp(`\\n\\d\\d:\\d\\d:\\d\\d +${id} +succeeded +local-1 `));
      // One line per state, not one per event: the task changed many times while it ran.
      const after = stdout.slice(snapshotEnd).split("\n").filter((l) => l.includes(id));
      expect(after.map((l) => l.split(/ {2,}/)[2])).toEqual(["running", "succeeded"]);
    } finally {
      child.kill("SIGINT");
    }
    expect(await closed).toBe(0);
  });

  it("in a pseudo-terminal: the fleet live as tasks start, queue and end, Enter attaches, c cancels, q gives the terminal back", async () => {
    const { p, shows, mark, raw, exited } = topInPty();
    try {
      await shows(/cc top · http:\/\/[^ ]+ · 1 worker · 0 running · 0 queued · 3 ended/, 0);
      expect(raw().startsWith("\x1b[?1049h")).toBe(true);
      await shows(/local-1 +online +0\/2 +0 /, 0);
      await shows(/> +[0-9a-z]{26} +succeeded +local-1 .* hello again /, 0);

      // A task starts: it appears on top, running, with the command claude is running as its latest line.
      let m = mark();
      const hang = await startTask(["--allowed-tools", "Bash", "hang", "on"]);
      await shows(new RegExp(`  ${hang} +running +local-1 .* hang on +Bash: tail -f /dev/null`), m);
      await shows(/local-1 +online +1\/2 +1 /, m);
      await shows(/1 worker · 1 running · 0 queued · 3 ended/, m);

      // Two more: the worker's two slots are full, so the last waits in the queue, and says where.
      m = mark();
      const second = await startTask(["--allowed-tools", "Bash", "hang", "two"]);
      const third = await startTask(["--allowed-tools", "Bash", "hang", "three"]);
      await shows(new RegExp(`  ${third} +queued #1 +- .* hang three `), m);
      await shows(new RegExp(`  ${second} +running +local-1 `), m);
      await shows(/local-1 +full +2\/2 +2 /, m);

      // Enter on the selected task attaches to it; Ctrl-C leaves it running; a key brings the view back.
      m = mark();
      p.write("gjj");
      await shows(new RegExp(`> +${hang} +running`), m);
      m = mark();
      p.write("\r");
      await shows(/Bash\(tail -f \/dev\/null\)/, m);
      expect(raw().slice(m)).toContain("\x1b[?1049l");
      m = mark();
      p.write("\x03");
      await shows(/— press a key to go back to cc top —/, m);
      m = mark();
      p.write(" ");
      await shows(new RegExp(`> +${hang} +running`), m);

      // c asks, y cancels: the row says so, and the task's record too.
      m = mark();
      p.write("c");
      await shows(new RegExp(`cancel ${hang}\\? \\[y/N\\]`), m);
      m = mark();
      p.write("y");
      await shows(new RegExp(`${hang} cancelled`), m);
      await shows(new RegExp(`> +${hang} +cancelled +local-1`), m);
      // Its slot went to the task that was queued.
      await shows(new RegExp(`  ${third} +running +local-1 `), m);
      await shows(/1 worker · 2 running · 0 queued · 4 ended/, m);
      const show = JSON.parse((await cc(["show", "--json", hang])).stdout) as { status: string };
      expect(show.status).toBe("TASK_STATUS_CANCELLED");

      expect((await cc(["cancel", second, third])).code).toBe(0);
      await shows(/1 worker · 0 running · 0 queued · 6 ended/, m);

      // Another task starts and ends while the view is up.
      m = mark();
      const last = await startTask(["hello", "once", "more"]);
      await shows(new RegExp(`  ${last} +succeeded +local-1 .* hello once more `), m);

      p.write("q");
      expect(await exited).toBe(0);
      // The alternate screen was left and the cursor shown again.
      const all = raw();
      expect(all.slice(all.lastIndexOf("\x1b[?1049"))).toMatch(/^\x1b\[\?1049l/);
      expect(all.lastIndexOf("\x1b[?25h")).toBeGreaterThan(all.lastIndexOf("\x1b[?25l"));
    } finally {
      try {
        p.kill();
      } catch {
        // Already gone.
      }
    }
  });

  it("in a pseudo-terminal: Enter on an interactive task opens its terminal UI; Ctrl-P Ctrl-Q comes back to the view", async () => {
    // Started through the router as any client would, detached, so it waits for input with no one attached.
    const client = createClient(RouterService, createGrpcTransport({ baseUrl: cluster.url }));
    const start = new AbortController();
    let id = "";
    for await (const ev of client.run({ prompt: "pair with me", mode: RunMode.INTERACTIVE, detach: true, terminal: { cols: 100, rows: 30 } }, { signal: start.signal })) {
      if (ev.taskId) id = ev.taskId;
      if (ev.event.case === "started") break;
    }
    start.abort();
    const { p, shows, mark, exited } = topInPty();
    try {
      await shows(new RegExp(`> +${id} +waiting for input +local-1 .* \\[interactive\\] pair with me`), 0);
      let m = mark();
      p.write("\r");
      // The TUI moves the cursor between words: stripped of escapes, they may run together.
      await shows(/First\s*answer:\s*I\s*heard\s*"pair\s*with\s*me"/, m);
      m = mark();
      p.write("\x10\x11");
      await shows(new RegExp(`detached from task ${id}; it keeps running`), m);
      await shows(/— press a key to go back to cc top —/, m);
      m = mark();
      p.write(" ");
      await shows(new RegExp(`> +${id} +waiting for input`), m);
      m = mark();
      p.write("cy");
      await shows(new RegExp(`> +${id} +cancelled +local-1`), m);
      p.write("q");
      expect(await exited).toBe(0);
    } finally {
      try {
        p.kill();
      } catch {
        // Already gone.
      }
    }
  });
});
