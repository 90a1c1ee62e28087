// A router restart loses nothing (SQLite store): 20 running tasks — some detached, some followed by `cc run`, one
// interactive — and the router process SIGKILLed, then started again on the same data directory. Every task
// completes, each `cc run` re-attaches and prints its whole answer once, every stream's seq is 1..n with no gap or
// duplicate, the model saw one conversation per task, and `cc ps --all` lists every task, those that ended before
// the crash too. The tasks wait on a gate (a file their Bash command waits for), opened while the router is down, so
// the events of the gap reach the new router from the workers.
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RouterService, TaskStatus, type Task } from "../../gen/claudecluster/v1/router_pb.js";
import { ExitReason, Phase, RunMode, type RunEvent } from "../../gen/claudecluster/v1/run_pb.js";
import type { Script, ScriptedModel } from "../../services/scripted-model/index.js";
import { runCommand, type CommandResult } from "../helpers/command.js";
import { modelEnv, startModel } from "../helpers/model.js";
import { waitForNoProcessesUnder } from "../helpers/processes.js";
import { spawnRouterProcess, type RouterProcess } from "../helpers/router-process.js";
import { until } from "../helpers/wait.js";
import { spawnWorkerProcess, type WorkerProcess } from "../helpers/worker-process.js";

const CC = new URL("../../dist/cc/main.js", import.meta.url).pathname;
const DETACHED = 12;
const FOLLOWED = 7;
const answer = (name: string) => `The whole answer for ${name}, written once, after the gate opened.`;

/** Claude waits in a Bash call for the gate file, then answers. */
function gatedScript(names: string[], gate: string): Script {
  return {
    conversations: [
      ...names.map((name) => ({
        match: `${name} `,
        turns: [
          { content: [{ type: "tool_use" as const, name: "Bash", input: { command: `while [ ! -e ${gate} ]; do sleep 0.2; done; echo gate-open`, description: "Wait for the gate" } }] },
          { content: [{ type: "text" as const, text: answer(name) }] },
        ],
      })),
      // The interactive task answers and waits at its prompt; the quick ones answer at once.
      { match: "interactive ", turns: [{ content: [{ type: "text" as const, text: "Interactive answer, waiting for you." }] }] },
      { turns: [{ content: [{ type: "text" as const, text: "quick answer to {{prompt}}" }] }] },
    ],
  };
}

