// Sending a prepared upload (a bundle or a tarball on disk) through UploadWorkspace: the header, then the file in
// chunks read as the stream takes them, so neither cc nor the router nor the worker holds it whole.
import { createReadStream } from "node:fs";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { type UploadHeaderSchema, type UploadWorkspaceResponse, UploadWorkspaceRequestSchema, type UploadWorkspaceRequest } from "../../../gen/claudecluster/v1/transfer_pb.js";
import type { RouterClient } from "../client.js";

/** Below every server's smallest message limit (CC_MAX_PROMPT_BYTES + 256 KiB). */
export const UPLOAD_CHUNK_BYTES = 240 * 1024;

export interface UploadProgress {
  (sent: number, total: number): void;
}

export async function* uploadMessages(header: MessageInitShape<typeof UploadHeaderSchema>, file: string, onProgress?: UploadProgress): AsyncGenerator<UploadWorkspaceRequest> {
  const total = Number(header.size ?? 0n);
  yield create(UploadWorkspaceRequestSchema, { part: { case: "header", value: header } });
  let sent = 0;
  for await (const chunk of createReadStream(file, { highWaterMark: UPLOAD_CHUNK_BYTES }) as AsyncIterable<Buffer>) {
    yield create(UploadWorkspaceRequestSchema, { part: { case: "chunk", value: chunk } });
    sent += chunk.length;
    onProgress?.(sent, total);
  }
}

export function sendUpload(
  client: Pick<RouterClient, "uploadWorkspace">,
  header: MessageInitShape<typeof UploadHeaderSchema>,
  file: string,
  options: { onProgress?: UploadProgress; signal?: AbortSignal } = {},
): Promise<UploadWorkspaceResponse> {
  return client.uploadWorkspace(uploadMessages(header, file, options.onProgress), options.signal ? { signal: options.signal } : {});
}
