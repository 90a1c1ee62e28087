// The tar writer and reader against each other and against GNU tar, and extraction refusing what would escape.
import { execFileSync } from "node:child_process";
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { END_OF_ARCHIVE, entryHeader, extractTar, padding, tarStream, TarFormatError, TarLimitError, walkTree, type TarEntry } from "./tar.js";

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), "cc-tar-"));
  dirs.push(d);
  return d;
}

async function collect(source: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const p of source) parts.push(p);
  return Buffer.concat(parts);
}

async function* chunked(data: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size);
}

/** A small tree with a long name, a binary file, an executable, an empty directory and a link. */
function sampleTree(): string {
  const root = tmp();
  const long = "d".repeat(60) + "/" + "n".repeat(80) + ".txt";
  mkdirSync(join(root, "d".repeat(60)));
  writeFileSync(join(root, long), "long name\n");
  writeFileSync(join(root, "bin.dat"), Buffer.from([0, 1, 2, 255, 254, 0, 10]));
  writeFileSync(join(root, "run.sh"), "#!/bin/sh\necho hi\n", { mode: 0o755 });
  writeFileSync(join(root, "große.txt"), "ünïcödé\n");
  mkdirSync(join(root, "empty"));
  symlinkSync("bin.dat", join(root, "link"));
  return root;
}

describe("tar", () => {
  it("round-trips a tree through the writer and the reader, in chunks of any size", async () => {
    const src = sampleTree();
    const archive = await collect(tarStream(src, walkTree(src)));
    for (const size of [1, 511, 512, 4096, archive.length]) {
      const dest = tmp();
      const result = await extractTar(chunked(archive, size), dest, { maxBytes: 1 << 20 });
      expect(result.files).toBe(5);
      expect(readFileSync(join(dest, "d".repeat(60), "n".repeat(80) + ".txt"), "utf8")).toBe("long name\n");
      expect(readFileSync(join(dest, "bin.dat"))).toEqual(Buffer.from([0, 1, 2, 255, 254, 0, 10]));
      expect(lstatSync(join(dest, "run.sh")).mode & 0o777).toBe(0o755);
      expect(readFileSync(join(dest, "große.txt"), "utf8")).toBe("ünïcödé\n");
      expect(lstatSync(join(dest, "empty")).isDirectory()).toBe(true);
      expect(readlinkSync(join(dest, "link"))).toBe("bin.dat");
    }
  });

  it("GNU tar reads what the writer writes, and the reader reads what GNU tar writes", async () => {
    const src = sampleTree();
    const archive = await collect(tarStream(src, walkTree(src)));
    const file = join(tmp(), "ours.tar");
    writeFileSync(file, archive);
    const listed = execFileSync("tar", ["-tf", file], { encoding: "utf8" }).trim().split("\n").sort();
    expect(listed).toContain(`${"d".repeat(60)}/${"n".repeat(80)}.txt`);
    expect(listed).toContain("große.txt");
    const theirs = execFileSync("tar", ["-cf", "-", "-C", src, "."], { maxBuffer: 1 << 24 });
    const dest = tmp();
    await extractTar(chunked(theirs, 1000), dest, { maxBytes: 1 << 20 });
    expect(readFileSync(join(dest, "d".repeat(60), "n".repeat(80) + ".txt"), "utf8")).toBe("long name\n");
    expect(readlinkSync(join(dest, "link"))).toBe("bin.dat");
  });

  it("walkTree skips what it is told to, and stops past maxBytes", async () => {
    const src = sampleTree();
    const paths: string[] = [];
    for await (const e of walkTree(src, { skip: (p) => p.startsWith("d") || p === "empty" })) paths.push(e.path);
    expect(paths).toEqual(["bin.dat", "große.txt", "link", "run.sh"]);
    await expect(collect(tarStream(src, walkTree(src, { maxBytes: 10 })))).rejects.toBeInstanceOf(TarLimitError);
  });

  const archiveOf = (entries: (TarEntry & { data?: Buffer })[]) =>
    Buffer.concat([...entries.flatMap((e) => [entryHeader(e), ...(e.data ? [e.data, padding(e.data.length)] : [])]), END_OF_ARCHIVE]);
  const file = (path: string, text: string): TarEntry & { data: Buffer } => ({ path, type: "file", mode: 0o644, size: Buffer.byteLength(text), mtimeMs: 0, data: Buffer.from(text) });

  it("refuses absolute paths and '..', writing nothing outside", async () => {
    const outside = tmp();
    const dest = tmp();
    for (const path of [`${outside}/evil`, "../evil", "a/../../evil"]) {
      const err = await extractTar(chunked(archiveOf([file(path, "x")]), 512), dest, { maxBytes: 100 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TarFormatError);
    }
    expect(existsSync(join(outside, "evil"))).toBe(false);
  });

  it("never writes through a symbolic link, from the archive or already there", async () => {
    const outside = tmp();
    const dest = tmp();
    // A link to outside, then a file "under" it: the file lands in a real directory and the link is refused.
    const archive = archiveOf([{ path: "a", type: "symlink", mode: 0o777, size: 0, mtimeMs: 0, linkTarget: outside }, file("a/evil", "x")]);
    await expect(extractTar(chunked(archive, 512), dest, { maxBytes: 100 })).rejects.toBeInstanceOf(TarFormatError);
    expect(existsSync(join(outside, "evil"))).toBe(false);
    // A link that exists in the destination already.
    const dest2 = tmp();
    symlinkSync(outside, join(dest2, "b"));
    await expect(extractTar(chunked(archiveOf([file("b/evil", "x")]), 512), dest2, { maxBytes: 100 })).rejects.toBeInstanceOf(TarFormatError);
    expect(existsSync(join(outside, "evil"))).toBe(false);
    // Overwriting replaces a link to a file by a file; it never writes into the link's target.
    const dest3 = tmp();
    writeFileSync(join(outside, "target"), "keep");
    symlinkSync(join(outside, "target"), join(dest3, "c"));
    await extractTar(chunked(archiveOf([file("c", "new")]), 512), dest3, { maxBytes: 100, overwrite: true });
    expect(readFileSync(join(outside, "target"), "utf8")).toBe("keep");
    expect(readFileSync(join(dest3, "c"), "utf8")).toBe("new");
  });

  it("stops at maxBytes and maxEntries, and on truncation and garbage", async () => {
    const dest = tmp();
    await expect(extractTar(chunked(archiveOf([file("a", "0123456789")]), 512), dest, { maxBytes: 5 })).rejects.toBeInstanceOf(TarLimitError);
    await expect(extractTar(chunked(archiveOf([file("b", "x"), file("c", "y")]), 512), tmp(), { maxBytes: 5, maxEntries: 1 })).rejects.toBeInstanceOf(TarLimitError);
    const whole = archiveOf([file("d", "z".repeat(2000))]);
    await expect(extractTar(chunked(whole.subarray(0, 1200), 512), tmp(), { maxBytes: 1 << 20 })).rejects.toThrow(/truncated/);
    await expect(extractTar(chunked(Buffer.alloc(1024, 7), 512), tmp(), { maxBytes: 1 << 20 })).rejects.toThrow(/not a tar archive/);
  });
});