/** Follows a task to its exited through whatever router answers at `url`, attaching again from the last seq after a drop. */
async function followToEnd(client: () => Client<typeof RouterService>, taskId: string, onEvent?: (e: RunEvent) => Promise<void> | void): Promise<RunEvent[]> {
  const events: RunEvent[] = [];
  for (;;) {
    try {
      for await (const e of client().attach({ taskId, afterSeq: events.at(-1)?.seq ?? 0n })) {
        events.push(e);
        await onEvent?.(e);
        if (e.event.case === "exited") return events;
      }
    } catch (err) {
      if (ConnectError.from(err).code !== 14 && !/ECONNREFUSED|ECONNRESET|GOAWAY|closed/i.test(String(err))) throw err;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

const seqs = (events: RunEvent[]) => events.map((e) => Number(e.seq));
const oneToN = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

describe("a router restart (SQLite store)", () => {
  let model: ScriptedModel;
  let root: string;
  let router: RouterProcess;
  let port = 0;
  let client: Client<typeof RouterService>;
  const workers: WorkerProcess[] = [];

  async function startRouter(): Promise<void> {
    router = await spawnRouterProcess({
      PORT: String(port),
      CC_STORE: "sqlite",
      CC_DATA_DIR: join(root, "data"),
      CC_HEARTBEAT_INTERVAL: "500ms",
      CC_OFFLINE_AFTER: "5s",
      CC_CALLER_GRACE: "2m",
    });
    port = Number(new URL(router.url).port);
    client = createClient(RouterService, createGrpcTransport({ baseUrl: router.url }));
  }

  beforeAll(async () => {
    root = realpathSync(mkdtempSync(join(tmpdir(), "cc-test-restart-")));
  });

  afterAll(async () => {
    for (const w of workers) w.child.kill("SIGTERM");
    router?.child.kill("SIGTERM");
    await Promise.all(workers.map((w) => w.exited));
    await router?.exited;
    await model?.close();
    rmSync(root, { recursive: true, force: true });
  });

  it("every task completes, each stream is 1..n once, one conversation per task, and cc ps lists them all", async () => {
    // Tasks run sandboxed with a /tmp of their own: the gate's directory is bound into every sandbox (CC_SANDBOX_BIND).
    const gates = join(root, "gates");
    mkdirSync(gates);
    const gate = join(gates, "gate");
    const names = Array.from({ length: DETACHED + FOLLOWED }, (_, i) => `gated-${String(i).padStart(2, "0")}`);
    model = await startModel(gatedScript(names, gate));
    await startRouter();
    for (const id of ["r1", "r2"]) {
      const worker = await spawnWorkerProcess(id, {
        ...modelEnv(model),
        CC_ROUTER_URL: router.url,
        CC_CLAUDE_HOME: join(root, "home"),
        CC_WORKSPACE_ROOT: join(root, `ws-${id}`),
        CC_SANDBOX_BIND: gates,
        CC_MAX_SESSIONS: "11",
        CC_KILL_GRACE: "1s",
      });
      workers.push(worker);
    }
    await until(async () => (await client.listWorkers({})).workers.length === 2, 30_000);

    // Two tasks end before the crash.
    const before: string[] = [];
    for (const prompt of ["before-1 quick", "before-2 quick"]) {
      const r = await runCommand(process.execPath, [CC, "run", "--no-upload", "--router", router.url, "--output-format", "text", prompt]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe(`quick answer to ${prompt}\n`);
    }
    for (const t of (await client.listTasks({ limit: 10 })).tasks) before.push(t.id);
    expect(before).toHaveLength(2);

    // 12 detached, 7 followed by `cc run`, 1 interactive followed here.
    const detached: string[] = [];
    for (const name of names.slice(0, DETACHED)) {
      const r = await runCommand(process.execPath, [CC, "run", "-d", "--no-upload", "--router", router.url, "--allowed-tools", "Bash", `${name} waits at the gate`]);
      expect(r.code, r.stderr).toBe(0);
      detached.push(r.stdout.trim());
    }
    const followed = names.slice(DETACHED).map((name) => {
      const child = spawn(process.execPath, [CC, "run", "--no-upload", "--router", router.url, "--allowed-tools", "Bash", "--output-format", "text", `${name} waits at the gate`], {
        stdio: ["ignore", "pipe", "pipe"],
        env: { ...process.env, NO_COLOR: "1" },
      });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
      child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
      return { name, done: new Promise<CommandResult>((resolve) => child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }))) };
    });
    let interactiveId = "";
    for await (const e of client.run({ prompt: "interactive please", mode: RunMode.INTERACTIVE, agent: { allowedTools: ["Bash"] }, terminal: { cols: 100, rows: 30 }, detach: true })) {
      interactiveId = e.taskId;
      break;
    }

    // Every gated task is in its Bash call, and the interactive one waits at its prompt.
    const all = async () => (await client.listTasks({ limit: 100 })).tasks;
    const gated = (tasks: Task[]) => tasks.filter((t) => t.promptSummary.startsWith("gated-"));
    await until(async () => {
      const tasks = await all();
      return gated(tasks).length === names.length && gated(tasks).every((t) => t.latestLine.startsWith("Bash")) && tasks.some((t) => t.id === interactiveId && t.phase === Phase.WAITING_FOR_INPUT);
    }, 240_000);

    // The router dies; the gate opens while it is down, so the tasks go on, and many end, with no router.
    router.child.kill("SIGKILL");
    await router.exited;
    writeFileSync(gate, "");
    await startRouter();

    // The interactive task is asked to exit through the new router; it is followed from seq 0 to its end.
    let exitSent = false;
    const interactive = followToEnd(
      () => client,
      interactiveId,
      async (e) => {
        if (!exitSent && e.event.case === "status" && e.event.value.phase === Phase.WAITING_FOR_INPUT) {
          exitSent = true;
          // The router may not see the task's worker again yet (UNAVAILABLE until it re-registers).
          for (;;) {
            try {
              await client.sendInput({ taskId: interactiveId, input: { case: "text", value: "/exit\r" } });
              break;
            } catch (err) {
              if (ConnectError.from(err).code !== 14) throw err;
              await new Promise((r) => setTimeout(r, 200));
            }
          }
        }
      },
    );

    // Each `cc run` re-attached and printed its whole answer once.
    for (const f of followed) {
      const r = await f.done;
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe(`${answer(f.name)}\n`);
    }
    const interactiveEvents = await interactive;
    expect(seqs(interactiveEvents)).toEqual(oneToN(interactiveEvents.length));
    expect(interactiveEvents.at(-1)!.event).toMatchObject({ case: "exited", value: { reason: ExitReason.COMPLETED } });

    // Every task, replayed from the start: 1..n, ending with exited, completed.
    const ids = [...before, ...detached, interactiveId, ...(await all()).filter((t) => followed.some((f) => t.promptSummary.startsWith(f.name))).map((t) => t.id)];
    expect(new Set(ids).size).toBe(22);
    for (const id of ids) {
      const events = await followToEnd(() => client, id);
      expect(seqs(events), id).toEqual(oneToN(events.length));
      expect(events.at(-1)!.event.case).toBe("exited");
      const record = await client.getTask({ taskId: id });
      expect(record.status, `${id}: ${record.exit?.message}`).toBe(TaskStatus.SUCCEEDED);
      expect(record.lastSeq).toBe(BigInt(events.length));
    }
    for (const id of detached) {
      const record = await client.getTask({ taskId: id });
      expect(record.exit?.result?.result).toMatch(/^The whole answer for gated-\d\d, written once/);
    }

    // One conversation per task: no claude ran twice.
    for (const name of [...names, "interactive please", "before-1", "before-2"]) {
      const starts = model.mainRequests().filter((r) => {
        const body = JSON.stringify(r.body);
        return body.includes(name) && !(r.body as { messages?: { role: string }[] }).messages?.some((m) => m.role === "assistant");
      });
      expect(starts.length, name).toBe(1);
    }

    // `cc ps --all` after the restart: all 22, those ended before the crash too.
    const ps = await runCommand(process.execPath, [CC, "ps", "--all", "--json", "--router", router.url]);
    expect(ps.code, ps.stderr).toBe(0);
    const listed = (JSON.parse(ps.stdout) as { id: string }[]).map((t) => t.id);
    expect(listed.sort()).toEqual([...ids].sort());
    for (const w of workers) expect(await waitForNoProcessesUnder(join(root, `ws-${w.id}`), 20_000)).toEqual([]);
    expect(existsSync(join(root, "data", "tasks.db"))).toBe(true);
  }, 600_000);
});
