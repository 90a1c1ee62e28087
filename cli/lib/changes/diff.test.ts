// cc diff's --stat and --name-only against what git itself prints for the same changes, and patch colouring.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { afterAll, describe, expect, it } from "vitest";
import { ChangesSummarySchema } from "../../../gen/claudecluster/v1/run_pb.js";
import { fileChanges } from "../../../services/worker/changes/diff-summary.js";
import { COLOR, PLAIN } from "../style.js";
import { colorPatchLine, nameOnlyText, PatchColorizer, statText } from "./diff.js";

const dir = mkdtempSync(join(tmpdir(), "cc-diff-stat-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const env = { PATH: process.env["PATH"] ?? "", HOME: dir, GIT_CONFIG_NOSYSTEM: "1", GIT_AUTHOR_NAME: "a", GIT_AUTHOR_EMAIL: "a@b", GIT_COMMITTER_NAME: "a", GIT_COMMITTER_EMAIL: "a@b" };
const git = (...args: string[]) => execFileSync("git", args, { cwd: dir, env, encoding: "utf8" });

describe("cc diff output", () => {
  it("--stat and --name-only print what git prints", () => {
    git("init", "-q");
    writeFileSync(join(dir, "small.txt"), "1\n2\n3\n");
    writeFileSync(join(dir, "gone.txt"), "x\ny\n");
    git("add", ".");
    git("commit", "-qm", "one");
    writeFileSync(join(dir, "small.txt"), "1\nzwei\n3\nvier\n");
    execFileSync("rm", [join(dir, "gone.txt")]);
    writeFileSync(join(dir, "a-much-longer-file-name.txt"), Array.from({ length: 30 }, (_, i) => `line ${i}\n`).join(""));
    writeFileSync(join(dir, "data.bin"), Buffer.from([0, 1, 2, 3, 4]));
    git("add", "-A");
    const files = fileChanges(git("diff", "--cached", "-M", "-z", "--name-status"), git("diff", "--cached", "-M", "-z", "--numstat"));
    const sizes = execFileSync("git", ["cat-file", "--batch-check=%(objectsize)"], { cwd: dir, env, input: ":data.bin\n", encoding: "utf8" }).trim();
    files.find((f) => f.binary)!.newSize = BigInt(sizes);
    let insertions = 0n;
    let deletions = 0n;
    for (const f of files) {
      insertions += BigInt(f.insertions);
      deletions += BigInt(f.deletions);
    }
    const summary = create(ChangesSummarySchema, { files, filesTotal: files.length, insertions, deletions });
    expect(statText(summary, PLAIN, 80)).toBe(git("diff", "--cached", "--stat=80"));
    expect(nameOnlyText(summary)).toBe(git("diff", "--cached", "--name-only"));
  });

  it("colours patch lines as git --color does, and streams without holding more than a line", async () => {
    expect(colorPatchLine("+added", COLOR)).toBe("\x1b[32m+added\x1b[39m");
    expect(colorPatchLine("-removed", COLOR)).toBe("\x1b[31m-removed\x1b[39m");
    expect(colorPatchLine("@@ -1 +1 @@ fn()", COLOR)).toBe("\x1b[36m@@ -1 +1 @@\x1b[39m fn()");
    expect(colorPatchLine("diff --git a/x b/x", COLOR)).toBe("\x1b[1mdiff --git a/x b/x\x1b[22m");
    expect(colorPatchLine("+added", PLAIN)).toBe("+added");
    const out: string[] = [];
    const c = new PatchColorizer(COLOR, (t) => void out.push(t));
    await c.push(Buffer.from("+a\n-"));
    await c.push(Buffer.from("b\n con"));
    await c.end();
    expect(out.join("")).toBe("\x1b[32m+a\x1b[39m\n\x1b[31m-b\x1b[39m\n con");
  });
});
