import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { once } from "node:events";
import { afterEach, describe, expect, it } from "vitest";
import { newTaskId } from "../common/ids.js";
import { sandboxedCommand, sandboxNamespace, signalTask, sweepOrphans, TASK_ID_ENV, taskProcesses, whenTaskProcessesGone } from "./process-tree.js";

/** Polls a condition that depends on other processes (bounded; there is no event to wait for). */
async function until(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}

function comm(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return "";
  }
}

/** Session id of a process: field 6 of /proc/<pid>/stat (after the parenthesised command name). */
function sessionOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[3]);
}

/** Process state letter (R, S, Z...) from /proc/<pid>/stat; "" once the process is gone. */
function stateOf(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0]!;
  } catch {
    return "";
  }
}

const sleepsOf = (taskId: string) => taskProcesses(taskId).filter((pid) => comm(pid) === "sleep");

describe("process tree", () => {
  const started: { taskId: string; child: ChildProcess }[] = [];

  function startTask(env: Record<string, string>, taskId: string): ChildProcess {
    const child = spawn("sh", ["-c", "setsid sleep 30 & sleep 30"], { env, detached: true, stdio: "ignore" });
    started.push({ taskId, child });
    return child;
  }

  afterEach(async () => {
    for (const { taskId, child } of started.splice(0)) {
      signalTask(taskId, child.pid, "SIGKILL");
      if (child.exitCode === null && child.signalCode === null) await once(child, "exit");
    }
  });

  it("finds every process of a task, even one in its own session, and signalTask ends them all", async () => {
    const taskId = `test-${newTaskId()}`;
    const child = startTask({ PATH: process.env["PATH"] ?? "/usr/bin:/bin", [TASK_ID_ENV]: taskId }, taskId);
    const exited = once(child, "exit");
    await until(() => sleepsOf(taskId).length === 2);

    const sleeps = sleepsOf(taskId);
    expect(taskProcesses(taskId)).toEqual(expect.arrayContaining(sleeps));
    // One sleep escaped into a session of its own (setsid), out of reach of the process group.
    const own = sleeps.filter((pid) => sessionOf(pid) === pid);
    expect(own).toHaveLength(1);
    expect(sessionOf(child.pid!)).not.toBe(own[0]);

    signalTask(taskId, child.pid, "SIGTERM");
    await exited;
    await until(() => taskProcesses(taskId).length === 0);
    // Gone, or a zombie waiting for init to reap it: nothing runs any more.
    for (const pid of sleeps) expect(["", "Z"]).toContain(stateOf(pid));
  });

  it("matches the whole id, wherever the variable sits in the environment", async () => {
    const id = `test-${newTaskId()}`;
    // First entry (no NUL before it) and a later entry, plus ids that only share a prefix or a suffix.
    startTask({ [TASK_ID_ENV]: id, PATH: process.env["PATH"] ?? "/usr/bin:/bin" }, id);
    startTask({ PATH: process.env["PATH"] ?? "/usr/bin:/bin", [TASK_ID_ENV]: `${id}x` }, `${id}x`);
    startTask({ PATH: process.env["PATH"] ?? "/usr/bin:/bin", [TASK_ID_ENV]: `x${id}` }, `x${id}`);
    // The marker text inside another variable's value is not the variable.
    startTask({ PATH: process.env["PATH"] ?? "/usr/bin:/bin", OTHER: `${TASK_ID_ENV}=${id}`, [TASK_ID_ENV]: `${id}-other` }, `${id}-other`);
    await until(() => [id, `${id}x`, `x${id}`, `${id}-other`].every((t) => sleepsOf(t).length === 2));

    const mine = taskProcesses(id);
    for (const other of [`${id}x`, `x${id}`, `${id}-other`]) {
      for (const pid of taskProcesses(other)) expect(mine).not.toContain(pid);
    }
    expect(sleepsOf(id)).toHaveLength(2);
  });

  it("a task with no processes has none, and signalling it is harmless", () => {
    const taskId = `test-${newTaskId()}`;
    expect(taskProcesses(taskId)).toEqual([]);
    expect(() => signalTask(taskId, undefined, "SIGTERM")).not.toThrow();
    // A leader that is long gone: ESRCH is swallowed.
    expect(() => signalTask(taskId, 2 ** 22 + 12345, "SIGKILL")).not.toThrow();
  });

  it("sweepOrphans ends the processes of the tags it is given and leaves others alone", async () => {
    const path = process.env["PATH"] ?? "/usr/bin:/bin";
    const orphan = `test-${newTaskId()}`;
    const owned = `test-${newTaskId()}`;
    startTask({ PATH: path, [TASK_ID_ENV]: orphan }, orphan);
    startTask({ PATH: path, [TASK_ID_ENV]: owned }, owned);
    await until(() => sleepsOf(orphan).length === 2 && sleepsOf(owned).length === 2);

    const orphans = taskProcesses(orphan);
    const killed = sweepOrphans([orphan]);
    expect(killed).toEqual(expect.arrayContaining(orphans));
    await until(() => sleepsOf(orphan).every((pid) => ["", "Z"].includes(stateOf(pid))));
    expect(sleepsOf(owned)).toHaveLength(2);
    for (const pid of sleepsOf(owned)) expect(killed).not.toContain(pid);
    expect(sweepOrphans([])).toEqual([]);
  });

  it("finds a process that cleared its environment by its session", async () => {
    const taskId = `test-${newTaskId()}`;
    // `env -i` drops CC_TASK_ID; the sleep stays in the session of the process the worker started.
    const child = spawn("sh", ["-c", "env -i sleep 30 & sleep 30"], { env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin", [TASK_ID_ENV]: taskId }, detached: true, stdio: "ignore" });
    started.push({ taskId, child });
    await until(() => taskProcesses(taskId, child.pid).filter((pid) => comm(pid) === "sleep").length === 2);
    expect(taskProcesses(taskId).filter((pid) => comm(pid) === "sleep")).toHaveLength(1);
  });

  // bubblewrap is one of the system packages the tests need (scripts/system-packages.txt).
  describe("in a sandbox's PID namespace", () => {
    it("finds every process, even one in its own session with no environment, and signalTask ends them all", async () => {
      const taskId = `test-${newTaskId()}`;
      const child = spawn(
        "bwrap",
        ["--die-with-parent", "--unshare-pid", "--new-session", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "sh", "-c", "setsid env -i sleep 31 & exec sleep 32"],
        { env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin" }, detached: true, stdio: "ignore" },
      );
      started.push({ taskId, child });
      const exited = once(child, "exit");
      const sleeps = () => taskProcesses(taskId, child.pid).filter((pid) => comm(pid) === "sleep");
      await until(() => sleeps().length === 2);
      expect(sandboxNamespace(child.pid!)).toMatch(/^pid:\[\d+\]$/);
      // The command itself: pid 2 of the namespace, the `exec`ed sleep.
      const main = sandboxedCommand(child.pid!);
      expect(comm(main!)).toBe("sleep");
      expect(readFileSync(`/proc/${main}/status`, "utf8")).toMatch(/NSpid:\s+\d+\s+2\n/);
      const inside = sleeps();
      signalTask(taskId, child.pid, "SIGTERM");
      // The sandbox is found by its namespace and session alone (nothing in it carries the tag).
      expect(await whenTaskProcessesGone(taskId, child.pid, 5000)).toEqual([]);
      for (const pid of inside) expect(["", "Z"]).toContain(stateOf(pid));
      await exited;
    });
  });

  it("whenTaskProcessesGone resolves only once every process of the task has stopped running, SIGKILLing any left", async () => {
    const taskId = `test-${newTaskId()}`;
    // Processes that ignore SIGTERM, one of them in a session of its own.
    const child = spawn("sh", ["-c", "trap '' TERM; setsid sh -c \"trap '' TERM; sleep 30\" & sleep 30"], {
      env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin", [TASK_ID_ENV]: taskId },
      detached: true,
      stdio: "ignore",
    });
    started.push({ taskId, child });
    await until(() => sleepsOf(taskId).length === 2);
    const pids = taskProcesses(taskId);
    signalTask(taskId, child.pid, "SIGTERM");
    const left = await whenTaskProcessesGone(taskId, child.pid, 5000);
    expect(left).toEqual([]);
    // Checked at once: nothing of the task runs (gone, or a zombie waiting to be reaped).
    for (const pid of pids) expect(["", "Z"]).toContain(stateOf(pid));
    expect(taskProcesses(taskId)).toEqual([]);
  });

  it("whenTaskProcessesGone of a task with no processes resolves at once with none", async () => {
    expect(await whenTaskProcessesGone(`test-${newTaskId()}`, undefined, 1000)).toEqual([]);
  });
});
