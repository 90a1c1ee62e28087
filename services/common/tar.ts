// Tar archives, streamed both ways, for directories that travel between cc and a worker (uploads outside git,
// `cc cp` of a directory). Only what a source tree holds: regular files, directories and symbolic links, in POSIX
// ustar with pax headers for long names. Nothing is held whole in memory: the writer yields a header and then the
// file's bytes as it reads them; the reader parses as chunks arrive and writes each file as its bytes come.
//
// Extraction is confined to its destination: a name that is absolute or has a `..` part is refused, no file is
// written through a symbolic link (links are created last, after every file, and only where nothing exists), and the
// total of file bytes is bounded. Hard links, devices and FIFOs are skipped.
import { createReadStream } from "node:fs";
import { lstat, mkdir, open, readdir, readlink, rename, rm, symlink } from "node:fs/promises";
import { dirname, join, sep } from "node:path";

const BLOCK = 512;
const ZERO_BLOCK = Buffer.alloc(BLOCK);

export type TarEntryType = "file" | "directory" | "symlink";

export interface TarEntry {
  /** `/`-separated path inside the archive, without a trailing `/`. */
  path: string;
  type: TarEntryType;
  /** Permission bits. */
  mode: number;
  /** File bytes (0 for directories and links). */
  size: number;
  mtimeMs: number;
  /** For a symbolic link: its target. */
  linkTarget?: string;
}

function octal(value: number, width: number): string {
  return value.toString(8).padStart(width - 1, "0") + "\0";
}

function paxRecord(key: string, value: string): Buffer {
  const body = ` ${key}=${value}\n`;
  // The length prefix counts itself.
  let length = Buffer.byteLength(body) + 1;
  while (String(length).length + Buffer.byteLength(body) !== length) length = String(length).length + Buffer.byteLength(body);
  return Buffer.from(`${length}${body}`, "utf8");
}

function fitsUstar(value: string, max: number): boolean {
  return Buffer.byteLength(value) <= max && /^[\x20-\x7e]*$/.test(value);
}

function header(name: string, type: string, entry: { mode: number; size: number; mtimeMs: number; linkTarget?: string | undefined }): Buffer {
  const h = Buffer.alloc(BLOCK);
  h.write(name, 0, 100, "utf8");
  h.write(octal(entry.mode & 0o7777, 8), 100, "ascii");
  h.write(octal(0, 8), 108, "ascii");
  h.write(octal(0, 8), 116, "ascii");
  h.write(octal(entry.size, 12), 124, "ascii");
  h.write(octal(Math.max(0, Math.floor(entry.mtimeMs / 1000)), 12), 136, "ascii");
  h.write("        ", 148, "ascii");
  h.write(type, 156, "ascii");
  if (entry.linkTarget) h.write(entry.linkTarget, 157, 100, "utf8");
  h.write("ustar\0", 257, "ascii");
  h.write("00", 263, "ascii");
  let sum = 0;
  for (const byte of h) sum += byte;
  h.write(octal(sum, 7) + " ", 148, "ascii");
  return h;
}

/** The header block(s) of one entry: a pax header first when the name or link target does not fit ustar. */
export function entryHeader(entry: TarEntry): Buffer {
  const name = entry.type === "directory" ? `${entry.path}/` : entry.path;
  const type = entry.type === "file" ? "0" : entry.type === "directory" ? "5" : "2";
  const records: Buffer[] = [];
  if (!fitsUstar(name, 100)) records.push(paxRecord("path", name));
  if (entry.linkTarget !== undefined && !fitsUstar(entry.linkTarget, 100)) records.push(paxRecord("linkpath", entry.linkTarget));
  if (entry.size >= 8 ** 11) records.push(paxRecord("size", String(entry.size)));
  const fields = { mode: entry.mode, size: entry.type === "file" ? entry.size : 0, mtimeMs: entry.mtimeMs, linkTarget: entry.linkTarget };
  const main = header(fitsUstar(name, 100) ? name : name.slice(0, 99).replace(/[^\x20-\x7e]/g, "_"), type, {
    ...fields,
    size: fields.size >= 8 ** 11 ? 0 : fields.size,
    linkTarget: fields.linkTarget !== undefined && !fitsUstar(fields.linkTarget, 100) ? "" : fields.linkTarget,
  });
  if (records.length === 0) return main;
  const pax = Buffer.concat(records);
  return Buffer.concat([header("PaxHeader", "x", { mode: 0o644, size: pax.length, mtimeMs: entry.mtimeMs }), pad(pax), main]);
}

function pad(data: Buffer): Buffer {
  const rest = data.length % BLOCK;
  return rest === 0 ? data : Buffer.concat([data, Buffer.alloc(BLOCK - rest)]);
}

