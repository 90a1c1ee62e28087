// The worker's private per-task files: where they go, their modes, and that nothing of them outlives its owner.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { TaskFiles } from "./task-files.js";

describe("TaskFiles", () => {
  const dirs: string[] = [];
  const parent = () => {
    const dir = mkdtempSync(join(tmpdir(), "cc-task-files-test-"));
    dirs.push(dir);
    return dir;
  };
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it("writes a task's MCP config 0600 in a 0700 directory of the task's, and removes it with the task", () => {
    const files = new TaskFiles(parent());
    expect(files.writeMcpConfig("t1", "")).toBeUndefined();
    expect(existsSync(files.dir("t1"))).toBe(false);
    const file = files.writeMcpConfig("t1", '{"mcpServers":{}}')!;
    expect(file).toBe(files.mcpConfig("t1"));
    expect(file.startsWith(files.root + "/t1/")).toBe(true);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(files.dir("t1")).mode & 0o777).toBe(0o700);
    expect(statSync(files.root).mode & 0o777).toBe(0o700);
    files.remove("t1");
    expect(existsSync(files.dir("t1"))).toBe(false);
    files.close();
    expect(existsSync(files.root)).toBe(false);
  });

  it("the warm pool's directory cannot be a task's: task ids have no dot", () => {
    const files = new TaskFiles(parent());
    expect(files.dir(TaskFiles.WARM)).toBe(join(files.root, ".warm"));
    files.close();
  });

  it("sweeps the roots of worker processes that died, and keeps those of live ones", () => {
    const p = parent();
    // A pid that cannot be running (above pid_max), and this process's parent, which is.
    const dead = join(p, "cc-private-4194399-abc123");
    const live = join(p, `cc-private-${process.ppid}-def456`);
    for (const d of [dead, live]) {
      mkdirSync(join(d, "t1"), { recursive: true });
      writeFileSync(join(d, "t1", "mcp-config.json"), "{}");
    }
    const files = new TaskFiles(p);
    expect(readdirSync(p).sort()).toEqual([`cc-private-${process.ppid}-def456`, files.root.split("/").pop()!].sort());
    files.close();
  });
});
