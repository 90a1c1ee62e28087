// The FileChange list against what real git prints for a change of every kind (add, modify, delete, rename, type
// change, binary), with odd file names.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, symlinkSync, unlinkSync, writeFileSync, renameSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { FileChangeKind } from "../../../gen/claudecluster/v1/run_pb.js";
import { fileChanges } from "./diff-summary.js";

const dir = mkdtempSync(join(tmpdir(), "cc-diff-summary-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const env = { PATH: process.env["PATH"] ?? "", HOME: dir, GIT_CONFIG_NOSYSTEM: "1", GIT_AUTHOR_NAME: "a", GIT_AUTHOR_EMAIL: "a@b", GIT_COMMITTER_NAME: "a", GIT_COMMITTER_EMAIL: "a@b" };
const git = (...args: string[]) => execFileSync("git", args, { cwd: dir, env, encoding: "utf8" });

describe("fileChanges", () => {
  it("reads name-status and numstat of every kind of change", () => {
    git("init", "-q");
    writeFileSync(join(dir, "modified.txt"), "a\nb\n");
    writeFileSync(join(dir, "deleted.txt"), "gone\n");
    writeFileSync(join(dir, "renamed-from.txt"), "same content, long enough to be found as a rename\n".repeat(5));
    writeFileSync(join(dir, "becomes-link"), "file\n");
    writeFileSync(join(dir, "tab\tand\nnewline.txt"), "odd\n");
    git("add", ".");
    git("commit", "-qm", "one");
    writeFileSync(join(dir, "modified.txt"), "a\nc\nd\n");
    unlinkSync(join(dir, "deleted.txt"));
    renameSync(join(dir, "renamed-from.txt"), join(dir, "renamed-to.txt"));
    unlinkSync(join(dir, "becomes-link"));
    symlinkSync("modified.txt", join(dir, "becomes-link"));
    writeFileSync(join(dir, "added.bin"), Buffer.from([0, 1, 2, 3]));
    writeFileSync(join(dir, "tab\tand\nnewline.txt"), "odder\n");
    git("add", "-A");
    const args = ["diff", "--cached", "-M", "-z"];
    const files = fileChanges(git(...args, "--name-status"), git(...args, "--numstat"));
    expect(files.map((f) => [f.path, FileChangeKind[f.kind], f.oldPath, f.insertions, f.deletions, f.binary])).toEqual([
      ["added.bin", "ADDED", "", 0, 0, true],
      ["becomes-link", "TYPE_CHANGED", "", 1, 1, false],
      ["deleted.txt", "DELETED", "", 0, 1, false],
      ["modified.txt", "MODIFIED", "", 2, 1, false],
      ["renamed-to.txt", "RENAMED", "renamed-from.txt", 0, 0, false],
      ["tab\tand\nnewline.txt", "MODIFIED", "", 1, 1, false],
    ]);
  });
});
