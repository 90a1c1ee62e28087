import { lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { copyEntries, directoryBytes } from "./copy.js";

let root: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), "cc-env-copy-"));
  mkdirSync(join(root, "from", "node_modules", ".bin"), { recursive: true });
  mkdirSync(join(root, "from", ".git"));
  mkdirSync(join(root, "to"));
  writeFileSync(join(root, "from", "node_modules", "tool.js"), "x".repeat(100), { mode: 0o755 });
  symlinkSync("../tool.js", join(root, "from", "node_modules", ".bin", "tool"));
  writeFileSync(join(root, "from", ".git", "HEAD"), "ref");
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

function expectCopied(): void {
  const to = join(root, "to");
  expect(readFileSync(join(to, "node_modules", "tool.js"), "utf8")).toBe("x".repeat(100));
  expect(statSync(join(to, "node_modules", "tool.js")).mode & 0o777).toBe(0o755);
  expect(lstatSync(join(to, "node_modules", ".bin", "tool")).isSymbolicLink()).toBe(true);
  expect(readlinkSync(join(to, "node_modules", ".bin", "tool"))).toBe("../tool.js");
  expect(() => statSync(join(to, ".git"))).toThrow();
}

describe("copyEntries", () => {
  it("copies with cp --reflink=auto, keeping modes and links, leaving out what it is told to", async () => {
    await copyEntries(join(root, "from"), join(root, "to"), [".git"]);
    expectCopied();
  });

  it("falls back to a plain copy where there is no cp", async () => {
    const path = process.env["PATH"];
    process.env["PATH"] = join(root, "no-such-bin");
    try {
      await copyEntries(join(root, "from"), join(root, "to"), [".git"]);
    } finally {
      process.env["PATH"] = path;
    }
    expectCopied();
  });
});

describe("directoryBytes", () => {
  it("adds up the files' sizes without following links", async () => {
    expect(await directoryBytes(join(root, "from"))).toBe(100 + "ref".length + "../tool.js".length);
    expect(await directoryBytes(join(root, "missing"))).toBe(0);
  });
});