/** The zero padding after `size` bytes of file data. */
export function padding(size: number): Buffer {
  const rest = size % BLOCK;
  return rest === 0 ? Buffer.alloc(0) : Buffer.alloc(BLOCK - rest);
}

/** Two zero blocks end an archive. */
export const END_OF_ARCHIVE = Buffer.concat([ZERO_BLOCK, ZERO_BLOCK]);

export interface WalkOptions {
  /** Skip an entry (and everything under a skipped directory); `path` is relative and `/`-separated. */
  skip?: (path: string, type: TarEntryType) => boolean;
  /** Stop with an error once file bytes pass this. */
  maxBytes?: number;
}

/** Every entry under `root` (not `root` itself), depth first in name order, without following symbolic links. */
export async function* walkTree(root: string, options: WalkOptions = {}): AsyncGenerator<TarEntry> {
  let total = 0;
  async function* walk(rel: string): AsyncGenerator<TarEntry> {
    const names = (await readdir(rel ? join(root, rel) : root)).sort();
    for (const name of names) {
      const path = rel ? `${rel}/${name}` : name;
      const full = join(root, path);
      const st = await lstat(full);
      const type: TarEntryType | undefined = st.isFile() ? "file" : st.isDirectory() ? "directory" : st.isSymbolicLink() ? "symlink" : undefined;
      if (type === undefined || options.skip?.(path, type)) continue;
      const entry: TarEntry = { path, type, mode: st.mode & 0o7777, size: type === "file" ? st.size : 0, mtimeMs: st.mtimeMs };
      if (type === "symlink") entry.linkTarget = await readlink(full);
      if (type === "file") {
        total += st.size;
        if (options.maxBytes !== undefined && total > options.maxBytes) throw new TarLimitError(`more than ${options.maxBytes} bytes of files`);
      }
      yield entry;
      if (type === "directory") yield* walk(path);
    }
  }
  yield* walk("");
}

/**
 * A tar archive of `entries` (paths relative to `root`), as chunks: each entry's header, then its bytes read from
 * disk as the consumer asks for them. A file that changes size while it is read is cut or padded to the size in its
 * header, as tar does.
 */
export async function* tarStream(root: string, entries: AsyncIterable<TarEntry> | Iterable<TarEntry>): AsyncGenerator<Buffer> {
  for await (const entry of entries) {
    yield entryHeader(entry);
    if (entry.type !== "file" || entry.size === 0) continue;
    let sent = 0;
    for await (const chunk of createReadStream(join(root, entry.path), { highWaterMark: 256 * 1024 }) as AsyncIterable<Buffer>) {
      const part = chunk.subarray(0, Math.max(0, entry.size - sent));
      sent += part.length;
      if (part.length > 0) yield part;
      if (sent >= entry.size) break;
    }
    if (sent < entry.size) yield Buffer.alloc(entry.size - sent);
    yield padding(entry.size);
  }
  yield END_OF_ARCHIVE;
}

/** An archive that is not one, or that breaks the rules of extraction. */
export class TarFormatError extends Error {}
/** An archive over the extraction limit. */
export class TarLimitError extends Error {}

export interface ExtractOptions {
  /** The most file bytes to write; more is a TarLimitError. */
  maxBytes: number;
  /** The most entries; more is a TarLimitError. */
  maxEntries?: number;
  /** Replace existing files (`cp`), instead of refusing them (a fresh directory). */
  overwrite?: boolean;
}

export interface ExtractResult {
  files: number;
  bytes: number;
}

/** A tar path made safe to join to a destination, or an error saying why it cannot be. */
export function safeArchivePath(raw: string): string {
  if (raw.includes("\0")) throw new TarFormatError(`the archive names a path with a NUL character`);
  const parts = raw.split("/").filter((p) => p !== "" && p !== ".");
  if (raw.startsWith("/")) throw new TarFormatError(`the archive holds an absolute path (${JSON.stringify(raw.slice(0, 200))})`);
  if (parts.includes("..")) throw new TarFormatError(`the archive holds a path with ".." (${JSON.stringify(raw.slice(0, 200))})`);
  return parts.join("/");
}

function parseOctal(field: Buffer): number {
  // Base-256 (GNU) for large numbers: the high bit of the first byte is set.
  if ((field[0]! & 0x80) !== 0) {
    let n = 0;
    for (let i = 1; i < field.length; i++) n = n * 256 + field[i]!;
    return n;
  }
  const text = field.toString("ascii").replace(/\0.*$/s, "").trim();
  if (text === "") return 0;
  if (!/^[0-7]+$/.test(text)) throw new TarFormatError(`the archive has a malformed header (number field ${JSON.stringify(text.slice(0, 20))})`);
  return Number.parseInt(text, 8);
}

function cString(field: Buffer): string {
  const end = field.indexOf(0);
  return field.subarray(0, end < 0 ? field.length : end).toString("utf8");
}

