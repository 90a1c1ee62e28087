// The helper that judges "nothing left running": it must catch a leftover that left the workspace, one that also
// cleared its environment, and one known only by its task's workspace directory.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { leftoverProcesses, processesUnder, waitForNoProcessesUnder } from "./processes.js";
import { until } from "./wait.js";

describe("leftoverProcesses", () => {
  const children: ChildProcess[] = [];
  const dirs: string[] = [];
  const root = () => {
    const dir = realpathSync(mkdtempSync(join(tmpdir(), "cc-processes-test-")));
    dirs.push(dir);
    return dir;
  };
  /** `sh -c script` started in `cwd` as the worker starts claude: in a session of its own, with the task's tag. */
  const task = (cwd: string, tag: string, script: string) => {
    const child = spawn("sh", ["-c", script], { cwd, env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin", CC_TASK_ID: tag }, detached: true, stdio: "ignore" });
    children.push(child);
    return child;
  };
  /** The pids whose whole command line is `command`, once there is one. */
  const pidsOf = async (command: string) => {
    let pids: number[] = [];
    await until(() => {
      const r = spawnSync("pgrep", ["-f", `^${command}$`], { encoding: "utf8" });
      pids = r.stdout.trim() ? r.stdout.trim().split("\n").map(Number) : [];
      return pids.length > 0;
    });
    return pids;
  };
  afterEach(async () => {
    for (const c of children.splice(0)) {
      try {
        process.kill(-c.pid!, "SIGKILL");
      } catch {
        // Gone already.
      }
    }
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it("finds one that did `cd /` by its task tag: given, or the name of its .tasks workspace", async () => {
    const dir = root();
    const workspace = join(dir, "ws", ".tasks", "01tagged");
    mkdirSync(workspace, { recursive: true });
    task(workspace, "01tagged", "cd / && exec sleep 301");
    const [pid] = await pidsOf("sleep 301");
    await until(() => processesUnder(workspace).length === 0);
    expect(processesUnder(dir)).toEqual([]);
    expect(leftoverProcesses(dir)).toEqual([pid]);
    expect(leftoverProcesses(workspace)).toEqual([pid]);
    expect(leftoverProcesses(join(dir, "other"), ["01tagged"])).toEqual([pid]);
    expect(leftoverProcesses(join(dir, "other"))).toEqual([]);
  });

  it("finds one that cleared its environment and left, by the session of its task seen before", async () => {
    const dir = root();
    const shell = task(dir, "t-session", "env -i sh -c 'cd / && exec sleep 302' & wait");
    const [sleeper] = await pidsOf("sleep 302");
    // Seen while its tagged parent ran, as a test that waits for a task's processes sees them.
    await until(() => processesUnder(dir).length === 1);
    expect(leftoverProcesses(dir).sort()).toEqual([shell.pid, sleeper].sort());
    process.kill(shell.pid!, "SIGKILL");
    await until(() => !leftoverProcesses(dir).includes(shell.pid!));
    // No tag, not under dir: only its session gives it away.
    expect(processesUnder(dir)).toEqual([]);
    expect(leftoverProcesses(dir)).toEqual([sleeper]);
    expect(await waitForNoProcessesUnder(dir, 200)).toEqual([sleeper]);
  });

  it("does not count this test process, its siblings or unrelated processes", () => {
    const dir = root();
    expect(leftoverProcesses(dir)).toEqual([]);
    expect(leftoverProcesses(process.cwd())).not.toContain(process.pid);
  });
});
