// The WorkerService RPCs that move bytes: uploads in (UploadWorkspace), recorded changes out (GetChanges), and a
// task's files both ways (ListFiles, ReadFile, WriteFile). Streams are async generators and iterables: each chunk is
// awaited, so a slow peer slows the other side rather than filling memory.
import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import { ChangesChunkSchema, FileChunkSchema, type WriteFileRequest } from "../../gen/claudecluster/v1/transfer_pb.js";
import type { WorkerService } from "../../gen/claudecluster/v1/worker_pb.js";
import { failedPrecondition, invalidArgument } from "../common/errors.js";
import { isValidTaskId } from "../common/ids.js";
import type { WorkerTransfers } from "./transfers.js";
import { listFiles, readWorkspaceFile, writeWorkspaceFile } from "./workspaces/files.js";

export type TransferMethod = "uploadWorkspace" | "getChanges" | "listFiles" | "readFile" | "writeFile";

export interface TransferDeps {
  transfers: WorkerTransfers;
  /** Whether the task is running on this worker now. */
  isRunning: (taskId: string) => boolean;
  /** CC_MAX_COPY_BYTES. */
  maxCopyBytes: number;
}

function checkTaskId(taskId: string, field = "task_id"): void {
  if (taskId === "") throw invalidArgument(field, "is required");
  if (!isValidTaskId(taskId)) throw invalidArgument(field, "must be 1-64 letters, digits, '-' or '_'");
}

/** The chunks after a header, as bytes. */
async function* chunksOf(it: AsyncIterator<WriteFileRequest>): AsyncGenerator<Uint8Array> {
  for (;;) {
    const next = await it.next();
    if (next.done) return;
    if (next.value.part.case !== "chunk") throw invalidArgument("chunk", "after the header, every message must be a chunk");
    yield next.value.part.value;
  }
}

export function transferService(deps: TransferDeps): Pick<ServiceImpl<typeof WorkerService>, TransferMethod> {
  const { transfers } = deps;
  return {
    uploadWorkspace(requests) {
      return transfers.uploads.receive(requests);
    },

    async *getChanges(req) {
      checkTaskId(req.taskId);
      if (deps.isRunning(req.taskId)) throw failedPrecondition(`task ${req.taskId} is still running; its changes are recorded when it ends`);
      const { header, data } = transfers.store.open(req.taskId, req.format);
      yield create(ChangesChunkSchema, { part: { case: "header", value: header } });
      for await (const chunk of data) yield create(ChangesChunkSchema, { part: { case: "data", value: chunk } });
    },

    async listFiles(req) {
      checkTaskId(req.taskId);
      const where = transfers.retention.locate(req.taskId);
      return listFiles(where.dir, req.path, where.running);
    },

    async *readFile(req) {
      checkTaskId(req.taskId);
      const where = transfers.retention.locate(req.taskId);
      const { header, data } = await readWorkspaceFile(where.dir, req.path, deps.maxCopyBytes);
      yield create(FileChunkSchema, { part: { case: "header", value: header } });
      for await (const chunk of data) yield create(FileChunkSchema, { part: { case: "data", value: chunk } });
    },

    async writeFile(requests) {
      const it = requests[Symbol.asyncIterator]();
      const first = await it.next();
      if (first.done || first.value.part.case !== "header") throw invalidArgument("header", "the first message of WriteFile must be its header (task_id, path, type, size)");
      const header = first.value.part.value;
      checkTaskId(header.taskId, "header.task_id");
      const where = transfers.retention.locate(header.taskId);
      return writeWorkspaceFile(where.dir, header, chunksOf(it), deps.maxCopyBytes);
    },
  };
}
