// The diff view's reading of a patch (web/src/changes/patch.ts), on patches git itself wrote as the worker records
// them (`git diff --binary --full-index`): files with their change, paths (renamed, quoted, non-ASCII), numbered
// lines, binary files without their data, the bound; and the words and checks of web/src/changes/summary.ts.
import { execFileSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, renameSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { FileChangeKind } from "../../gen/claudecluster/v1/run_pb.js";
import { headerPaths, parsePatch, unquote } from "../../web/src/changes/patch.js";
import { binaryNote, countBar, displayUrl, patchFileName, safeHttpUrl } from "../../web/src/changes/summary.js";

const root = mkdtempSync(join(tmpdir(), "cc-web-patch-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const env = { ...process.env, HOME: root, GIT_CONFIG_NOSYSTEM: "1", GIT_AUTHOR_NAME: "a", GIT_AUTHOR_EMAIL: "a@b", GIT_COMMITTER_NAME: "a", GIT_COMMITTER_EMAIL: "a@b" };
const git = (...args: string[]) => execFileSync("git", args, { cwd: root, env, encoding: "utf8" });
const at = (p: string) => join(root, p);

git("init", "-q");
writeFileSync(at("notes.txt"), "one\ntwo\nthree\nfour\nfive\nsix\nseven\neight\nnine\nten\n");
writeFileSync(at("doomed.txt"), "bye\nfor now\n");
writeFileSync(at("moved-from.txt"), "same content, moved\nline 2\nline 3\nline 4\n");
writeFileSync(at("image.bin"), Buffer.from([0, 1, 2, 3, 255, 254, 0, 9]));
writeFileSync(at("script.sh"), "echo hi\n");
writeFileSync(at("no-newline.txt"), "last line without newline");
git("add", ".");
git("commit", "-qm", "base");
writeFileSync(at("notes.txt"), "one\ntwo, edited\nthree\nfour\nfive\nsix\nseven\neight\nnine\nten\neleven\n");
unlinkSync(at("doomed.txt"));
renameSync(at("moved-from.txt"), at("moved-to.txt"));
writeFileSync(at("image.bin"), Buffer.from(Array.from({ length: 300 }, (_, i) => (i * 37) % 256)));
chmodSync(at("script.sh"), 0o755);
writeFileSync(at("no-newline.txt"), "last line, still without newline");
mkdirSync(at("dir"), { recursive: true });
writeFileSync(at("dir/naïve file.txt"), "héllo\n");
writeFileSync(at('tab\tand"quote.txt'), "odd name\n");
git("add", "--all");
git("commit", "-qm", "work");
const PATCH = git("diff", "--binary", "--full-index", "-M", "HEAD~1", "HEAD");

describe("a patch read for the diff view", () => {
  const parsed = parsePatch(PATCH);
  const byPath = new Map(parsed.files.map((f) => [f.newPath, f]));

  it("finds every file with its change and paths, as git names them (quoted names unquoted)", () => {
    expect(parsed.files.map((f) => [f.change, f.oldPath, f.newPath])).toEqual([
      ["added", "dir/naïve file.txt", "dir/naïve file.txt"],
      ["deleted", "doomed.txt", "doomed.txt"],
      ["modified", "image.bin", "image.bin"],
      ["renamed", "moved-from.txt", "moved-to.txt"],
      ["modified", "no-newline.txt", "no-newline.txt"],
      ["modified", "notes.txt", "notes.txt"],
      ["modified", "script.sh", "script.sh"],
      ["added", 'tab\tand"quote.txt', 'tab\tand"quote.txt'],
    ]);
    expect(parsed.cut).toBe(false);
  });

  it("numbers the lines of each hunk on both sides and counts what was added and removed", () => {
    const notes = byPath.get("notes.txt")!;
    expect([notes.insertions, notes.deletions]).toEqual([2, 1]);
    expect(notes.hunks.map((h) => h.header)).toEqual(["@@ -1,5 +1,5 @@", "@@ -8,3 +8,4 @@ seven"]);
    const first = notes.hunks[0]!.lines;
    expect(first.slice(0, 3)).toEqual([
      { kind: "context", text: "one", oldNo: 1, newNo: 1 },
      { kind: "del", text: "two", oldNo: 2 },
      { kind: "add", text: "two, edited", newNo: 2 },
    ]);
    expect(first[3]).toEqual({ kind: "context", text: "three", oldNo: 3, newNo: 3 });
    expect(notes.hunks[1]!.lines.at(-1)).toEqual({ kind: "add", text: "eleven", newNo: 11 });
    const doomed = byPath.get("doomed.txt")!;
    expect(doomed.hunks[0]!.lines).toEqual([
      { kind: "del", text: "bye", oldNo: 1 },
      { kind: "del", text: "for now", oldNo: 2 },
    ]);
    expect(byPath.get("no-newline.txt")!.hunks[0]!.lines.map((l) => l.kind)).toEqual(["del", "note", "add", "note"]);
    expect(byPath.get("no-newline.txt")!.hunks[0]!.lines[1]!.text).toBe("No newline at end of file");
  });

  it("keeps a binary file as a file without lines, and a mode change as its modes", () => {
    expect(PATCH).toContain("GIT binary patch");
    const image = byPath.get("image.bin")!;
    expect(image).toMatchObject({ binary: true, hunks: [], insertions: 0, deletions: 0 });
    expect(byPath.get("script.sh")).toMatchObject({ oldMode: "100644", newMode: "100755", hunks: [] });
    expect(byPath.get("moved-to.txt")).toMatchObject({ change: "renamed", hunks: [] });
    // Nothing of the base85 data leaked into another file's lines.
    const all = parsed.files.flatMap((f) => f.hunks.flatMap((h) => h.lines.map((l) => l.text)));
    expect(all.some((t) => /^literal \d+$/.test(t))).toBe(false);
  });

  it("stops at the bound of lines and says so", () => {
    const cut = parsePatch(PATCH, 5);
    expect(cut.cut).toBe(true);
    expect(cut.lines).toBe(5);
    expect(cut.files.at(-1)!.cut).toBe(true);
    expect(cut.files.flatMap((f) => f.hunks.flatMap((h) => h.lines)).length).toBe(5);
  });

  it("unquotes paths as git quotes them", () => {
    expect(unquote('"dir/na\\303\\257ve file.txt"')).toBe("dir/naïve file.txt");
    expect(unquote('"tab\\tand\\"quote.txt"')).toBe('tab\tand"quote.txt');
    expect(unquote("plain.txt")).toBe("plain.txt");
    expect(headerPaths("a/with space.txt b/with space.txt")).toEqual(["with space.txt", "with space.txt"]);
    expect(headerPaths('"a/x\\ty" "b/x\\ty"')).toEqual(["x\ty", "x\ty"]);
    expect(headerPaths("a/old b/new")).toEqual(["old", "new"]);
  });
});

describe("the words of the changes view", () => {
  it("links only to http(s) URLs, and never shows a URL's password", () => {
    expect(safeHttpUrl("https://github.com/org/repo/compare/main...cc/x?expand=1")).toBe("https://github.com/org/repo/compare/main...cc/x?expand=1");
    expect(safeHttpUrl("javascript:alert(1)")).toBeUndefined();
    expect(safeHttpUrl("data:text/html,<script>")).toBeUndefined();
    expect(safeHttpUrl("not a url")).toBeUndefined();
    expect(displayUrl("https://user:s3cret@git.example.com/r.git")).toBe("https://git.example.com/r.git");
  });

  it("names the download after the task, and draws the +/− bar as git's --stat would scale it", () => {
    expect(patchFileName("01k2abc")).toBe("cc-01k2abc.patch");
    expect(patchFileName("../x")).toBe("cc-___x.patch");
    expect(countBar(0, 0)).toEqual({ add: 0, del: 0, none: 5 });
    expect(countBar(1, 0)).toEqual({ add: 1, del: 0, none: 4 });
    expect(countBar(100, 1)).toEqual({ add: 4, del: 1, none: 0 });
    expect(countBar(3, 3)).toEqual({ add: 3, del: 2, none: 0 });
    expect(countBar(1, 1000)).toEqual({ add: 1, del: 4, none: 0 });
    expect(binaryNote({ kind: FileChangeKind.MODIFIED, oldSize: 8n, newSize: 3000n })).toBe("binary, 8 B → 2.9 KiB");
    expect(binaryNote({ kind: FileChangeKind.ADDED, oldSize: 0n, newSize: 12n })).toBe("binary, 12 B");
  });
});
