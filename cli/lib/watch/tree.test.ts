// watchTree on a real directory: what changes once it returns is seen, in directories made later too, never in .git.
import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { until } from "../../../test/helpers/wait.js";
import { watchTree, type TreeWatch } from "./tree.js";

describe("watchTree", () => {
  let dir = "";
  let w: TreeWatch | undefined;
  afterEach(() => {
    w?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("sees changes at once, in nested and new directories, and nothing under .git", async () => {
    dir = realpathSync(mkdtempSync(join(tmpdir(), "cc-tree-")));
    mkdirSync(join(dir, "old/deep"), { recursive: true });
    mkdirSync(join(dir, ".git"));
    const seen = new Set<string>();
    w = watchTree(dir, (p) => seen.add(p.slice(dir.length + 1)), (err) => {
      throw err;
    });
    writeFileSync(join(dir, "old/deep/a.txt"), "1");
    writeFileSync(join(dir, ".git/index"), "1");
    mkdirSync(join(dir, "new/inner"), { recursive: true });
    writeFileSync(join(dir, "new/inner/b.txt"), "1");
    await until(() => seen.has("old/deep/a.txt") && seen.has("new/inner/b.txt"));
    expect([...seen].filter((p) => p.startsWith(".git/"))).toEqual([]);
  });
});
