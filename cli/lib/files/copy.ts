// `cc cp`: files between this machine and a task's workspace, like `docker cp`. One side is `TASK:PATH` (the path
// relative to the workspace), the other a local path or `-` (standard input or output). A file travels as its bytes,
// a directory as a gzip-compressed tar archive, both streamed; a directory received is unpacked where `cp -r` would
// put it (inside an existing directory, under its own name), never through a symbolic link.
import { createReadStream, createWriteStream } from "node:fs";
import { once } from "node:events";
import { mkdir, mkdtemp, rename, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip, createGzip } from "node:zlib";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { UsageError } from "clipanion";
import { FileType, type FileHeader, type WriteFileHeaderSchema, WriteFileRequestSchema, type WriteFileRequest } from "../../../gen/claudecluster/v1/transfer_pb.js";
import { extractTar, tarStream, walkTree } from "../../../services/common/tar.js";
import type { RouterClient } from "../client.js";
import type { CommandIO } from "../io.js";
import { humanBytes } from "../numbers.js";
import { UPLOAD_CHUNK_BYTES } from "../checkout/upload.js";

export interface RemotePath {
  taskId: string;
  path: string;
}

/** `TASK:PATH` (task ids are letters, digits, `-` and `_`); anything else is a local path. */
export function parseRemote(arg: string): RemotePath | undefined {
  const m = /^([A-Za-z0-9_-]{1,64}):(.*)$/s.exec(arg);
  return m ? { taskId: m[1]!, path: m[2]!.replace(/^\/+/, "") } : undefined;
}

export type FilesClient = Pick<RouterClient, "readFile" | "writeFile" | "listFiles">;

export interface CopyContext {
  client: FilesClient;
  io: Pick<CommandIO, "stdin" | "stdout" | "stderr">;
  cwd: string;
}

/** Directories received from a workspace may hold this much. */
const MAX_RECEIVED_BYTES = 64 * 1024 * 1024 * 1024;

export async function copy(c: CopyContext, source: string, dest: string): Promise<void> {
  const from = parseRemote(source);
  const to = parseRemote(dest);
  if (from && to) throw new UsageError("cc cp copies between this machine and a task: give one TASK:PATH and one local path");
  if (!from && !to) throw new UsageError(`cc cp needs a TASK:PATH on one side (got "${source}" and "${dest}"); write a local path with a colon as ./name`);
  if (from) await download(c, from, dest);
  else await upload(c, source, to!);
}

async function download(c: CopyContext, from: RemotePath, dest: string): Promise<void> {
  const stream = c.client.readFile({ taskId: from.taskId, path: from.path })[Symbol.asyncIterator]();
  const first = await stream.next();
  if (first.done || first.value.part.case !== "header") throw new Error(`the router sent task ${from.taskId}'s file without a header`);
  const header: FileHeader = first.value.part.value;
  async function* data(): AsyncGenerator<Uint8Array> {
    for (;;) {
      const next = await stream.next();
      if (next.done) return;
      if (next.value.part.case === "data") yield next.value.part.value;
    }
  }
  const name = basename(from.path) || from.taskId;
  if (dest === "-") {
    for await (const chunk of data()) if (!c.io.stdout.write(chunk)) await once(c.io.stdout, "drain");
    return;
  }
  const local = resolve(c.cwd, dest);
  const existing = await stat(local).catch(() => undefined);
  if (header.type === FileType.DIRECTORY) {
    const target = existing?.isDirectory() ? join(local, name) : local;
    if (existing && !existing.isDirectory()) throw new UsageError(`${dest} is a file; ${from.taskId}:${from.path || "."} is a directory`);
    await mkdir(target, { recursive: true });
    const { files, bytes } = await extractTar(Readable.from(data()).pipe(createGunzip()), target, { maxBytes: MAX_RECEIVED_BYTES, overwrite: true });
    c.io.stderr.write(`copied ${files} files (${humanBytes(bytes)}) to ${target}\n`);
    return;
  }
  const target = existing?.isDirectory() ? join(local, name) : local;
  const temp = join(dirname(target), `.cc-tmp-${process.pid}-${Math.random().toString(36).slice(2)}`);
  try {
    await pipeline(Readable.from(data()), createWriteStream(temp, { flags: "wx", mode: header.mode & 0o777 || 0o644 }));
    await rename(temp, target);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
  c.io.stderr.write(`copied ${humanBytes(Number(header.size))} to ${target}\n`);
}

async function* writeMessages(header: MessageInitShape<typeof WriteFileHeaderSchema>, file: string): AsyncGenerator<WriteFileRequest> {
  yield create(WriteFileRequestSchema, { part: { case: "header", value: header } });
  for await (const chunk of createReadStream(file, { highWaterMark: UPLOAD_CHUNK_BYTES }) as AsyncIterable<Buffer>) {
    yield create(WriteFileRequestSchema, { part: { case: "chunk", value: chunk } });
  }
}

async function upload(c: CopyContext, source: string, to: RemotePath): Promise<void> {
  const scratch = await mkdtemp(join(tmpdir(), "cc-cp-"));
  try {
    let file: string;
    let type = FileType.FILE;
    let mode = 0o644;
    let name: string;
    if (source === "-") {
      // The size goes first, so standard input is spooled to a file.
      file = join(scratch, "stdin");
      await pipeline(c.io.stdin, createWriteStream(file));
      name = basename(to.path) || "stdin";
    } else {
      const local = resolve(c.cwd, source);
      const st = await stat(local).catch(() => undefined);
      if (!st) throw new UsageError(`${source} does not exist`);
      name = basename(local);
      if (st.isDirectory()) {
        file = join(scratch, "directory.tar.gz");
        await pipeline(Readable.from(tarStream(local, walkTree(local))), createGzip(), createWriteStream(file));
        type = FileType.DIRECTORY;
      } else {
        file = local;
        mode = st.mode & 0o777;
      }
    }
    const size = (await stat(file)).size;
    const res = await c.client.writeFile(writeMessages({ taskId: to.taskId, path: to.path, name, type, size: BigInt(size), mode }, file));
    const what = type === FileType.DIRECTORY ? `${res.files} files (${humanBytes(Number(res.bytes))})` : humanBytes(Number(res.bytes));
    c.io.stderr.write(`copied ${what} to ${to.taskId}:${res.path}\n`);
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
