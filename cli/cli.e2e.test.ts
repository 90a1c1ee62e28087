// cc end to end: the built CLI (dist/cc/main.js) as a child process, against a local cluster whose workers run
// the real claude pointed at the scripted model. Run `npm run build` first (npm test does).
import { spawn } from "node:child_process";
import { createServer, connect, type Socket } from "node:net";
import type { AddressInfo } from "node:net";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as pty from "node-pty";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startLocalCluster, type LocalCluster } from "../services/cluster/local.js";
import { silentLogger } from "../services/common/logger.js";
import type { Script, ScriptedModel } from "../services/scripted-model/index.js";
import { fixtureScript, modelEnv, startModel } from "../test/helpers/model.js";
import { waitForNoProcessesUnder } from "../test/helpers/processes.js";
import { stripAnsi } from "./lib/style.js";
import { recordedCases } from "./testing/fixtures.js";

const MAIN = new URL("../dist/cc/main.js", import.meta.url).pathname;
const NODE = process.execPath;

const hello = recordedCases().find((c) => c.name === "hello")!;
const writeFile = recordedCases().find((c) => c.name === "write-file")!;

/** One script for every test; conversations are picked by the first prompt. */
const SCRIPT: Script = {
  conversations: [
    { match: "hang", turns: [{ content: [{ type: "text", text: "Waiting." }, { type: "tool_use", name: "Bash", input: { command: "tail -f /dev/null", description: "Wait" } }] }] },
    { match: "make the file", turns: fixtureScript("write-file").conversations[0]!.turns },
    { match: "interactive", turns: fixtureScript("two-turns").conversations[0]!.turns },
    { match: "slow", turns: [{ chunkDelayMs: 150, content: [{ type: "text", text: "one two three four five six seven eight nine ten" }] }] },
    // The recorded hello case, word for word, for everything else.
    { turns: fixtureScript("hello").conversations[0]!.turns },
  ],
};

