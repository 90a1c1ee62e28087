// Many tasks from one terminal, end to end: the built CLI (dist/cc/main.js) against a local cluster of two workers
// running the real claude, pointed at the scripted model. cc run -n, cc batch (its parallel limit checked from the
// router's task records), the verbs (show, wait, send, ps filters, logs --tail/--since), per-task env that reaches
// claude and nothing else, --json-schema, --continue, and bad input with its exit codes. Run `npm run build` first.
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import * as pty from "node-pty";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startLocalCluster, type LocalCluster } from "../services/cluster/local.js";
import type { Script, ScriptedModel } from "../services/scripted-model/index.js";
import { fixtureScript, modelEnv, startModel } from "../test/helpers/model.js";
import { waitForNoProcessesUnder } from "../test/helpers/processes.js";
import { until } from "../test/helpers/wait.js";
import { stripAnsi } from "./lib/style.js";

const MAIN = new URL("../dist/cc/main.js", import.meta.url).pathname;
const NODE = process.execPath;
const SECRET = "s3cret-value-7f1c2b";
const BUF = new URL("../node_modules/.bin/buf", import.meta.url).pathname;
const PROTO_DIR = new URL("../proto", import.meta.url).pathname;

const SCRIPT: Script = {
  conversations: [
    { match: "slow", turns: [{ chunkDelayMs: 80, content: [{ type: "text", text: "one two three four five six seven eight nine ten" }] }] },
    { match: "fail", turns: [{ content: [], error: { status: 400, type: "invalid_request_error", message: "scripted failure", retry: false } }] },
    { match: "hang", turns: [{ content: [{ type: "tool_use", name: "Bash", input: { command: "tail -f /dev/null", description: "Wait" } }] }] },
    {
      match: "keep the secret",
      turns: [
        { content: [{ type: "tool_use", name: "Bash", input: { command: 'printf %s "$MY_SECRET" > secret.txt', description: "Store it" } }] },
        { content: [{ type: "text", text: "Stored." }] },
      ],
    },
    { match: "structured", turns: fixtureScript("structured-output").conversations[0]!.turns },
    { match: "remember", turns: [{ content: [{ type: "text", text: "First answer: noted." }] }, { content: [{ type: "text", text: "Second answer: {{prompt}}" }] }] },
    { match: "interactive", turns: fixtureScript("two-turns").conversations[0]!.turns },
    { turns: fixtureScript("hello").conversations[0]!.turns },
  ],
};

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

type Json = Record<string, unknown>;

