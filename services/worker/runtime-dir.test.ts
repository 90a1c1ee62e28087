// The worker's private runtime directory: its mode, and that the directories of dead workers do not outlive them.
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createRuntimeDir } from "./runtime-dir.js";

describe("createRuntimeDir", () => {
  const dirs: string[] = [];
  const parent = () => {
    const dir = mkdtempSync(join(tmpdir(), "cc-runtime-dir-test-"));
    dirs.push(dir);
    return dir;
  };
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it("is a 0700 directory named after this worker process", () => {
    const dir = createRuntimeDir(parent());
    expect(dir.split("/").pop()).toMatch(new RegExp(`^cc-rt-${process.pid}-`));
    expect(statSync(dir).mode & 0o777).toBe(0o700);
  });

  it("sweeps the directories of worker processes that died, and keeps those of live ones and other names", () => {
    const p = parent();
    // A pid that cannot be running (above pid_max), and this process's parent, which is.
    const dead = join(p, "cc-rt-4194399-abc123");
    const live = join(p, `cc-rt-${process.ppid}-def456`);
    for (const d of [dead, live]) {
      mkdirSync(join(d, "1"), { recursive: true });
      writeFileSync(join(d, "1", "mcp-config.json"), "{}");
    }
    mkdirSync(join(p, "something-else"));
    const dir = createRuntimeDir(p);
    expect(readdirSync(p).sort()).toEqual([`cc-rt-${process.ppid}-def456`, dir.split("/").pop()!, "something-else"].sort());
  });
});
