// Attacks from inside a task, with the real claude: the scripted model asks for Bash commands that go after the
// worker's secrets, another running task's workspace, the workspace root, another session's transcript and paths
// outside the task's workspace; each must fail, judged by the tool result claude got back (what it sent on to the
// model). The same attacks run headless, from the warm pool, and in the interactive TUI. The worker is a process of
// its own, as in production, with its token in its environment and in a token file.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, ConnectError, createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Phase, RunMode, type RunEvent } from "../../gen/claudecluster/v1/run_pb.js";
import { WorkerService } from "../../gen/claudecluster/v1/worker_pb.js";
import type { Script, ScriptedModel } from "../../services/scripted-model/index.js";
import { modelEnv, startModel } from "../helpers/model.js";
import { processesUnder, waitForNoProcessesUnder } from "../helpers/processes.js";
import { toolResults } from "../helpers/tool-results.js";
import { until } from "../helpers/wait.js";
import { collect, ofCase } from "../helpers/worker.js";
import { spawnWorkerProcess, type WorkerProcess } from "../helpers/worker-process.js";

const WORKER_TOKEN = "worker-token-of-the-attack-test-0123456789";
const FILE_TOKEN = "second-worker-token-from-the-token-file-9876";
const PROFILE = { allowedTools: ["Bash"] };
/** Every prompt that contains this is run as a Bash command (the rest of the line is a shell comment). */
const ATTACK = "# attack";

const SCRIPT: Script = {
  conversations: [
    { match: ATTACK, turns: [{ content: [{ type: "tool_use", name: "Bash", input: { command: "{{prompt}}", description: "Try it" } }] }, { content: [{ type: "text", text: "Tried." }] }] },
    {
      match: "keep a secret",
      turns: [{ content: [{ type: "tool_use", name: "Bash", input: { command: "echo TOPSECRET-OF-THE-VICTIM > secret.txt && tail -f /dev/null", description: "Hold" } }] }],
    },
    { turns: [{ content: [{ type: "text", text: "Hello from an earlier session." }] }] },
  ],
};

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");

const bearer = (token: string): Interceptor[] => [(next) => (req) => (req.header.set("authorization", `Bearer ${token}`), next(req))];

interface Variant {
  name: string;
  mode: RunMode;
  warm: boolean;
  agent: { allowedTools: string[]; permissionMode?: string };
}

const VARIANTS: Variant[] = [
  { name: "headless", mode: RunMode.HEADLESS, warm: false, agent: PROFILE },
  { name: "from the warm pool", mode: RunMode.HEADLESS, warm: true, agent: PROFILE },
  // The TUI starts in auto mode, whose safety check claude 2.1.330 runs on Anthropic's servers and finds missing
  // behind any other base URL (the scripted model's too): it then asks before every command. `manual` runs the
  // allowed tools without asking, as headless mode does.
  { name: "interactive", mode: RunMode.INTERACTIVE, warm: false, agent: { ...PROFILE, permissionMode: "manual" } },
];