interface Result {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

type Json = Record<string, unknown>;

describe("cc against a local cluster running the real claude", () => {
  let model: ScriptedModel;
  let cluster: LocalCluster;
  let root: string;
  let baseEnv: Record<string, string>;

  /** Runs cc to its end. `onStdout` sees the output as it arrives and may act on the child. */
  function cc(args: string[], options: { env?: Record<string, string>; input?: string; onStdout?: (soFar: string, child: ReturnType<typeof spawn>) => void } = {}): Promise<Result> {
    return new Promise((resolve, reject) => {
      // Not in a git checkout (the project's own would be uploaded: cc run's default with a router).
      const child = spawn(NODE, [MAIN, ...args], { cwd: root, env: { ...baseEnv, ...options.env }, stdio: ["pipe", "pipe", "pipe"] });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d: Buffer) => {
        stdout += d.toString("utf8");
        options.onStdout?.(stdout, child);
      });
      child.stderr.on("data", (d: Buffer) => (stderr += d.toString("utf8")));
      child.on("error", reject);
      child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }));
      child.stdin.end(options.input ?? "");
    });
  }

  const taskStatus = async (id: string): Promise<string> => {
    const r = await cc(["ps", "--all", "--json"]);
    return String((JSON.parse(r.stdout) as Json[]).find((t) => t["id"] === id)?.["status"]);
  };

  beforeAll(async () => {
    if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run \`npm run build\` first`);
    root = realpathSync(mkdtempSync(join(tmpdir(), "cc-test-cli-")));
    model = await startModel(SCRIPT);
    cluster = await startLocalCluster({
      workers: 2,
      env: { ...modelEnv(model), CC_KILL_GRACE: "2s", CC_LOG_LEVEL: "silent" },
      claudeHome: join(root, "home"),
      workspaceRoot: join(root, "workspaces"),
      maxSessionsPerWorker: 3,
      logger: silentLogger(),
    });
    baseEnv = {
      PATH: process.env["PATH"] ?? "/usr/bin:/bin",
      HOME: join(root, "user-home"),
      XDG_CONFIG_HOME: join(root, "config"),
      CC_ROUTER_URL: cluster.url,
      NO_COLOR: "1",
    };
  });

  afterAll(async () => {
    await cluster?.close();
    await model?.close();
    const left = root ? await waitForNoProcessesUnder(root) : [];
    if (root) rmSync(root, { recursive: true, force: true });
    expect(left).toEqual([]);
  });

  it("cc run prints the answer, a summary on stderr, and exits 0", async () => {
    const r = await cc(["run", "hi", "there"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("Hello from the scripted model. You said: hi there\n");
    expect(r.stderr).toMatch(/^✓ done · [\d.]+m?s · 1 turn · \$[\d.]+ · session [0-9a-f-]{36} · worker local-\d · task [0-9a-z]{26}\n$/);
  });

  it("reads the prompt from stdin with -", async () => {
    const r = await cc(["run", "-"], { input: "hi there\n" });
    expect(r).toMatchObject({ code: 0, stdout: "Hello from the scripted model. You said: hi there\n" });
  });

  it("shows each tool call as one line", async () => {
    const r = await cc(["run", "--allowed-tools", "Bash", "make the file"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(readFileSync(join(writeFile.dir, "render.txt"), "utf8"));
  });

  it("--output-format json prints the object claude -p prints, and only that", async () => {
    for (const c of [hello, writeFile]) {
      const r = await cc(["run", "--output-format", "json", ...c.args.map((a) => a.replace("--allowedTools=", "--allowed-tools=")), c.prompt]);
      expect(r.code).toBe(0);
      expect(r.stderr).toBe("");
      expect(r.stdout.endsWith("}\n")).toBe(true);
      const ours = JSON.parse(r.stdout) as Json;
      const claudes = JSON.parse(c.json) as Json;
      expect(Object.keys(ours)).toEqual(Object.keys(claudes));
      for (const key of ["type", "subtype", "is_error", "result", "num_turns", "total_cost_usd", "usage", "stop_reason", "terminal_reason", "permission_denials"]) {
        expect(ours[key], key).toEqual(claudes[key]);
      }
    }
  });

  it("--output-format text and stream-json print what claude -p prints", async () => {
    const text = await cc(["run", "--output-format", "text", hello.prompt]);
    expect(text).toMatchObject({ code: 0, stdout: hello.text, stderr: "" });

    const stream = await cc(["run", "--output-format", "stream-json", "--allowed-tools", "Bash", writeFile.prompt]);
    expect(stream.code).toBe(0);
    const lines = stream.stdout.trimEnd().split("\n").map((l) => JSON.parse(l) as Json);
    const shape = (o: Json) => `${String(o["type"])}/${String(o["subtype"] ?? "")}`;
    expect(lines.map(shape)).toEqual(writeFile.verbose.map((l) => shape(JSON.parse(l) as Json)));
    expect(lines.map((o) => Object.keys(o))).toEqual(writeFile.verbose.map((l) => Object.keys(JSON.parse(l) as Json)));

    const partial = await cc(["run", "--output-format", "stream-json", "--include-partial-messages", hello.prompt]);
    expect(partial.stdout.trimEnd().split("\n").map((l) => shape(JSON.parse(l) as Json))).toEqual(hello.stream.map((l) => shape(JSON.parse(l) as Json)));
  });

  it("cc run -d returns the task id at once; cc attach replays the task; cc logs prints it", async () => {
    const d = await cc(["run", "-d", "hi", "there"]);
    expect(d.code).toBe(0);
    const id = d.stdout.trim();
    expect(id).toMatch(/^[0-9a-z]{26}$/);
    const a = await cc(["attach", id]);
    expect(a.code).toBe(0);
    expect(a.stdout).toBe("Hello from the scripted model. You said: hi there\n");
    expect(a.stderr).toContain(`task ${id}`);
    const logs = await cc(["logs", id]);
    expect(logs.code).toBe(0);
    expect(logs.stdout).toMatch(new RegExp(`^── accepted by worker local-\\d\\n── started on worker local-\\d \\(claude [\\d.]+\\)\\nHello from the scripted model\\. You said: hi there\\n── ✓ done .* task ${id}\\n$`));
    const json = await cc(["attach", "--output-format", "json", id]);
    expect((JSON.parse(json.stdout) as Json)["result"]).toBe("Hello from the scripted model. You said: hi there");
  });

  it("cc cancel stops a running task; cc ps --json lists running tasks", async () => {
    const d = await cc(["run", "-d", "--allowed-tools", "Bash", "hang"]);
    const id = d.stdout.trim();
    // Follow the log until claude has asked for the command that never ends.
    const follow = cc(["logs", "-f", id]);
    const ps = async () => JSON.parse((await cc(["ps", "--json"])).stdout) as Json[];
    let listed = await ps();
    const deadline = Date.now() + 30_000;
    while (!(await cc(["logs", id])).stdout.includes("⏺ Bash(tail -f /dev/null)") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    listed = await ps();
    expect(listed.find((t) => t["id"] === id)).toMatchObject({ status: "TASK_STATUS_RUNNING", promptSummary: "hang" });

    const c = await cc(["cancel", id]);
    expect(c).toMatchObject({ code: 0, stdout: `${id} cancelled\n` });
    const followed = await follow;
    expect(followed.code).toBe(0);
    expect(followed.stdout).toContain("⏺ Bash(tail -f /dev/null)");
    expect(followed.stdout).toMatch(/── ✗ cancelled .*\n$/);
    expect(await taskStatus(id)).toBe("TASK_STATUS_CANCELLED");
    expect((await ps()).find((t) => t["id"] === id)).toBeUndefined();
    const a = await cc(["attach", id]);
    expect(a.code).toBe(1);
    expect(a.stderr).toContain("✗ cancelled");
  });

  it("the first Ctrl-C cancels the task and exits 130", async () => {
    // One Ctrl-C: CancelTask answers once the task has ended, and output printed meanwhile must not send another.
    let interrupted = false;
    const r = await cc(["run", "--allowed-tools", "Bash", "hang", "on"], {
      onStdout: (out, child) => {
        if (!interrupted && out.includes("⏺ Bash(")) {
          interrupted = true;
          child.kill("SIGINT");
        }
      },
    });
    expect(r.code).toBe(130);
    const id = /cancelling task ([0-9a-z]{26})/.exec(r.stderr)?.[1];
    expect(r.stderr).toContain(`cc: cancelled task ${id}`);
    expect(await taskStatus(id!)).toBe("TASK_STATUS_CANCELLED");
  });

  it("cc workers --json lists the workers", async () => {
    const r = await cc(["workers", "--json"]);
    const workers = JSON.parse(r.stdout) as Json[];
    expect(workers.map((w) => w["id"]).sort()).toEqual(["local-1", "local-2"]);
    expect(workers.every((w) => w["health"] === "WORKER_HEALTH_ONLINE")).toBe(true);
  });

  it("says what to do when the router is unreachable, the task unknown, or no worker fits", async () => {
    const down = await cc(["run", "--router", "http://127.0.0.1:1", "hi"]);
    expect(down).toMatchObject({ code: 3, stdout: "" });
    expect(down.stderr).toBe("cc: cannot reach the router at http://127.0.0.1:1 (ECONNREFUSED) — start one with `cc up`, or set --router (CC_ROUTER_URL)\n");
    const unknown = await cc(["attach", "nosuchtask"]);
    expect(unknown).toMatchObject({ code: 4, stderr: `cc: no task "nosuchtask" on the router at ${cluster.url} — list tasks with \`cc ps --all\`\n` });
    const labels = await cc(["run", "--label", "gpu=true", "hi"]);
    expect(labels).toMatchObject({ code: 4, stderr: "cc: the router refused: no online worker has the labels gpu=true; check `cc workers`\n" });
  });

  it("cc run -i: the remote TUI in a terminal, a second prompt, /exit ends with 0", async () => {
    const r = await interactive(["run", "-i", "interactive", "one"], async (t) => {
      await t.waitFor("Firstanswer");
      t.write("two\r");
      await t.waitFor("Secondanswer");
      t.write("/exit\r");
    });
    expect(r.exitCode).toBe(0);
    expect(r.screen).toContain('Secondanswer:nowyousaid"two"');
  });

  it("cc run -i detaches with Ctrl-P Ctrl-Q, and cc attach takes the TUI back", async () => {
    const first = await interactive(["run", "-i", "interactive", "three"], async (t) => {
      await t.waitFor("Firstanswer");
      t.write("\x10\x11");
    });
    expect(first.exitCode).toBe(0);
    const id = /detachedfromtask([0-9a-z]{26})/.exec(first.screen)?.[1];
    expect(id).toBeDefined();
    expect(first.screen).toContain(`cc attach ${id}`.replace(/\s+/g, ""));
    expect(await taskStatus(id!)).toBe("TASK_STATUS_RUNNING");

    const second = await interactive(["attach", id!], async (t) => {
      await t.waitFor("Firstanswer");
      t.write("four\r");
      await t.waitFor("Secondanswer");
      t.write("/exit\r");
    });
    expect(second.exitCode).toBe(0);
    expect(second.screen).toContain('Secondanswer:nowyousaid"four"');
    expect(await taskStatus(id!)).toBe("TASK_STATUS_SUCCEEDED");
  });

  it("re-attaches by itself when the connection to the router drops mid-stream", async () => {
    // A TCP proxy in front of the router whose connections the test cuts.
    const sockets = new Set<Socket>();
    const routerPort = Number(new URL(cluster.url).port);
    const proxy = createServer((client) => {
      const upstream = connect(routerPort, "127.0.0.1");
      for (const s of [client, upstream]) {
        sockets.add(s);
        s.on("close", () => sockets.delete(s));
        s.on("error", () => undefined);
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    let cut = false;
    try {
      const r = await cc(["run", "--router", url, "slow", "words"], {
        onStdout: (out) => {
          if (!cut && out.length > 0) {
            cut = true;
            for (const s of sockets) s.destroy();
          }
        },
      });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe("one two three four five six seven eight nine ten\n");
      expect(r.stderr).toMatch(/^cc: lost the stream of task ([0-9a-z]{26}) \(.+\); re-attaching in 0\.3s \(attempt 1 of 8\)\ncc: re-attached to task \1\n✓ done/);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => proxy.close(resolve));
    }
  });

  it("cc up runs a cluster in the foreground until Ctrl-C", async () => {
    const home = join(root, "up-home");
    let routerUrl = "";
    let workers = "";
    let webPage = "";
    const r = await cc(["up", "--port", "0", "--workers", "2", "--claude-home", home, "--workspace-root", join(root, "up-ws")], {
      onStdout: (out, child) => {
        const m = /^router\s+(http:\S+)/m.exec(out);
        if (m && !routerUrl && out.includes("Ctrl-C stops the cluster.")) {
          routerUrl = m[1]!;
          const web = /^web UI\s+(http:\S+)/m.exec(out)?.[1] ?? "";
          void Promise.all([cc(["workers", "--router", routerUrl]), web ? fetch(web).then((res) => res.text()) : ""]).then(([w, page]) => {
            workers = w.stdout;
            webPage = page;
            child.kill("SIGINT");
          });
        }
      },
    });
    expect(r.code).toBe(0);
    expect(workers).toMatch(/local-1\s+online/);
    expect(workers).toMatch(/local-2\s+online/);
    expect(r.stdout).toContain(`export CC_ROUTER_URL=${routerUrl}`);
    expect(webPage).toContain("<title>");
    expect(r.stdout.endsWith("stopping the cluster…\nstopped\n")).toBe(true);
  });

  it("cc demo runs offline and says the model is scripted", async () => {
    const r = await cc(["demo"], { env: { HOME: join(root, "demo-home") } });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("The model is scripted");
    expect(r.stdout).toContain("No Claude account or API key is used");
    expect(r.stdout).toContain("⏺ Bash(printf 'Hello from ClaudeCluster!\\n' > hello.txt)");
    expect(r.stdout).toMatch(/the file claude wrote, \/.*\/hello\.txt:\n    Hello from ClaudeCluster!\n/);
    expect(r.stdout.match(/\[\d\] ✓ Finished parallel task \d\./g)).toHaveLength(3);
  });

  /** Drives cc in a pseudo-terminal; `screen` is what it showed, escape codes and whitespace removed. */
  async function interactive(args: string[], drive: (t: { write(s: string): void; waitFor(text: string): Promise<void> }) => Promise<void>) {
    const p = pty.spawn(NODE, [MAIN, ...args], { cols: 100, rows: 30, cwd: root, env: { ...baseEnv, TERM: "xterm-256color" } });
    let raw = "";
    const waiters: { text: string; resolve: () => void }[] = [];
    const screen = () => stripAnsi(raw).replace(/\s+/g, "");
    p.onData((d) => {
      raw += d;
      for (const w of waiters.splice(0)) (screen().includes(w.text) ? w.resolve() : waiters.push(w));
    });
    const exited = new Promise<number>((resolve) => p.onExit(({ exitCode }) => resolve(exitCode)));
    try {
      await drive({
        write: (s) => p.write(s),
        waitFor: (text) =>
          new Promise<void>((resolve, reject) => {
            if (screen().includes(text)) return resolve();
            const timer = setTimeout(() => reject(new Error(`"${text}" did not appear; the screen shows: ${screen().slice(-500)}`)), 30_000);
            waiters.push({ text, resolve: () => (clearTimeout(timer), resolve()) });
          }),
      });
      const exitCode = await Promise.race([exited, new Promise<number>((_, reject) => setTimeout(() => reject(new Error(`cc did not exit; screen: ${screen().slice(-500)}`)), 30_000))]);
      return { exitCode, screen: screen() };
    } finally {
      try {
        p.kill();
      } catch {
        // Already gone.
      }
    }
  }
});

describe("cc with no router configured", () => {
  it("starts an embedded local cluster for the call", async () => {
    const root = realpathSync(mkdtempSync(join(tmpdir(), "cc-test-embedded-")));
    const model = await startModel(SCRIPT);
    try {
      const project = join(root, "project");
      mkdirSync(project);
      const cc = (args: string[]) => new Promise<Result>((resolve, reject) => {
        const child = spawn(NODE, [MAIN, ...args], {
          cwd: project,
          env: { PATH: process.env["PATH"] ?? "", HOME: root, XDG_CONFIG_HOME: join(root, "config"), NO_COLOR: "1", ...modelEnv(model) },
          stdio: ["ignore", "pipe", "pipe"],
        });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
        child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
        child.on("error", reject);
        child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }));
      });
      const r = await cc(["run", "hi", "there"]);
      expect(r.stderr).toMatch(/worker local-1/);
      expect(r).toMatchObject({ code: 0, stdout: "Hello from the scripted model. You said: hi there\n" });
      // Like `claude -p`, claude works in the directory cc was run from.
      const json = await cc(["run", "--output-format", "stream-json", "where are you"]);
      const init = JSON.parse(json.stdout.split("\n")[0]!) as { subtype: string; cwd: string };
      expect(init).toMatchObject({ subtype: "init", cwd: project });
      expect(await waitForNoProcessesUnder(root)).toEqual([]);
    } finally {
      await model.close();
      rmSync(root, { recursive: true, force: true });
    }
  });

  it("refuses a wrong token with a hint", async () => {
    // A HOME of its own for claude: the test runner's own Claude config is none of this test's business.
    const home = mkdtempSync(join(tmpdir(), "cc-test-token-home-"));
    const cluster = await startLocalCluster({ workers: 1, env: { CC_TOKEN: "right-token", CC_LOG_LEVEL: "silent" }, claudeHome: home, logger: silentLogger() });
    try {
      const run = (env: Record<string, string>) =>
        new Promise<Result>((resolve) => {
          const child = spawn(NODE, [MAIN, "ps"], { env: { PATH: process.env["PATH"] ?? "", HOME: tmpdir(), XDG_CONFIG_HOME: join(tmpdir(), "cc-no-config"), CC_ROUTER_URL: cluster.url, ...env } });
          let stdout = "";
          let stderr = "";
          child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
          child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
          child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }));
        });
      const wrong = await run({ CC_TOKEN: "wrong-token" });
      expect(wrong.code).toBe(4);
      expect(wrong.stderr).toMatch(/^cc: the router at http:\/\/127\.0\.0\.1:\d+ refused the token: .* — set the right one with --token, CC_TOKEN or `cc config set <profile> --token TOKEN`\n$/);
      const right = await run({ CC_TOKEN: "right-token" });
      expect(right).toMatchObject({ code: 0, stdout: "no running or queued tasks (`cc ps --all` lists finished ones too)\n" });
    } finally {
      await cluster.close();
      rmSync(home, { recursive: true, force: true });
    }
  });
});
