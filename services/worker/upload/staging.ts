// Uploads waiting for their task. UploadWorkspace spools each one to a file in the staging directory as its chunks
// arrive (awaiting every write, so a slow disk slows the sender instead of growing memory), checks its size and
// SHA-256 against the header, and keeps it until a task takes it (once) or it has gone unused for the TTL. The
// staging directory as a whole is bounded: an upload that would not fit is refused before any byte is read.
import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, rmSync } from "node:fs";
import { open, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { type UploadHeader, UploadKind, type UploadWorkspaceRequest, type UploadWorkspaceResponse, UploadWorkspaceResponseSchema } from "../../../gen/claudecluster/v1/transfer_pb.js";
import { Code, ConnectError, invalidArgument, notFound, resourceExhausted } from "../../common/errors.js";
import { isValidTaskId, newTaskId } from "../../common/ids.js";
import type { Logger } from "../../common/logger.js";
import { readBundleHeader, type BundleHeader } from "./bundle-header.js";

export interface StagingOptions {
  dir: string;
  /** CC_MAX_UPLOAD_BYTES: one upload. */
  maxUploadBytes: number;
  /** CC_UPLOAD_STAGING_BYTES: all uploads waiting at once. */
  maxStagedBytes: number;
  /** CC_UPLOAD_TTL. */
  ttlMs: number;
  workerId: string;
  logger: Logger;
  now?: () => number;
}

/** An upload received whole and checked, waiting for its task. */
export interface StagedUpload {
  id: string;
  header: UploadHeader;
  file: string;
  size: number;
  expiresAt: number;
  /** For a bundle: its refs and prerequisites. */
  bundle?: BundleHeader;
}

const SHA256 = /^[0-9a-f]{64}$/;
const COMMIT = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;
const MAX_SHALLOW = 10_000;
/** The names this module gives its files (`u<id>.part`, `.bundle`, `.tar.gz`). */
const STAGED_FILE = /^u[0-9a-z]{26}\.(?:part|bundle|tar\.gz)$/;

export class UploadStaging {
  private readonly uploads = new Map<string, StagedUpload>();
  /** Bytes of uploads being received, reserved when their header arrived. */
  private reserved = 0;
  private readonly timer: NodeJS.Timeout;
  private readonly now: () => number;

  constructor(private readonly o: StagingOptions) {
    this.now = o.now ?? Date.now;
    // Uploads a previous process left behind are unusable: their index went with that process.
    try {
      for (const name of readdirSync(o.dir)) if (STAGED_FILE.test(name)) rmSync(join(o.dir, name), { force: true });
    } catch {
      // Not there yet: made on the first upload.
    }
    this.timer = setInterval(() => this.sweep(), Math.min(60_000, Math.max(1000, o.ttlMs / 4)));
    this.timer.unref();
  }

  get count(): number {
    return this.uploads.size;
  }

  get bytes(): number {
    let total = 0;
    for (const u of this.uploads.values()) total += u.size;
    return total;
  }

  /** Receives one upload: the header first, then chunks. */
  async receive(requests: AsyncIterable<UploadWorkspaceRequest>): Promise<UploadWorkspaceResponse> {
    const it = requests[Symbol.asyncIterator]();
    const first = await it.next();
    if (first.done || first.value.part.case !== "header") throw invalidArgument("header", "the first message of an upload must be its header (kind, size, sha256)");
    const header = first.value.part.value;
    this.checkHeader(header);
    const size = Number(header.size);
    if (this.bytes + this.reserved + size > this.o.maxStagedBytes) {
      throw resourceExhausted(
        `worker ${this.o.workerId} holds ${this.bytes + this.reserved} bytes of uploads waiting for their tasks and has room for ${this.o.maxStagedBytes} (CC_UPLOAD_STAGING_BYTES); try again once they have started or expired`,
      );
    }
    this.reserved += size;
    const id = `u${newTaskId(this.now())}`;
    mkdirSync(this.o.dir, { recursive: true });
    const part = join(this.o.dir, `${id}.part`);
    const file = join(this.o.dir, header.kind === UploadKind.GIT_BUNDLE ? `${id}.bundle` : `${id}.tar.gz`);
    const hash = createHash("sha256");
    let received = 0;
    const handle = await open(part, "wx", 0o600);
    let ok = false;
    try {
      for (;;) {
        const next = await it.next();
        if (next.done) break;
        const msg = next.value;
        if (msg.part.case !== "chunk") throw invalidArgument("chunk", "after the header, every message of an upload must be a chunk");
        const chunk = msg.part.value;
        received += chunk.length;
        if (received > size) throw invalidArgument("chunk", `the upload sent more than the ${size} bytes its header announced; send exactly header.size bytes`);
        hash.update(chunk);
        await handle.write(chunk);
      }
      if (received < size) {
        throw invalidArgument("chunk", `the upload ended after ${received} of the ${size} bytes its header announced (truncated); send it again`);
      }
      const digest = hash.digest("hex");
      if (digest !== header.sha256) {
        throw new ConnectError(`the upload's SHA-256 is ${digest}, not the ${header.sha256} its header announced: it was corrupted on the way; send it again`, Code.DataLoss);
      }
      await handle.close();
      const bundle = header.kind === UploadKind.GIT_BUNDLE ? await this.checkBundle(part, header) : undefined;
      if (header.kind === UploadKind.TARBALL) await checkGzip(part);
      await rename(part, file);
      ok = true;
      const upload: StagedUpload = { id, header, file, size, expiresAt: this.now() + this.o.ttlMs, ...(bundle ? { bundle } : {}) };
      this.uploads.set(id, upload);
      this.o.logger.info({ uploadId: id, bytes: size, kind: UploadKind[header.kind] }, "upload received");
      return create(UploadWorkspaceResponseSchema, { uploadId: id, workerId: this.o.workerId, size: BigInt(size), expiresAt: timestampFromMs(upload.expiresAt) });
    } finally {
      this.reserved -= size;
      if (!ok) {
        await handle.close().catch(() => {});
        await rm(part, { force: true });
        // The rest of the caller's stream is left unread: the server discards it once the answer is sent
        // (services/common/node-adapter.ts). Ending the iterator here would wait for that stream instead.
      }
    }
  }

  /** Hands the upload to its task, once: it is no longer listed, and the caller removes the file when done. */
  take(id: string): StagedUpload {
    if (!isValidTaskId(id)) throw invalidArgument("workspace.upload.upload_id", "must be 1-64 letters, digits, '-' or '_'");
    const upload = this.uploads.get(id);
    if (!upload) {
      throw notFound(
        `upload ${id} on worker ${this.o.workerId}`,
        "an upload serves one task and is removed when unused for CC_UPLOAD_TTL; upload the workspace again (cc run --upload does)",
      );
    }
    this.uploads.delete(id);
    return upload;
  }

  /** Removes expired uploads. */
  sweep(): void {
    const now = this.now();
    for (const [id, upload] of this.uploads) {
      if (upload.expiresAt > now) continue;
      this.uploads.delete(id);
      rmSync(upload.file, { force: true });
      this.o.logger.info({ uploadId: id }, "upload expired unused");
    }
  }

  close(): void {
    clearInterval(this.timer);
    for (const upload of this.uploads.values()) rmSync(upload.file, { force: true });
    this.uploads.clear();
  }

  private checkHeader(header: UploadHeader): void {
    if (header.kind !== UploadKind.GIT_BUNDLE && header.kind !== UploadKind.TARBALL) {
      throw invalidArgument("header.kind", "must be UPLOAD_KIND_GIT_BUNDLE or UPLOAD_KIND_TARBALL");
    }
    const size = header.size;
    if (size === 0n) throw invalidArgument("header.size", "is 0; an upload has bytes");
    if (size > BigInt(this.o.maxUploadBytes)) {
      throw resourceExhausted(
        `the upload is ${size} bytes, over worker ${this.o.workerId}'s limit of ${this.o.maxUploadBytes} (CC_MAX_UPLOAD_BYTES); leave large files out of it (.gitignore; .ccignore outside git) or raise the limit`,
      );
    }
    if (!SHA256.test(header.sha256)) throw invalidArgument("header.sha256", "must be the SHA-256 of the upload as 64 lower-case hex digits");
    if (header.kind === UploadKind.GIT_BUNDLE) {
      if (!COMMIT.test(header.commit)) throw invalidArgument("header.commit", "must be the full id of the commit to check out (40 or 64 lower-case hex digits)");
    } else if (header.commit !== "" || header.snapshot || header.shallow.length > 0) {
      throw invalidArgument("header", "commit, snapshot and shallow apply to git bundles only");
    }
    if (header.shallow.length > MAX_SHALLOW) throw invalidArgument("header.shallow", `more than ${MAX_SHALLOW} commits`);
    header.shallow.forEach((c, i) => {
      if (!COMMIT.test(c)) throw invalidArgument(`header.shallow[${i}]`, "must be a full commit id");
    });
  }

  private async checkBundle(file: string, header: UploadHeader): Promise<BundleHeader> {
    const bundle = await readBundleHeader(file);
    if (!bundle) throw invalidArgument("chunk", "the upload is not a git bundle (it does not start with \"# v2 git bundle\" or \"# v3 git bundle\"); make one with `git bundle create`");
    if (!bundle.refs.some((r) => r.commit === header.commit)) {
      throw invalidArgument("header.commit", `the bundle has no ref at ${header.commit}; name the commit one of its refs points at`);
    }
    return bundle;
  }
}

async function checkGzip(file: string): Promise<void> {
  const handle = await open(file, "r");
  try {
    const magic = Buffer.alloc(2);
    await handle.read(magic, 0, 2, 0);
    if (magic[0] !== 0x1f || magic[1] !== 0x8b) throw invalidArgument("chunk", "the upload is not a gzip-compressed tar archive");
  } finally {
    await handle.close();
  }
}
