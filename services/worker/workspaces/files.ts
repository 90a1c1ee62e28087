// Files in and out of a task's workspace (`cc ls`, `cc cp`), confined to it: a path with `..` or an absolute one is
// refused, and a path that resolves (through symbolic links, the workspace's own included) to anywhere outside the
// workspace is refused too. Files stream in chunks; a directory travels as a gzip-compressed tar archive, measured
// before it is sent; both ways are bounded by CC_MAX_COPY_BYTES. Writes go to a temporary file renamed into place.
//
// The checks resolve real paths and then open them; a task running at the same time could swap a directory for a
// link in between. That race is the sandbox's to close (claude cannot see outside its workspace there).
import { createReadStream } from "node:fs";
import { lstat, mkdir, open, readdir, readlink, realpath, rename, rm, stat } from "node:fs/promises";
import { basename, dirname, join, relative, sep } from "node:path";
import { Readable } from "node:stream";
import { createGunzip, createGzip } from "node:zlib";
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import {
  type FileEntry,
  FileEntrySchema,
  type FileHeader,
  FileHeaderSchema,
  FileType,
  type ListFilesResponse,
  ListFilesResponseSchema,
  type WriteFileHeader,
  type WriteFileResponse,
  WriteFileResponseSchema,
} from "../../../gen/claudecluster/v1/transfer_pb.js";
import { failedPrecondition, invalidArgument, notFound, resourceExhausted } from "../../common/errors.js";
import { extractTar, tarStream, TarFormatError, TarLimitError, walkTree } from "../../common/tar.js";
import { measure } from "./retention.js";

const MAX_ENTRIES = 10_000;
const CHUNK_BYTES = 256 * 1024;

/** A path inside a workspace, resolved. */
interface Resolved {
  /** The workspace's real path. */
  root: string;
  /** `root` joined with the request's path (not resolved further). */
  full: string;
  /** The real path of `full` when it exists. */
  real: string | undefined;
}

function typeOf(st: { isFile(): boolean; isDirectory(): boolean; isSymbolicLink(): boolean }): FileType {
  return st.isFile() ? FileType.FILE : st.isDirectory() ? FileType.DIRECTORY : st.isSymbolicLink() ? FileType.SYMLINK : FileType.OTHER;
}

const isUnder = (path: string, dir: string) => path === dir || path.startsWith(dir + sep);

/** Checks the request's path and resolves it inside `workspace`. */
export async function resolveInWorkspace(workspace: string, path: string, field = "path"): Promise<Resolved> {
  if (path.includes("\0")) throw invalidArgument(field, "contains a NUL character");
  if (path.length > 4096) throw invalidArgument(field, "is longer than 4096 characters");
  if (path.startsWith("/")) throw invalidArgument(field, `must be relative to the task's workspace, not absolute ("${path.slice(0, 200)}")`);
  const parts = path.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.includes("..")) throw invalidArgument(field, `must stay inside the task's workspace: ".." is not allowed ("${path.slice(0, 200)}")`);
  let root: string;
  try {
    root = await realpath(workspace);
  } catch {
    throw failedPrecondition("the task's workspace is gone");
  }
  const full = join(root, ...parts);
  let real: string | undefined;
  try {
    real = await realpath(full);
  } catch {
    real = undefined;
  }
  const outside = () => invalidArgument(field, `"${path.slice(0, 200)}" leads out of the task's workspace through a symbolic link`);
  if (real !== undefined && !isUnder(real, root)) throw outside();
  if (real === undefined) {
    // The deepest part that exists must be inside, so that what is created lands inside.
    let probe = dirname(full);
    for (;;) {
      const r = await realpath(probe).catch(() => undefined);
      if (r !== undefined) {
        if (!isUnder(r, root)) throw outside();
        break;
      }
      if (probe === root || probe === dirname(probe)) break;
      probe = dirname(probe);
    }
  }
  return { root, full, real };
}

