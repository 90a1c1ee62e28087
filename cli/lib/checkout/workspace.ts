// A directory sent as a task's workspace: prepared (a bundle of the checkout, or a tarball), sent through
// UploadWorkspace to a worker that fits the task, and named in the task's workspace. `cc run --upload` and the MCP
// tool run_task share it; each shows the progress its own way.
import { create } from "@bufbuild/protobuf";
import { type RunRequest, type Workspace, WorkspaceSchema } from "../../../gen/claudecluster/v1/run_pb.js";
import type { UploadWorkspaceResponse } from "../../../gen/claudecluster/v1/transfer_pb.js";
import type { RouterClient } from "../client.js";
import { prepareUpload, sendUpload, type PreparedUpload, type UploadProgress } from "./index.js";

export interface UploadedWorkspace {
  /** The request's workspace: the upload, with the request's repository as its origin and its push kept. */
  workspace: Workspace;
  /** What was sent, in a few words ("the checkout at 1a2b3c4d5e6f on main, with its uncommitted changes, …"). */
  description: string;
  response: UploadWorkspaceResponse;
}

export interface UploadOptions {
  /** Called once the upload is prepared, before any byte is sent. */
  onPrepared?: (prepared: PreparedUpload) => void;
  onProgress?: UploadProgress;
  signal?: AbortSignal;
}

/**
 * Prepares `dir` and sends it for `request` (to a worker with its labels, or its worker), then removes what was
 * prepared. The request's repository (`--repo`) becomes the upload's origin: only what it lacks is sent, and a push
 * goes there.
 */
export async function uploadAsWorkspace(client: Pick<RouterClient, "uploadWorkspace">, dir: string, request: RunRequest, options: UploadOptions = {}): Promise<UploadedWorkspace> {
  const repo = request.workspace?.source.case === "repository" ? request.workspace.source.value : undefined;
  const prepared = await prepareUpload(dir, { originUrl: repo?.url });
  try {
    options.onPrepared?.(prepared);
    const response = await sendUpload(client, { ...prepared.header, labels: request.labels, workerId: request.workerId }, prepared.file, {
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    const origin = repo ? { url: repo.url, ref: repo.ref || prepared.branch, token: repo.token } : undefined;
    const workspace = create(WorkspaceSchema, {
      source: { case: "upload", value: { uploadId: response.uploadId, ...(origin ? { origin } : {}) } },
      ...(request.workspace?.push ? { push: request.workspace.push } : {}),
    });
    return { workspace, description: prepared.description, response };
  } finally {
    await prepared.cleanup();
  }
}