function parsePax(data: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let offset = 0;
  while (offset < data.length) {
    const space = data.indexOf(0x20, offset);
    if (space < 0) break;
    const length = Number(data.subarray(offset, space).toString("ascii"));
    if (!Number.isSafeInteger(length) || length <= 0 || offset + length > data.length) throw new TarFormatError("the archive has a malformed pax header");
    const record = data.subarray(space + 1, offset + length - 1).toString("utf8");
    const eq = record.indexOf("=");
    if (eq > 0) out[record.slice(0, eq)] = record.slice(eq + 1);
    offset += length;
  }
  return out;
}

/** Reads exactly the bytes asked for from a chunked source, keeping at most one chunk beyond them. */
class ByteReader {
  private buffered: Buffer[] = [];
  private length = 0;
  private done = false;
  private readonly it: AsyncIterator<Uint8Array>;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.it = source[Symbol.asyncIterator]();
  }

  /** `n` bytes, or fewer at the end of the source. */
  async read(n: number): Promise<Buffer> {
    while (this.length < n && !this.done) {
      const next = await this.it.next();
      if (next.done) this.done = true;
      else {
        const chunk = Buffer.from(next.value.buffer, next.value.byteOffset, next.value.byteLength);
        this.buffered.push(chunk);
        this.length += chunk.length;
      }
    }
    const all = this.buffered.length === 1 ? this.buffered[0]! : Buffer.concat(this.buffered);
    const out = all.subarray(0, Math.min(n, all.length));
    const rest = all.subarray(out.length);
    this.buffered = rest.length > 0 ? [rest] : [];
    this.length = rest.length;
    return out;
  }

  /** Up to `max` bytes, as soon as any are there (for streaming file data). */
  async some(max: number): Promise<Buffer> {
    if (this.length === 0 && !this.done) {
      const next = await this.it.next();
      if (next.done) this.done = true;
      else {
        const chunk = Buffer.from(next.value.buffer, next.value.byteOffset, next.value.byteLength);
        this.buffered.push(chunk);
        this.length += chunk.length;
      }
    }
    if (this.length === 0) return Buffer.alloc(0);
    const first = this.buffered[0]!;
    const out = first.subarray(0, Math.min(max, first.length));
    const rest = first.subarray(out.length);
    if (rest.length > 0) this.buffered[0] = rest;
    else this.buffered.shift();
    this.length -= out.length;
    return out;
  }

  async close(): Promise<void> {
    await this.it.return?.();
  }
}

/**
 * Unpacks a tar archive (already decompressed) into `dest`, which must exist. Resolves with what was written;
 * rejects with TarFormatError or TarLimitError (what was written so far stays: the caller owns `dest`).
 */