describe("many tasks from one terminal, against the real claude", () => {
  let model: ScriptedModel;
  let cluster: LocalCluster;
  let root: string;
  let baseEnv: Record<string, string>;
  const serviceLogs: string[] = [];

  function cc(args: string[], options: { env?: Record<string, string>; input?: string; cwd?: string } = {}): Promise<Result> {
    return new Promise((resolve, reject) => {
      const child = spawn(NODE, [MAIN, ...args], { env: { ...baseEnv, ...options.env }, cwd: options.cwd ?? root, stdio: ["pipe", "pipe", "pipe"] });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d: Buffer) => (stdout += d.toString("utf8")));
      child.stderr.on("data", (d: Buffer) => (stderr += d.toString("utf8")));
      child.on("error", reject);
      child.on("close", (code) => resolve({ code, stdout, stderr }));
      child.stdin.end(options.input ?? "");
    });
  }

  const record = async (id: string): Promise<Json> => JSON.parse((await cc(["show", "--json", id])).stdout) as Json;

  beforeAll(async () => {
    if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run \`npm run build\` first`);
    root = realpathSync(mkdtempSync(join(tmpdir(), "cc-test-fleet-")));
    model = await startModel(SCRIPT);
    // Every line both services log, at debug level, to check that no env value ever reaches a log.
    const sink = new Writable({ write: (chunk: Buffer, _enc, cb) => (serviceLogs.push(chunk.toString("utf8")), cb()) });
    cluster = await startLocalCluster({
      workers: 2,
      env: { ...modelEnv(model), CC_KILL_GRACE: "2s", CC_LABELS: "team=fleet" },
      claudeHome: join(root, "home"),
      workspaceRoot: join(root, "workspaces"),
      maxSessionsPerWorker: 3,
      logger: pino({ level: "debug" }, sink),
    });
    baseEnv = {
      PATH: process.env["PATH"] ?? "/usr/bin:/bin",
      HOME: join(root, "user-home"),
      XDG_CONFIG_HOME: join(root, "config"),
      XDG_STATE_HOME: join(root, "state"),
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

  it("cc run -n 3 on two workers: three attempts, distinct task ids, both workers, and a table that matches the records", async () => {
    const r = await cc(["run", "-n", "3", "hello", "there"]);
    expect(r.code, r.stderr).toBe(0);
    const table = r.stdout.slice(r.stdout.indexOf("ATTEMPT"));
    const [header, ...rows] = table.trimEnd().split("\n");
    expect(header).toMatch(/^ATTEMPT\s+TASK\s+WORKER\s+STATUS\s+TURNS\s+COST\s+DURATION\s+NOTE$/);
    expect(rows.at(-1)).toBe("3 succeeded of 3 attempts");
    const cells = rows.slice(0, -1).map((row) => row.split(/\s{2,}/));
    expect(cells.map((c) => c[0])).toEqual(["1", "2", "3"]);
    const ids = cells.map((c) => c[1]!);
    expect(new Set(ids).size).toBe(3);
    for (const id of ids) expect(id).toMatch(/^[0-9a-z]{26}$/);
    expect(new Set(cells.map((c) => c[2]))).toEqual(new Set(["local-1", "local-2"]));
    // The table says what the router's records say.
    const records = await Promise.all(ids.map(record));
    cells.forEach((c, i) => {
      const rec = records[i]!;
      const result = (rec["exit"] as { result: Json }).result;
      expect(c.slice(1, 5)).toEqual([rec["id"], rec["workerId"], "succeeded", String(result["numTurns"])]);
      expect(c[5]).toBe(`$${Number(result["totalCostUsd"]).toFixed(4)}`);
      expect(rec["status"]).toBe("TASK_STATUS_SUCCEEDED");
    });
    expect(new Set(records.map((rec) => rec["spreadGroup"])).size).toBe(1);
    expect(new Set(records.map((rec) => rec["requestId"])).size).toBe(3);
    // Without a terminal, each attempt's answer was printed with its prefix.
    for (const n of [1, 2, 3]) expect(r.stdout).toContain(`[${n}] Hello from the scripted model. You said: hello there\n`);
  });

  it("cc batch of 12 with --parallel 4: never more than 4 at once (from the records), one scripted failure, exit 1", async () => {
    const lines = Array.from({ length: 12 }, (_, i) => JSON.stringify(i === 6 ? { prompt: "please fail now", name: "the-failure" } : { prompt: `slow task ${i + 1}` }));
    writeFileSync(join(root, "twelve.jsonl"), lines.join("\n") + "\n");
    const r = await cc(["batch", "--parallel", "4", "--json", "twelve.jsonl"]);
    expect(r.code, r.stderr).toBe(1);
    const out = JSON.parse(r.stdout) as { tasks: Json[]; summary: Json };
    expect(out.summary).toEqual({ total: 12, succeeded: 11, failed: 1, cancelled: 0, notStarted: 0 });
    expect(out.tasks.map((t) => t["line"])).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    const failure = out.tasks[6]!;
    expect(failure).toMatchObject({ name: "the-failure", label: "the-failure", status: "failed", exitCode: 1 });
    expect(String(failure["message"])).toContain("scripted failure");
    // The router's own times: created when cc sent it, ended when it ended. At most 4 at any instant, and 4 at some.
    const records = await Promise.all(out.tasks.map((t) => record(String(t["taskId"]))));
    // Timestamps in the JSON form are RFC 3339 strings.
    const ms = (t: unknown) => Date.parse(String(t));
    const edges = records.flatMap((rec) => [
      { at: ms(rec["createdAt"]), delta: 1 },
      { at: ms(rec["endedAt"]), delta: -1 },
    ]);
    // Ends first at the same instant: a task that ended is not running when the next one starts.
    edges.sort((a, b) => a.at - b.at || a.delta - b.delta);
    let running = 0;
    let most = 0;
    for (const e of edges) most = Math.max(most, (running += e.delta));
    expect(most).toBe(4);
    // The progress went to stderr, one line per change, with the failure's name.
    expect(r.stderr).toMatch(/^\[the-failure\] ✗ error/m);
  });

  it("cc show, cc wait and cc ps filters on real tasks", async () => {
    const done = (await cc(["run", "-d", "hi", "again"])).stdout.trim();
    const fails = (await cc(["run", "-d", "--label", "team=fleet", "fail please"])).stdout.trim();
    const w = await cc(["wait", done, fails]);
    expect(w.code).toBe(1);
    expect(w.stdout.split("\n").sort()).toEqual(["", `${done} succeeded`, `${fails} failed (error)`].sort());
    expect((await cc(["wait", done])).code).toBe(0);

    const show = await cc(["show", done]);
    expect(show.code).toBe(0);
    expect(show.stdout).toMatch(new RegExp(`^Task +${done}\\nStatus +succeeded\\nPrompt +hi again\\nMode +headless\\nWorker +local-\\d\\n`));
    expect(show.stdout).toMatch(/^Session +[0-9a-f-]{36}$/m);

    const failed = JSON.parse((await cc(["ps", "--status", "failed", "--label", "team=fleet", "--json"])).stdout) as Json[];
    expect(failed.map((t) => t["id"])).toEqual([fails]);
    const worker = String((await record(done))["workerId"]);
    const onWorker = JSON.parse((await cc(["ps", "--all", "--worker", worker, "--since", "1h", "--json"])).stdout) as Json[];
    expect(onWorker.length).toBeGreaterThan(0);
    expect(onWorker.every((t) => t["workerId"] === worker)).toBe(true);
    const two = JSON.parse((await cc(["ps", "--all", "--limit", "2", "--json"])).stdout) as Json[];
    expect(two.map((t) => t["id"])).toEqual([fails, done]);
  });

  it("buf curl, an independent client, pages through ListTasks with a filter and the page token", async () => {
    const list = async (body: Json) => {
      const r = await new Promise<Result>((resolve) => {
        const child = spawn(BUF, ["curl", "--protocol", "connect", "--schema", PROTO_DIR, "-d", JSON.stringify(body), `${cluster.url}/claudecluster.v1.RouterService/ListTasks`]);
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
        child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
        child.on("close", (code) => resolve({ code, stdout, stderr }));
      });
      expect(r.code, r.stderr).toBe(0);
      return JSON.parse(r.stdout) as { tasks?: Json[]; nextPageToken?: string };
    };
    const filter = { statuses: ["TASK_STATUS_SUCCEEDED"], limit: 2 };
    const first = await list(filter);
    expect(first.tasks).toHaveLength(2);
    expect(first.nextPageToken).toBeTruthy();
    const second = await list({ ...filter, pageToken: first.nextPageToken });
    const ids = [...first.tasks!, ...second.tasks!].map((t) => String(t["id"]));
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort().reverse()).toEqual(ids);
    expect([...first.tasks!, ...second.tasks!].every((t) => t["status"] === "TASK_STATUS_SUCCEEDED")).toBe(true);
    // The same tasks, read by cc ps in one go.
    const all = JSON.parse((await cc(["ps", "--status", "succeeded", "--json"])).stdout) as Json[];
    expect(all.slice(0, ids.length).map((t) => t["id"])).toEqual(ids);
  });

  it("cc wait --timeout exits 124 and leaves the task running; cc logs --tail and --since", async () => {
    const id = (await cc(["run", "-d", "--allowed-tools", "Bash", "hang on"])).stdout.trim();
    const w = await cc(["wait", "--timeout", "1s", id]);
    expect(w).toMatchObject({ code: 124, stdout: "", stderr: `cc: 1 of 1 task still running after 1.0s: ${id}\n` });
    expect((await record(id))["status"]).toBe("TASK_STATUS_RUNNING");
    await cc(["cancel", id]);
    const full = await cc(["logs", id]);
    const tail = await cc(["logs", "--tail", "2", id]);
    expect(tail.code).toBe(0);
    expect(tail.stdout).toBe(full.stdout.trimEnd().split("\n").slice(-2).join("\n") + "\n");
    expect(tail.stdout).toMatch(/── ✗ cancelled/);
    const since = await cc(["logs", "--since", "2099-01-01T00:00:00Z", id]);
    // Nothing was logged after that time; the end is still said.
    expect(since.stdout).toMatch(/^── ✗ cancelled/);
  });

  it("--env reaches claude, and its value is in no record, no cc show, no service log and no metrics", async () => {
    const r = await cc(["run", "--cwd", "env-check", "--allowed-tools", "Bash", "--env", "MY_SECRET", "--env", "OTHER=1", "keep the secret"], { env: { MY_SECRET: SECRET } });
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(join(root, "workspaces", "env-check", "secret.txt"), "utf8")).toBe(SECRET);
    const id = /task ([0-9a-z]{26})/.exec(r.stderr)![1]!;
    const json = await cc(["show", "--json", id]);
    expect(JSON.parse(json.stdout)).toMatchObject({ envNames: ["MY_SECRET", "OTHER"] });
    const text = await cc(["show", id]);
    expect(text.stdout).toMatch(/^Env +MY_SECRET, OTHER \(the values are not kept\)$/m);
    const listed = await cc(["ps", "--all", "--json"]);
    const metrics = await Promise.all([cluster.url, ...cluster.workerUrls].map(async (u) => (await fetch(`${u}/metrics`)).text()));
    for (const where of [json.stdout, text.stdout, listed.stdout, serviceLogs.join(""), ...metrics]) expect(where).not.toContain(SECRET);
    expect(serviceLogs.length).toBeGreaterThan(10);
  });

  it("--json-schema prints claude's structured answer", async () => {
    const r = await cc(["run", "--json-schema", '{"type":"object","properties":{"name":{"type":"string"},"age":{"type":"number"}},"required":["name"]}', "structured please"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.endsWith('{\n  "name": "Ada",\n  "age": 36\n}\n')).toBe(true);
    const json = await cc(["run", "--output-format", "json", "--json-schema", '{"type":"object"}', "structured again"]);
    expect((JSON.parse(json.stdout) as Json)["structured_output"]).toEqual({ name: "Ada", age: 36 });
  });

  it("--continue resumes the caller's latest session from this directory, on its worker", async () => {
    const project = join(root, "project-a");
    mkdirSync(project);
    const first = await cc(["run", "--cwd", "shared-dir", "remember this"], { cwd: project });
    expect(first.stdout).toBe("First answer: noted.\n");
    const worker = /worker (local-\d)/.exec(first.stderr)![1];
    const second = await cc(["run", "--continue", "and then?"], { cwd: project });
    expect(second.code, second.stderr).toBe(0);
    // The scripted model plays turn 2 only when the first turn is in the request: the session was resumed.
    expect(second.stdout).toBe("Second answer: and then?\n");
    expect(second.stderr).toContain(`worker ${worker}`);
    const id = /task ([0-9a-z]{26})/.exec(second.stderr)![1]!;
    expect(await record(id)).toMatchObject({ requestedWorkerId: worker, workspace: { directory: "shared-dir" } });
    // Another directory has no latest session.
    const other = join(root, "project-b");
    mkdirSync(other);
    const elsewhere = await cc(["run", "--continue", "x"], { cwd: other });
    expect(elsewhere.code).toBe(2);
    expect(elsewhere.stderr).toBe(`cc: --continue: no earlier \`cc run\` from ${other} on ${cluster.url} to continue; run one first, or give --resume SESSION\n`);
  });

  it("cc send types into an interactive task; a headless one is refused", async () => {
    const id = await startDetachedInteractive("interactive one");
    expect((await cc(["send", id, "two"])).code).toBe(0);
    await waitForLog(id, 'Secondanswer:nowyousaid"two"');
    expect((await cc(["send", id, "/exit"])).code).toBe(0);
    expect(await cc(["wait", id])).toMatchObject({ code: 0, stdout: `${id} succeeded\n` });

    const headless = (await cc(["run", "-d", "--allowed-tools", "Bash", "hang again"])).stdout.trim();
    const refused = await cc(["send", headless, "hello"]);
    expect(refused).toMatchObject({
      code: 4,
      stdout: "",
      stderr: `cc: task ${headless} is headless: it took its prompt when it started and reads no input; \`cc send\` types into interactive tasks (\`cc run -i\`)\n`,
    });
    await cc(["cancel", headless]);
  });

  it("bad input: unknown tasks, -n 0, --env with an invalid name, a malformed batch line — each a message and its exit code", async () => {
    for (const verb of ["show", "wait", "send", "logs"]) {
      const r = await cc([verb, "nosuchtask"]);
      expect(r, verb).toMatchObject({ code: 4, stdout: "", stderr: `cc: no task "nosuchtask" on the router at ${cluster.url} — list tasks with \`cc ps --all\`\n` });
    }
    expect(await cc(["run", "-n", "0", "x"])).toMatchObject({ code: 2, stderr: 'cc: -n expects a whole number from 1 to 32, got "0"\n' });
    expect(await cc(["run", "--env", "9LIVES=1", "x"])).toMatchObject({ code: 2, stderr: 'cc: --env: "9LIVES" is not a variable name: use letters, digits and _, not starting with a digit (at most 128)\n' });
    writeFileSync(join(root, "bad.yaml"), "- prompt: fine\n- prompt: also fine\n  max-turns: lots\n");
    expect(await cc(["batch", "bad.yaml"])).toMatchObject({ code: 2, stdout: "", stderr: 'cc: bad.yaml line 2: "max-turns" expects a whole number of 1 or more, got "lots"\n' });
    const before = JSON.parse((await cc(["ps", "--all", "--json"])).stdout) as Json[];
    expect(before.some((t) => t["promptSummary"] === "fine")).toBe(false);
  });

  it("cc batch on a terminal: status rows, Ctrl-C asks once, yes cancels what it started and starts no more", async () => {
    writeFileSync(join(root, "hang.jsonl"), [1, 2, 3].map((n) => JSON.stringify({ prompt: `hang number ${n}`, "allowed-tools": "Bash", name: `hang-${n}` })).join("\n"));
    const p = pty.spawn(NODE, [MAIN, "batch", "--parallel", "2", "hang.jsonl"], { cols: 120, rows: 30, cwd: root, env: { ...baseEnv, TERM: "xterm-256color" } });
    let raw = "";
    const waiters: { text: string; resolve: () => void }[] = [];
    const screen = () => stripAnsi(raw);
    p.onData((d) => {
      raw += d;
      for (const w of waiters.splice(0)) (screen().includes(w.text) ? w.resolve() : waiters.push(w));
    });
    const waitFor = (text: string) =>
      new Promise<void>((resolve, reject) => {
        if (screen().includes(text)) return resolve();
        const timer = setTimeout(() => reject(new Error(`"${text}" did not appear; the screen shows: ${screen().slice(-600)}`)), 30_000);
        waiters.push({ text, resolve: () => (clearTimeout(timer), resolve()) });
      });
    const exited = new Promise<number>((resolve) => p.onExit(({ exitCode }) => resolve(exitCode)));
    try {
      // Both running tasks have reached the command that never ends.
      await until(() => [1, 2].every((n) => new RegExp(`hang-${n} +running .*⏺ Bash\\(tail -f /dev/null\\)`).test(screen())), 30_000);
      p.write("\x03");
      await waitFor("cc: cancel the 2 running tasks of this batch and start no more? [y/N]");
      p.write("y");
      expect(await exited).toBe(130);
    } finally {
      try {
        p.kill();
      } catch {
        // Already gone.
      }
    }
    const table = screen().slice(screen().lastIndexOf("ENTRY"));
    expect(table).toMatch(/hang-1 +[0-9a-z]{26} +local-\d +cancelled/);
    expect(table).toMatch(/hang-2 +[0-9a-z]{26} +local-\d +cancelled/);
    expect(table).toMatch(/hang-3 +- +- +not started/);
    expect(table).toContain("2 cancelled, 1 not started of 3 tasks");
    const tasks = JSON.parse((await cc(["ps", "--all", "--json"])).stdout) as Json[];
    expect(tasks.filter((t) => String(t["promptSummary"]).startsWith("hang number")).map((t) => [t["promptSummary"], t["status"]]).sort()).toEqual([
      ["hang number 1", "TASK_STATUS_CANCELLED"],
      ["hang number 2", "TASK_STATUS_CANCELLED"],
    ]);
  });

  /** Starts `cc run -i PROMPT` in a pseudo-terminal, waits for the first answer, detaches; returns the task id. */
  async function startDetachedInteractive(prompt: string): Promise<string> {
    const p = pty.spawn(NODE, [MAIN, "run", "-i", ...prompt.split(" ")], { cols: 100, rows: 30, cwd: root, env: { ...baseEnv, TERM: "xterm-256color" } });
    let raw = "";
    const screen = () => stripAnsi(raw).replace(/\s+/g, "");
    const exited = new Promise<void>((resolve) => p.onExit(() => resolve()));
    let detached = false;
    const seen = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no first answer; screen: ${screen().slice(-400)}`)), 30_000);
      p.onData((d) => {
        raw += d;
        if (!detached && screen().includes("Firstanswer")) {
          detached = true;
          clearTimeout(timer);
          p.write("\x10\x11");
          resolve();
        }
      });
    });
    try {
      await seen;
      await exited;
    } finally {
      try {
        p.kill();
      } catch {
        // Already gone.
      }
    }
    const id = /detachedfromtask([0-9a-z]{26})/.exec(screen())?.[1];
    if (!id) throw new Error(`no task id on the screen: ${screen().slice(-400)}`);
    return id;
  }

  /** Follows the task's log (cc logs -f) until its terminal output shows `text` (spaces and escapes removed). */
  function waitForLog(id: string, text: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const child = spawn(NODE, [MAIN, "logs", "-f", id], { env: baseEnv, stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      const timer = setTimeout(() => (child.kill("SIGINT"), reject(new Error(`"${text}" never appeared in the log of ${id}`))), 30_000);
      child.stdout.on("data", (d: Buffer) => {
        out += d.toString("utf8");
        if (stripAnsi(out).replace(/\s+/g, "").includes(text)) {
          clearTimeout(timer);
          child.kill("SIGINT");
          resolve();
        }
      });
    });
  }
});