function entryOf(name: string, st: Awaited<ReturnType<typeof lstat>>, linkTarget = ""): FileEntry {
  return create(FileEntrySchema, {
    name,
    type: typeOf(st),
    size: BigInt(st.isDirectory() ? 0 : st.size),
    mode: Number(st.mode) & 0o7777,
    modified: timestampFromMs(Math.floor(Number(st.mtimeMs))),
    linkTarget,
  });
}

export async function listFiles(workspace: string, path: string, running: boolean): Promise<ListFilesResponse> {
  const r = await resolveInWorkspace(workspace, path);
  if (r.real === undefined) throw notFound(`"${path}" in the task's workspace`, "list the workspace with `cc ls TASK` to see what is there");
  const st = await stat(r.real);
  if (!st.isDirectory()) {
    const own = await lstat(r.full);
    const link = own.isSymbolicLink() ? await readlink(r.full) : "";
    return create(ListFilesResponseSchema, { path, type: typeOf(st), entries: [entryOf(basename(r.full), own, link)], taskRunning: running });
  }
  const names = (await readdir(r.real)).sort();
  const entries: FileEntry[] = [];
  for (const name of names.slice(0, MAX_ENTRIES)) {
    const full = join(r.real, name);
    try {
      const own = await lstat(full);
      entries.push(entryOf(name, own, own.isSymbolicLink() ? await readlink(full) : ""));
    } catch {
      // gone meanwhile
    }
  }
  return create(ListFilesResponseSchema, { path, type: FileType.DIRECTORY, entries, truncated: names.length > MAX_ENTRIES, taskRunning: running });
}

/** A file's bytes, or a directory as tar.gz, after a header; refused past `maxBytes`. */
export async function readWorkspaceFile(workspace: string, path: string, maxBytes: number): Promise<{ header: FileHeader; data: AsyncIterable<Buffer> }> {
  const r = await resolveInWorkspace(workspace, path);
  if (r.real === undefined) throw notFound(`"${path}" in the task's workspace`, "list the workspace with `cc ls TASK` to see what is there");
  const st = await stat(r.real);
  const tooBig = (size: number) =>
    resourceExhausted(`"${path || "."}" holds ${size} bytes, over the worker's limit of ${maxBytes} for one copy (CC_MAX_COPY_BYTES); copy less at a time`);
  if (st.isFile()) {
    if (st.size > maxBytes) throw tooBig(st.size);
    return {
      header: create(FileHeaderSchema, { path, type: FileType.FILE, size: BigInt(st.size), mode: st.mode & 0o7777 }),
      data: fileBytes(r.real, st.size),
    };
  }
  if (!st.isDirectory()) throw failedPrecondition(`"${path}" is neither a file nor a directory`);
  const size = await measure(r.real);
  if (size > maxBytes) throw tooBig(size);
  const root = r.real;
  const archive = Readable.from(tarStream(root, walkTree(root, { maxBytes }))).pipe(createGzip());
  return { header: create(FileHeaderSchema, { path, type: FileType.DIRECTORY, size: 0n, mode: st.mode & 0o7777 }), data: archive as AsyncIterable<Buffer> };
}

/** Exactly `size` bytes of a file (it may change while it is read: cut or padded, as tar does). */
async function* fileBytes(file: string, size: number): AsyncGenerator<Buffer> {
  let sent = 0;
  for await (const chunk of createReadStream(file, { highWaterMark: CHUNK_BYTES }) as AsyncIterable<Buffer>) {
    const part = chunk.subarray(0, Math.max(0, size - sent));
    sent += part.length;
    if (part.length > 0) yield part;
    if (sent >= size) return;
  }
  if (sent < size) yield Buffer.alloc(size - sent);
}