describe.each(VARIANTS)("a sandboxed task ($name) cannot reach what is not its own", (variant) => {
  let model: ScriptedModel;
  let root: string;
  let home: string;
  let workspaces: string;
  let tokenFile: string;
  let worker: WorkerProcess;
  let client: Client<typeof WorkerService>;
  let victim: { taskId: string; workspace: string; stream: Promise<RunEvent[]> };
  let earlierSession: string;
  let attacks = 0;

  beforeAll(async () => {
    root = realpathSync(mkdtempSync(join(tmpdir(), "cc-test-sandbox-")));
    home = join(root, "home");
    workspaces = join(root, "workspaces");
    tokenFile = join(root, "secrets", "worker-tokens");
    mkdirSync(join(root, "secrets"));
    writeFileSync(tokenFile, `${FILE_TOKEN}\n`);
    model = await startModel(SCRIPT);
    worker = await spawnWorkerProcess(`sandbox-${variant.name.replace(/\W/g, "-")}`, {
      ...modelEnv(model),
      CC_WORKER_TOKEN: WORKER_TOKEN,
      CC_WORKER_TOKEN_FILE: tokenFile,
      CC_CLAUDE_HOME: home,
      CC_WORKSPACE_ROOT: workspaces,
      CC_SANDBOX: "bwrap",
      CC_KILL_GRACE: "1s",
      // The attacks read bash's error messages; zsh words them differently.
      SHELL: "/bin/bash",
      ...(variant.warm ? { CC_WARM_POOL: "1", CC_WARM_PROFILE: JSON.stringify(PROFILE) } : {}),
    });
    client = createClient(WorkerService, createGrpcTransport({ baseUrl: worker.url, interceptors: bearer(WORKER_TOKEN) }));
    expect((await client.getInfo({})).sandbox).toBe("bwrap");

    // An earlier session on this worker, whose transcript the worker keeps.
    const earlier = await collect(client.run({ prompt: "say hello", agent: PROFILE }));
    earlierSession = ofCase(earlier, "exited")[0]!.result!.sessionId;
    expect(earlierSession).toMatch(/^[0-9a-f-]{36}$/);
    const projects = join(home, ".claude", "projects");
    // The worker keeps the transcript when the task's HOME goes, just after `exited`.
    await until(() => existsSync(projects) && readdirSync(projects, { recursive: true }).some((f) => String(f).endsWith(`${earlierSession}.jsonl`)));

    // Another task, running the whole time, with a secret in its workspace.
    const events: RunEvent[] = [];
    let resolveStarted!: (s: { taskId: string; workspace: string }) => void;
    const started = new Promise<{ taskId: string; workspace: string }>((r) => (resolveStarted = r));
    const stream = (async () => {
      for await (const ev of client.run({ prompt: "keep a secret", agent: PROFILE })) {
        events.push(ev);
        if (ev.event.case === "started") resolveStarted({ taskId: ev.taskId, workspace: ev.event.value.workspace });
      }
      return events;
    })();
    const { taskId, workspace } = await started;
    victim = { taskId, workspace, stream };
    await until(() => existsSync(join(workspace, "secret.txt")));
  }, 120_000);

  afterAll(async () => {
    if (victim) {
      await client.cancel({ taskId: victim.taskId }).catch(() => undefined);
      await victim.stream.catch(() => undefined);
    }
    worker?.child.kill("SIGTERM");
    await worker?.exited;
    const left = root ? await waitForNoProcessesUnder(workspaces) : [];
    await model?.close();
    if (root) rmSync(root, { recursive: true, force: true });
    expect(left).toEqual([]);
  }, 60_000);

  /** Runs `command` as the task's one Bash call and returns the tool result claude got back, and the task's workspace. */
  async function attack(command: string): Promise<{ result: string; workspace: string }> {
    const marker = `${ATTACK}-${++attacks}-${variant.name.replace(/\W/g, "")}`;
    const prompt = `${command} ${marker}`;
    if (variant.warm) await until(async () => (await client.getInfo({})).warmPool?.ready === 1);
    const hitsBefore = variant.warm ? (await client.getInfo({})).warmPool!.hits : 0n;
    let workspace = "";
    for await (const ev of client.run({ prompt, mode: variant.mode, agent: variant.agent })) {
      if (ev.event.case === "started") workspace = ev.event.value.workspace;
      // Interactive: the turn is over once claude waits for input.
      if (ev.event.case === "status" && ev.event.value.phase === Phase.WAITING_FOR_INPUT) {
        await client.sendInput({ taskId: ev.taskId, input: { case: "text", value: "/exit\r" } });
      }
    }
    if (variant.warm) expect((await client.getInfo({})).warmPool!.hits).toBe(hitsBefore + 1n);
    const results = toolResults(model, marker);
    expect(results, `no tool result for: ${command}`).toHaveLength(1);
    return { result: results[0]!, workspace };
  }

  it("cannot read the worker's environment through /proc, nor any process's outside the sandbox", async () => {
    const { result } = await attack(
      `cat /proc/${worker.child.pid}/environ; ls /proc | grep -c '^[0-9]'; cat /proc/[0-9]*/environ 2>/dev/null | tr '\\0' '\\n' | grep -c '^CC_WORKER'`,
    );
    expect(result).toContain(`/proc/${worker.child.pid}/environ: No such file or directory`);
    expect(result).not.toContain(WORKER_TOKEN);
    const [processes, workerVariables] = result.trim().split("\n").slice(-2);
    // Only the sandbox's own handful of processes exist, and none carries a worker variable.
    expect(Number(processes)).toBeLessThan(15);
    expect(workerVariables).toBe("0");
  });

  it("cannot read the worker's token file", async () => {
    const { result } = await attack(`cat ${tokenFile}; ls -A ${join(root, "secrets")}`);
    expect(result).toContain(`${tokenFile}: No such file or directory`);
    expect(result).not.toContain(FILE_TOKEN);
  });

  it("cannot read another running task's workspace", async () => {
    const { result, workspace } = await attack(`cat ${victim.workspace}/secret.txt; ls -A ${join(workspaces, ".tasks")}`);
    expect(result).toContain(`${victim.workspace}/secret.txt: No such file or directory`);
    expect(result).not.toContain("TOPSECRET");
    // Under .tasks it sees its own workspace only.
    expect(result.trim().split("\n").at(-1)).toBe(workspace.split("/").at(-1));
  });

  it("cannot list the shared workspace root, nor ask for it as its workspace", async () => {
    const { result } = await attack(`ls -A ${workspaces}; ls -A ${workspaces}/.tasks | wc -l`);
    expect(result.trim().split("\n")).toEqual([".tasks", "1"]);
    const refused = await collect(client.run({ prompt: "x", workspace: { source: { case: "directory", value: "." } } })).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ConnectError);
    expect((refused as ConnectError).code).toBe(Code.InvalidArgument);
  });

  it("cannot read another session's transcript, nor the worker's claude configuration", async () => {
    const { result } = await attack(`ls -A ${home}; cat ${home}/.claude/projects/*/${earlierSession}.jsonl; find $HOME /tmp -name '${earlierSession}*' | wc -l; ls -A $HOME/.claude`);
    const lines = result.trim().split("\n");
    // The worker's HOME holds, for this task, only the path to its own private HOME.
    expect(lines[0]).toBe(".claudecluster");
    expect(result).toMatch(/projects\/\*\/[0-9a-f-]{36}\.jsonl'?: No such file or directory/);
    expect(result).not.toContain("Hello from an earlier session");
    expect(lines).toContain("0");
    expect(result).not.toContain(".credentials.json");
  });

  it("cannot write outside its workspace; its /tmp is its own", async () => {
    const marker = `cc-sandbox-escape-${process.pid}-${variant.name.replace(/\W/g, "")}`;
    // The system, the sandbox's root, and another task's workspace (which does not exist in here) refuse writes.
    const refused = [`/etc/${marker}`, `/usr/${marker}`, `/${marker}`, join(victim.workspace, marker)];
    // The test keeps the workspace root and the worker's HOME under /tmp; in the sandbox that is its own /tmp, so a
    // write there lands in the sandbox's private /tmp, never in the worker's directories.
    const privateOnly = [join(workspaces, marker), join(home, marker), `/tmp/${marker}`];
    const { result } = await attack(`for f in ${[...refused, ...privateOnly].join(" ")}; do { echo x > "$f" && echo "wrote $f"; } 2>&1; done`);
    const lines = result.trim().split("\n");
    for (const [i, target] of refused.entries()) expect(lines[i]).toMatch(new RegExp(`${escape(target)}: (Read-only file system|No such file or directory)$`));
    for (const target of [...refused, ...privateOnly, join(tmpdir(), marker)]) expect(existsSync(target), target).toBe(false);
  });
});