export async function extractTar(source: AsyncIterable<Uint8Array>, dest: string, options: ExtractOptions): Promise<ExtractResult> {
  const reader = new ByteReader(source);
  const maxEntries = options.maxEntries ?? 1_000_000;
  /** Directories known to be real directories under dest (never symbolic links), relative paths. */
  const safeDirs = new Set<string>([""]);
  const links: { path: string; target: string }[] = [];
  let files = 0;
  let bytes = 0;
  let entries = 0;
  let pax: Record<string, string> = {};
  let longName: string | undefined;
  let longLink: string | undefined;

  const ensureDir = async (rel: string): Promise<void> => {
    if (safeDirs.has(rel)) return;
    await ensureDir(rel.includes("/") ? rel.slice(0, rel.lastIndexOf("/")) : "");
    const full = join(dest, rel);
    try {
      await mkdir(full);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      const st = await lstat(full);
      if (!st.isDirectory()) throw new TarFormatError(`the archive puts a file under ${rel}, which is not a directory here`);
    }
    safeDirs.add(rel);
  };

  const readData = async (size: number): Promise<Buffer> => {
    const data = await reader.read(size);
    if (data.length < size) throw new TarFormatError("the archive ends in the middle of an entry (truncated)");
    await reader.read((BLOCK - (size % BLOCK)) % BLOCK);
    return data;
  };

  try {
    for (;;) {
      const block = await reader.read(BLOCK);
      if (block.length === 0) break; // no end-of-archive blocks: accepted, as tar does
      if (block.length < BLOCK) throw new TarFormatError("the archive ends in the middle of a header (truncated)");
      if (block.equals(ZERO_BLOCK)) break;
      let sum = 0;
      for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i]!;
      let recorded: number;
      try {
        recorded = parseOctal(block.subarray(148, 156));
      } catch {
        recorded = -1;
      }
      if (recorded !== sum) throw new TarFormatError("this is not a tar archive (a header's checksum does not match)");
      const type = String.fromCharCode(block[156]!) || "0";
      const size = pax["size"] !== undefined ? Number(pax["size"]) : parseOctal(block.subarray(124, 136));
      if (!Number.isSafeInteger(size) || size < 0) throw new TarFormatError("the archive has a malformed size");
      if (type === "x" || type === "g" || type === "L" || type === "K") {
        if (size > 1024 * 1024) throw new TarFormatError("the archive has an extended header over 1 MiB");
        const data = await readData(size);
        if (type === "x") pax = { ...pax, ...parsePax(data) };
        else if (type === "L") longName = cString(data);
        else if (type === "K") longLink = cString(data);
        continue;
      }
      entries += 1;
      if (entries > maxEntries) throw new TarLimitError(`the archive holds more than ${maxEntries} entries`);
      const prefix = cString(block.subarray(345, 500));
      const rawName = pax["path"] ?? longName ?? (prefix ? `${prefix}/${cString(block.subarray(0, 100))}` : cString(block.subarray(0, 100)));
      const linkTarget = pax["linkpath"] ?? longLink ?? cString(block.subarray(157, 257));
      pax = {};
      longName = undefined;
      longLink = undefined;
      const mode = parseOctal(block.subarray(100, 108)) & 0o777;
      const path = safeArchivePath(rawName);
      if (type === "5") {
        if (path !== "") await ensureDir(path);
        continue;
      }
      if (path === "") throw new TarFormatError("the archive holds a file with an empty name");
      const parent = path.includes("/") ? path.slice(0, path.lastIndexOf("/")) : "";
      if (type === "0" || type === "\0" || type === "7") {
        bytes += size;
        if (bytes > options.maxBytes) throw new TarLimitError(`the archive's files add up to more than ${options.maxBytes} bytes`);
        await ensureDir(parent);
        await writeEntry(reader, join(dest, path), size, mode || 0o644, options.overwrite === true);
        await reader.read((BLOCK - (size % BLOCK)) % BLOCK);
        files += 1;
        continue;
      }
      // Anything else carries no data we keep: skip its bytes.
      if (size > 0) await skip(reader, size + ((BLOCK - (size % BLOCK)) % BLOCK));
      if (type === "2") {
        if (linkTarget === "" || linkTarget.includes("\0")) throw new TarFormatError(`the archive holds a symbolic link ${path} without a target`);
        links.push({ path, target: linkTarget });
      }
    }
    // Links last, so that no file of the archive is ever written through one; only where nothing is.
    for (const link of links) {
      const parent = link.path.includes("/") ? link.path.slice(0, link.path.lastIndexOf("/")) : "";
      await ensureDir(parent);
      const full = join(dest, link.path);
      if (options.overwrite) {
        const existing = await lstat(full).catch(() => undefined);
        if (existing && !existing.isDirectory()) await rm(full, { force: true });
      }
      try {
        await symlink(link.target, full);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "EEXIST") throw new TarFormatError(`the archive holds ${link.path} as a symbolic link and as something else`);
        throw err;
      }
      files += 1;
    }
  } finally {
    await reader.close();
  }
  return { files, bytes };
}

async function skip(reader: ByteReader, n: number): Promise<void> {
  let left = n;
  while (left > 0) {
    const part = await reader.some(Math.min(left, 1024 * 1024));
    if (part.length === 0) throw new TarFormatError("the archive ends in the middle of an entry (truncated)");
    left -= part.length;
  }
}

/**
 * Writes one file's bytes. New files are created exclusively (never through an existing link); with `overwrite`, a
 * temporary file beside it is renamed over whatever file or link was there.
 */
async function writeEntry(reader: ByteReader, full: string, size: number, mode: number, overwrite: boolean): Promise<void> {
  const target = overwrite ? join(dirname(full), `.cc-tmp-${process.pid}-${Math.random().toString(36).slice(2)}`) : full;
  let handle;
  try {
    handle = await open(target, "wx", mode);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") throw new TarFormatError(`the archive holds ${full.split(sep).slice(-1)[0]} twice, or it exists already`);
    throw err;
  }
  try {
    let left = size;
    while (left > 0) {
      const part = await reader.some(Math.min(left, 1024 * 1024));
      if (part.length === 0) throw new TarFormatError("the archive ends in the middle of a file (truncated)");
      await handle.write(part);
      left -= part.length;
    }
    await handle.chmod(mode);
  } catch (err) {
    await handle.close();
    if (overwrite) await rm(target, { force: true });
    throw err;
  }
  await handle.close();
  if (overwrite) {
    const existing = await lstat(full).catch(() => undefined);
    if (existing?.isDirectory()) {
      await rm(target, { force: true });
      throw new TarFormatError(`${full.split(sep).slice(-1)[0]} is a directory here; the archive has a file of that name`);
    }
    await rename(target, full);
  }
}