/** Writes a file, or unpacks an archive, from `chunks` (exactly `header.size` bytes). */
export async function writeWorkspaceFile(workspace: string, header: WriteFileHeader, chunks: AsyncIterable<Uint8Array>, maxBytes: number): Promise<WriteFileResponse> {
  if (header.type !== FileType.FILE && header.type !== FileType.DIRECTORY) throw invalidArgument("header.type", "must be FILE_TYPE_FILE or FILE_TYPE_DIRECTORY");
  const size = Number(header.size);
  if (header.size > BigInt(maxBytes)) {
    throw resourceExhausted(`the copy is ${header.size} bytes, over the worker's limit of ${maxBytes} (CC_MAX_COPY_BYTES); copy less at a time`);
  }
  if (header.name !== "" && (header.name.includes("/") || header.name === "." || header.name === ".." || header.name.includes("\0"))) {
    throw invalidArgument("header.name", "must be a plain file name");
  }
  let r = await resolveInWorkspace(workspace, header.path, "header.path");
  let rel = header.path;
  if (r.real !== undefined && (await stat(r.real)).isDirectory()) {
    if (header.name === "" && header.type === FileType.FILE) throw invalidArgument("header.name", `is required: "${header.path || "."}" is a directory`);
    if (header.name !== "") {
      rel = header.path ? `${header.path.replace(/\/+$/, "")}/${header.name}` : header.name;
      r = await resolveInWorkspace(workspace, rel, "header.path");
    }
  }
  if (header.type === FileType.FILE && header.path.endsWith("/") && r.real === undefined) {
    throw notFound(`the directory "${header.path}" in the task's workspace`, "create it first, or name the file to write");
  }
  const counted = exactly(chunks, size);
  if (header.type === FileType.FILE) {
    if (r.real !== undefined && (await stat(r.real)).isDirectory()) throw failedPrecondition(`"${rel}" is a directory in the task's workspace`);
    const parent = dirname(r.full);
    if (!(await stat(parent).catch(() => undefined))?.isDirectory()) throw notFound(`the directory of "${rel}" in the task's workspace`, "create it first, or copy the whole directory");
    const temp = join(parent, `.cc-tmp-${process.pid}-${Math.random().toString(36).slice(2)}`);
    const handle = await open(temp, "wx", (header.mode & 0o777) || 0o644);
    let bytes = 0;
    try {
      for await (const chunk of counted) {
        await handle.write(chunk);
        bytes += chunk.length;
      }
      await handle.close();
      await rename(temp, r.real ?? r.full);
    } catch (err) {
      await handle.close().catch(() => {});
      await rm(temp, { force: true });
      throw err;
    }
    return create(WriteFileResponseSchema, { path: relative(r.root, r.full) || ".", bytes: BigInt(bytes), files: 1 });
  }
  const dest = r.real ?? r.full;
  if (r.real === undefined) await mkdir(dest);
  else if (!(await stat(dest)).isDirectory()) throw failedPrecondition(`"${rel}" is a file in the task's workspace; a directory cannot replace it`);
  try {
    const { files, bytes } = await extractTar(Readable.from(counted).pipe(createGunzip()), dest, { maxBytes: maxBytes * 4, overwrite: true });
    return create(WriteFileResponseSchema, { path: relative(r.root, dest) || ".", bytes: BigInt(bytes), files });
  } catch (err) {
    if (err instanceof TarFormatError) throw invalidArgument("chunk", err.message);
    if (err instanceof TarLimitError) throw resourceExhausted(`${err.message} (4 times CC_MAX_COPY_BYTES)`);
    if ((err as NodeJS.ErrnoException).code?.startsWith("Z_")) throw invalidArgument("chunk", "the archive is not valid gzip data");
    throw err;
  }
}

/** The chunks, checked to add up to exactly `size` bytes. */
async function* exactly(chunks: AsyncIterable<Uint8Array>, size: number): AsyncGenerator<Buffer> {
  let received = 0;
  for await (const chunk of chunks) {
    received += chunk.length;
    if (received > size) throw invalidArgument("chunk", `more than the ${size} bytes the header announced`);
    yield Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  }
  if (received < size) throw invalidArgument("chunk", `the copy ended after ${received} of the ${size} bytes the header announced (truncated)`);
}
