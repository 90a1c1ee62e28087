// task_diff's excerpt of a patch, on a patch git itself wrote (`git diff --binary --full-index`, as the worker
// records it): binary data left out, the same text however the bytes are chunked, cut on line boundaries, and only
// the files asked for.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { BINARY_NOTE, PatchExcerpt, sectionIsFor } from "./patch-excerpt.js";

const root = mkdtempSync(join(tmpdir(), "cc-patch-excerpt-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const env = { ...process.env, HOME: root, GIT_CONFIG_NOSYSTEM: "1", GIT_AUTHOR_NAME: "a", GIT_AUTHOR_EMAIL: "a@b", GIT_COMMITTER_NAME: "a", GIT_COMMITTER_EMAIL: "a@b" };
const git = (...args: string[]) => execFileSync("git", args, { cwd: root, env, maxBuffer: 64 * 1024 * 1024 });
git("init", "-q");
writeFileSync(join(root, "notes.txt"), "one\ntwo\nthree\n");
writeFileSync(join(root, "doomed.txt"), "bye\n");
writeFileSync(join(root, "image.bin"), Buffer.from([0, 1, 2, 3, 255, 254, 0, 9]));
git("add", ".");
git("commit", "-qm", "base");
writeFileSync(join(root, "notes.txt"), "one\ntwo, edited — ünïcödé ✓\nthree\n");
unlinkSync(join(root, "doomed.txt"));
writeFileSync(join(root, "image.bin"), Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 37) % 256)));
writeFileSync(join(root, "with space.txt"), "spaced\n");
writeFileSync(join(root, "zlong.txt"), `${"x".repeat(200_000)}\n`);
git("add", "--all");
git("commit", "-qm", "work");
const PATCH = git("diff", "--binary", "--full-index", "HEAD~1", "HEAD");
const TEXT = PATCH.toString("utf8");

/** What the excerpt should say: git's text with each binary section's data replaced by the note. */
function withoutBinaryData(text: string): string {
  const out: string[] = [];
  let skipping = false;
  for (const line of text.split("\n")) {
    if (line.startsWith("diff --git ")) skipping = false;
    if (skipping) continue;
    if (line === "GIT binary patch") {
      out.push(BINARY_NOTE);
      skipping = true;
      continue;
    }
    out.push(line);
  }
  return out.join("\n");
}

function excerpt(bytes: Buffer, chunk: number, maxChars: number, paths?: string[]) {
  const e = new PatchExcerpt({ maxChars, paths });
  for (let at = 0; at < bytes.length && !e.full; at += chunk) e.push(bytes.subarray(at, at + chunk));
  if (!e.full) e.end();
  return e.result(bytes.length);
}

describe("a patch's excerpt for task_diff", () => {
  it("is git's text with the binary data left out, whatever the chunks (UTF-8 split between them too)", () => {
    expect(TEXT).toContain("GIT binary patch");
    const whole = excerpt(PATCH, PATCH.length, 1_000_000);
    expect(whole).toEqual({ text: withoutBinaryData(TEXT), truncated: false, omittedBytes: 0 });
    expect(whole.text).toContain("+two, edited — ünïcödé ✓\n");
    expect(whole.text).toContain("deleted file mode 100644");
    for (const size of [1, 7, 4096]) expect(excerpt(PATCH, size, 1_000_000)).toEqual(whole);
  });

  it("is cut on a line boundary at the bound, and counts what it left out", () => {
    const full = withoutBinaryData(TEXT);
    for (const max of [50, 333, 1000, 150_000]) {
      const r = excerpt(PATCH, 100, max);
      expect(r.truncated).toBe(true);
      expect(r.text.length).toBeLessThanOrEqual(max);
      expect(r.text.endsWith("\n")).toBe(true);
      expect(full.startsWith(r.text)).toBe(true);
      // The next line would not have fit.
      const next = full.slice(r.text.length).split("\n")[0]!;
      expect(r.text.length + next.length + 1).toBeGreaterThan(max);
      expect(r.omittedBytes).toBeGreaterThan(0);
      expect(r.omittedBytes).toBeLessThanOrEqual(PATCH.length - Buffer.byteLength(r.text));
    }
    // A first line longer than the whole bound is cut inside it.
    expect(excerpt(Buffer.from(`${"y".repeat(500)}\nrest\n`), 64, 100)).toMatchObject({ text: "y".repeat(100), truncated: true });
  });

  it("keeps only the sections of the paths asked for, and drops a long line of a skipped one as it comes", () => {
    const r = excerpt(PATCH, 1000, 1_000_000, ["doomed.txt", "with space.txt"]);
    const sections = r.text.split(/^(?=diff --git )/m);
    expect(sections.map((s) => s.split("\n")[0])).toEqual(["diff --git a/doomed.txt b/doomed.txt", "diff --git a/with space.txt b/with space.txt"]);
    expect(r.text).toContain("-bye\n");
    expect(r.text).toContain("+spaced\n");
    expect(r.truncated).toBe(false);
    expect(excerpt(PATCH, 1000, 1_000_000, ["zlong.txt"]).text).toContain("x".repeat(200_000));
    expect(excerpt(PATCH, 1000, 1_000_000, ["notes.txt"]).text).not.toContain("xxxx");
  });

  it("recognises a file's section by either path, quoted by git or not", () => {
    expect(sectionIsFor("diff --git a/src/a.ts b/src/a.ts", "src/a.ts")).toBe(true);
    expect(sectionIsFor("diff --git a/old name.ts b/new name.ts", "new name.ts")).toBe(true);
    expect(sectionIsFor("diff --git a/old name.ts b/new name.ts", "old name.ts")).toBe(true);
    expect(sectionIsFor('diff --git "a/tab\\there" "b/tab\\there"', "tab\\there")).toBe(true);
    expect(sectionIsFor("diff --git a/src/a.ts b/src/a.ts", "a.ts")).toBe(false);
  });

  it("with a bound of 0 keeps nothing and wants nothing", () => {
    const e = new PatchExcerpt({ maxChars: 0 });
    expect(e.full).toBe(true);
  });
});
