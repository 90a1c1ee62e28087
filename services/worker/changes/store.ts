// The worker's store of recorded changes: one directory per ended task under CC_CHANGES_DIR, holding the patch, the
// bundle and the summary. It outlives the task's workspace (which retention may reclaim first) and the worker process
// (it is read back at start), and is kept within CC_CHANGES_RETAIN_AGE and CC_CHANGES_RETAIN_BYTES, the oldest going
// first. GetChanges streams from it.
import { createReadStream, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { timestampFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import { type ChangesSummary, ChangesSummarySchema } from "../../../gen/claudecluster/v1/run_pb.js";
import { ChangesFormat, type ChangesHeader, ChangesHeaderSchema } from "../../../gen/claudecluster/v1/transfer_pb.js";
import { failedPrecondition, notFound } from "../../common/errors.js";
import { isValidTaskId } from "../../common/ids.js";
import type { Logger } from "../../common/logger.js";
import { BUNDLE_FILE, type ChangesStart, PATCH_FILE, recordChanges, type RecordOptions } from "./recorder.js";

const SUMMARY_FILE = "summary.binpb";
/** Tasks whose changes were evicted, remembered to say so (bounded). */
const MAX_EVICTED = 10_000;
const CHUNK_BYTES = 256 * 1024;

export interface ChangesStoreOptions {
  dir: string;
  retainAgeMs: number;
  retainBytes: number;
  logger: Logger;
  now?: () => number;
}

interface Entry {
  taskId: string;
  dir: string;
  summary: ChangesSummary;
  bytes: number;
  recordedAt: number;
}

export class ChangesStore {
  private readonly entries = new Map<string, Entry>();
  private readonly evicted = new Map<string, string>();
  private readonly now: () => number;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly o: ChangesStoreOptions) {
    this.now = o.now ?? Date.now;
    this.load();
    this.timer = setInterval(() => void this.evict(), 60_000);
    this.timer.unref();
  }

  get count(): number {
    return this.entries.size;
  }

  get bytes(): number {
    let total = 0;
    for (const e of this.entries.values()) total += e.bytes;
    return total;
  }

  /** Records a task's changes (services/worker/changes/recorder.ts); resolves with the summary for `exited`. */
  async record(start: ChangesStart, options: Omit<RecordOptions, "dir">): Promise<ChangesSummary> {
    const dir = join(this.o.dir, start.taskId);
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    const recorded = await recordChanges(start, { ...options, dir });
    const now = this.now();
    recorded.summary.expiresAt = timestampFromMs(now + this.o.retainAgeMs);
    await writeFile(join(dir, SUMMARY_FILE), toBinary(ChangesSummarySchema, recorded.summary));
    const entry: Entry = { taskId: start.taskId, dir, summary: recorded.summary, bytes: sizeOf(dir), recordedAt: now };
    this.entries.set(start.taskId, entry);
    this.o.logger.info(
      { taskId: start.taskId, files: recorded.summary.filesTotal, bytes: entry.bytes, error: recorded.summary.error || undefined, pushed: recorded.summary.push?.commit || undefined },
      "changes recorded",
    );
    await this.evict();
    return recorded.summary;
  }

  /** The header and the bytes of a task's changes, in `format`. */
  open(taskId: string, format: ChangesFormat): { header: ChangesHeader; data: AsyncIterable<Buffer> } {
    const entry = this.entries.get(taskId);
    if (!entry) {
      const why = this.evicted.get(taskId);
      if (why) throw notFound(`the changes of task ${taskId}`, `they were removed ${why}`);
      throw notFound(
        `recorded changes of task ${taskId} on this worker`,
        "changes are recorded for tasks in a git workspace of their own (workspace.repository or workspace.upload) once they end, and kept for CC_CHANGES_RETAIN_AGE",
      );
    }
    const bundle = format === ChangesFormat.BUNDLE;
    const file = join(entry.dir, bundle ? BUNDLE_FILE : PATCH_FILE);
    const nothing = entry.summary.finalCommit === entry.summary.baseCommit;
    if (!existsSync(file)) {
      if (nothing || (entry.summary.finalCommit === "" && !entry.summary.error)) {
        return { header: create(ChangesHeaderSchema, { summary: entry.summary, format: bundle ? ChangesFormat.BUNDLE : ChangesFormat.PATCH, size: 0n }), data: empty() };
      }
      throw failedPrecondition(`the ${bundle ? "bundle" : "patch"} of task ${taskId} was not kept: ${entry.summary.error || "it could not be recorded"}`);
    }
    const size = statSync(file).size;
    return {
      header: create(ChangesHeaderSchema, { summary: entry.summary, format: bundle ? ChangesFormat.BUNDLE : ChangesFormat.PATCH, size: BigInt(size) }),
      data: createReadStream(file, { highWaterMark: CHUNK_BYTES }) as AsyncIterable<Buffer>,
    };
  }

  /** Removes the oldest records past the age and size limits. */
  async evict(): Promise<void> {
    const now = this.now();
    const byAge = [...this.entries.values()].sort((a, b) => a.recordedAt - b.recordedAt);
    let total = this.bytes;
    for (const e of byAge) {
      const old = now - e.recordedAt > this.o.retainAgeMs;
      if (!old && total <= this.o.retainBytes) continue;
      this.entries.delete(e.taskId);
      total -= e.bytes;
      this.remember(e.taskId, old ? "after CC_CHANGES_RETAIN_AGE" : "to stay within CC_CHANGES_RETAIN_BYTES (oldest first)");
      await rm(e.dir, { recursive: true, force: true });
      this.o.logger.info({ taskId: e.taskId, bytes: e.bytes, reason: old ? "age" : "size" }, "changes removed");
    }
  }

  close(): void {
    clearInterval(this.timer);
  }

  private remember(taskId: string, why: string): void {
    this.evicted.set(taskId, why);
    if (this.evicted.size > MAX_EVICTED) this.evicted.delete(this.evicted.keys().next().value!);
  }

  /** Records of an earlier run of this worker; half-written ones (no summary) are removed. */
  private load(): void {
    mkdirSync(this.o.dir, { recursive: true });
    for (const name of readdirSync(this.o.dir)) {
      const dir = join(this.o.dir, name);
      try {
        if (!isValidTaskId(name)) continue;
        const summary = fromBinary(ChangesSummarySchema, readFileSync(join(dir, SUMMARY_FILE)));
        const expires = summary.expiresAt ? timestampMs(summary.expiresAt) : this.now();
        this.entries.set(name, { taskId: name, dir, summary, bytes: sizeOf(dir), recordedAt: expires - this.o.retainAgeMs });
      } catch {
        rmSync(dir, { recursive: true, force: true });
      }
    }
  }
}

async function* empty(): AsyncGenerator<Buffer> {}

function sizeOf(dir: string): number {
  let total = 0;
  for (const name of readdirSync(dir)) {
    try {
      total += statSync(join(dir, name)).size;
    } catch {
      // gone meanwhile
    }
  }
  return total;
}
