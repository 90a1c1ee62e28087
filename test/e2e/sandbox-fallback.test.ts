// A machine where bubblewrap cannot create namespaces, simulated for real: the worker runs inside a user namespace
// whose limits on new namespaces are 0 (`unshare --user`, then /proc/sys/user/max_*_namespaces = 0), as restrictive
// container runtimes leave it. CC_SANDBOX=auto starts, warns, reports `sandbox: none` in GetInfo and /metrics, and
// still runs tasks; CC_SANDBOX=bwrap refuses to start and says why.
import { mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EgressMode } from "../../gen/claudecluster/v1/run_pb.js";
import { WorkerService } from "../../gen/claudecluster/v1/worker_pb.js";
import type { ScriptedModel } from "../../services/scripted-model/index.js";
import { modelEnv, startModel } from "../helpers/model.js";
import { processesUnder, waitForNoProcessesUnder } from "../helpers/processes.js";
import { until } from "../helpers/wait.js";
import { collect, ofCase } from "../helpers/worker.js";
import { spawnWorkerProcess, type WorkerProcess } from "../helpers/worker-process.js";

/** Runs the worker where no new namespace may be made (util-linux `unshare`). */
const NO_NAMESPACES = [
  "unshare",
  "--user",
  "--map-root-user",
  "sh",
  "-c",
  'for n in user pid mnt net ipc uts cgroup; do echo 0 > /proc/sys/user/max_${n}_namespaces; done; exec "$@"',
  "sh",
];

const commandOf = (pid: number) => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ");
  } catch {
    return "";
  }
};

describe("CC_SANDBOX where bubblewrap cannot create namespaces, and off", () => {
  let root: string;
  let model: ScriptedModel;
  let worker: WorkerProcess | undefined;

  beforeAll(async () => {
    root = realpathSync(mkdtempSync(join(tmpdir(), "cc-test-fallback-")));
    model = await startModel("hello");
  });
  afterAll(async () => {
    worker?.child.kill("SIGTERM");
    await worker?.exited;
    await model.close();
    rmSync(root, { recursive: true, force: true });
  });

  const env = () => ({ ...modelEnv(model), CC_CLAUDE_HOME: join(root, "home"), CC_WORKSPACE_ROOT: join(root, "workspaces") });

  it("auto: starts, warns loudly, reports sandbox none (GetInfo, /metrics), and runs tasks unsandboxed", async () => {
    worker = await spawnWorkerProcess("fallback", { ...env(), CC_SANDBOX: "auto" }, NO_NAMESPACES);
    const warning = worker.logs.find((l) => l.includes("TASKS ARE NOT SANDBOXED"));
    expect(warning).toBeDefined();
    expect(JSON.parse(warning!)).toMatchObject({ level: 40, problem: expect.stringMatching(/^bubblewrap cannot create the task sandbox here: bwrap: .*namespace/) });
    const client = createClient(WorkerService, createGrpcTransport({ baseUrl: worker.url }));
    const info = await client.getInfo({});
    expect(info.sandbox).toBe("none");
    expect(info.sandboxProblem).toMatch(/tasks run unsandboxed and can read what the worker can/);
    // An egress policy cannot be enforced without the sandbox: the worker says open.
    expect(info.egress?.mode).toBe(EgressMode.OPEN);
    const metrics = await (await fetch(`${worker.url}/metrics`)).text();
    expect(metrics).toContain('claudecluster_worker_sandbox{kind="none"} 1');
    const events = await collect(client.run({ prompt: "still works" }));
    expect(ofCase(events, "exited")[0]).toMatchObject({ exitCode: 0 });
    // A task that asks for a policy the worker cannot enforce is refused rather than run open.
    const refused = await collect(client.run({ prompt: "x", egress: { mode: EgressMode.NONE } })).catch((e: unknown) => e);
    expect(String(refused)).toMatch(/failed_precondition.*cannot enforce an egress policy/);
  });

  it("bwrap: refuses to start, saying what is wrong and what to change", async () => {
    const failed = await spawnWorkerProcess("strict", { ...env(), CC_SANDBOX: "bwrap" }, NO_NAMESPACES).catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(Error);
    expect((failed as Error).message).toMatch(/worker exited early: worker: CC_SANDBOX=bwrap: bubblewrap cannot create the task sandbox here: .*; or set CC_SANDBOX=auto/);
  });

  it("off: what a SIGKILLed worker's tasks left running is ended by the next worker with the same HOME", async () => {
    const hold = await startModel({ conversations: [{ turns: [{ content: [{ type: "tool_use", name: "Bash", input: { command: "setsid tail -f /dev/null & tail -f /dev/null", description: "Hold" } }] }] }] });
    const workspaces = join(root, "orphans");
    const settings = { ...modelEnv(hold), CC_CLAUDE_HOME: join(root, "orphan-home"), CC_WORKSPACE_ROOT: workspaces, CC_SANDBOX: "off" };
    try {
      const first = await spawnWorkerProcess("orphans-1", settings);
      const client = createClient(WorkerService, createGrpcTransport({ baseUrl: first.url }));
      const stream = client.run({ prompt: "hold", agent: { allowedTools: ["Bash"] } })[Symbol.asyncIterator]();
      await stream.next();
      const tails = () => processesUnder(workspaces).filter((pid) => commandOf(pid).startsWith("tail"));
      await until(() => tails().length === 2);
      first.child.kill("SIGKILL");
      await first.exited;
      await stream.return?.().catch(() => undefined);
      // Unsandboxed, nothing ends them with the worker.
      const left = tails();
      expect(left).toHaveLength(2);
      const second = await spawnWorkerProcess("orphans-2", settings);
      expect(second.logs.some((l) => l.includes("ended processes left by a worker that died"))).toBe(true);
      expect(await waitForNoProcessesUnder(workspaces, 5000)).toEqual([]);
      expect(readdirSync(join(root, "orphan-home", ".claudecluster", "tasks"))).toEqual([]);
      second.child.kill("SIGTERM");
      await second.exited;
    } finally {
      await hold.close();
    }
  });
});