describe("what a task asks for, inside its sandbox", () => {
  it("its extra directories (agent.add_dirs) are there read-write, and its own variables (env) reach its commands", async () => {
    const root = realpathSync(mkdtempSync(join(tmpdir(), "cc-test-sandbox-asks-")));
    const workspaces = join(root, "workspaces");
    const model = await startModel(SCRIPT);
    try {
      const w = await spawnWorkerProcess("sandbox-asks", { ...modelEnv(model), CC_CLAUDE_HOME: join(root, "home"), CC_WORKSPACE_ROOT: workspaces, CC_SANDBOX: "bwrap" });
      const client = createClient(WorkerService, createGrpcTransport({ baseUrl: w.url }));
      const shared = join(workspaces, "shared");
      const prompt = `echo "$PROJECT_NAME"; echo from-the-task > ${shared}/note.txt && cat ${shared}/note.txt; ls -A ${workspaces} ${ATTACK}-asks`;
      const events = await collect(client.run({ prompt, env: { PROJECT_NAME: "demo-project" }, agent: { ...PROFILE, addDirs: ["shared"] } }));
      expect(ofCase(events, "exited")[0]).toMatchObject({ exitCode: 0 });
      const [result] = toolResults(model, `${ATTACK}-asks`);
      // The variable, the file written and read back, and of the root only its .tasks (its workspace) and the extra directory.
      expect(result!.trim().split("\n")).toEqual(["demo-project", "from-the-task", ".tasks", "shared"]);
      expect(readFileSync(join(shared, "note.txt"), "utf8")).toBe("from-the-task\n");
      w.child.kill("SIGTERM");
      await w.exited;
    } finally {
      await model.close();
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe("a sandbox ends with its worker", () => {
  it("a worker SIGKILLed mid-task takes every process of its tasks with it, even one in a session of its own", async () => {
    const root = realpathSync(mkdtempSync(join(tmpdir(), "cc-test-sandbox-kill-")));
    const model = await startModel({ conversations: [{ turns: [{ content: [{ type: "tool_use", name: "Bash", input: { command: "setsid tail -f /dev/null & tail -f /dev/null", description: "Hold" } }] }] }] });
    const workspaces = join(root, "workspaces");
    try {
      const w = await spawnWorkerProcess("sandbox-kill", { ...modelEnv(model), CC_CLAUDE_HOME: join(root, "home"), CC_WORKSPACE_ROOT: workspaces, CC_SANDBOX: "bwrap" });
      const client = createClient(WorkerService, createGrpcTransport({ baseUrl: w.url }));
      const stream = client.run({ prompt: "hold", agent: PROFILE })[Symbol.asyncIterator]();
      await stream.next();
      const tails = () => processesUnder(workspaces).filter((pid) => commOf(pid) === "tail");
      await until(() => tails().length === 2);
      w.child.kill("SIGKILL");
      await w.exited;
      // No sweep, no later worker: the kernel ends the PID namespace when bwrap goes.
      expect(await waitForNoProcessesUnder(workspaces, 5000)).toEqual([]);
      await stream.return?.();
    } finally {
      await model.close();
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe.each(["bwrap", "off"])("hook events cannot be forged by claude's tools (CC_SANDBOX=%s)", (mode) => {
  it("a Bash command that posts a Stop to the task's hook URL is refused, and the task's status is claude's own", async () => {
    const root = realpathSync(mkdtempSync(join(tmpdir(), "cc-test-hooks-")));
    // The tool finds the hook URL where it can: in claude's command line (the --settings JSON).
    const forge = `url=$(cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' '\\n' | grep -o 'http://127.0.0.1:[0-9]*/hooks/[^"]*' | head -1); curl -s -o /dev/null -w '%{http_code}\\n' -X POST -H 'content-type: application/json' -d '{"hook_event_name":"Stop","session_id":"forged"}' "$url"; echo "$url" | cut -c1-16`;
    const model = await startModel({ conversations: [{ turns: [{ content: [{ type: "tool_use", name: "Bash", input: { command: forge, description: "Forge" } }] }, { content: [{ type: "text", text: "Forged?" }] }] }] });
    try {
      const w = await spawnWorkerProcess(`hooks-${mode}`, { ...modelEnv(model), CC_CLAUDE_HOME: join(root, "home"), CC_WORKSPACE_ROOT: join(root, "workspaces"), CC_SANDBOX: mode });
      const client = createClient(WorkerService, createGrpcTransport({ baseUrl: w.url }));
      const phases: Phase[] = [];
      let exited: RunEvent | undefined;
      for await (const ev of client.run({ prompt: "forge a hook", mode: RunMode.INTERACTIVE, agent: { allowedTools: ["Bash"], permissionMode: "manual" } })) {
        if (ev.event.case === "status") {
          phases.push(ev.event.value.phase);
          if (ev.event.value.phase === Phase.WAITING_FOR_INPUT) await client.sendInput({ taskId: ev.taskId, input: { case: "text", value: "/exit\r" } });
        }
        if (ev.event.case === "exited") exited = ev;
      }
      const [result] = toolResults(model, "forge a hook");
      const [status, url] = result!.trim().split("\n");
      // The tool did reach the hook channel, and was refused.
      expect(url).toBe("http://127.0.0.1");
      expect(status).toBe("403");
      // Accepted, then one turn: running, then waiting once claude itself said Stop; the forged session id never took.
      expect(phases).toEqual([Phase.STARTING, Phase.RUNNING, Phase.WAITING_FOR_INPUT]);
      expect(exited?.event.case === "exited" && exited.event.value.result?.sessionId).toMatch(/^[0-9a-f-]{36}$/);
      w.child.kill("SIGTERM");
      await w.exited;
    } finally {
      await model.close();
      rmSync(root, { recursive: true, force: true });
    }
  });
});

/** A process's command name; empty once it is gone (a short-lived command exits between the scan and the read). */
function commOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return "";
  }
}
