// The repository state a continued session works in: the recorded changes of the task it continues (issue 12's
// bundle of the task's commits), carried from the worker that task ran on to the worker the new task runs on, as an
// upload. The bundle leaves out the commits the task started from (its prerequisites), so it can be carried only
// when the worker can fetch those from the repository they came from: a `--repo` task, or an upload with an
// origin; an upload of a whole checkout without one is not rebuilt elsewhere. The bundle is held in memory while it
// moves, at most CC_MAX_CARRY_BYTES.
import { createHash } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { type GitRepository, GitRepositorySchema, type RunRequest, type Workspace, WorkspaceSchema } from "../../../gen/claudecluster/v1/run_pb.js";
import { type Task, WorkerHealth } from "../../../gen/claudecluster/v1/router_pb.js";
import { ChangesFormat, UploadKind, type UploadWorkspaceRequest, UploadWorkspaceRequestSchema } from "../../../gen/claudecluster/v1/transfer_pb.js";
import { describe } from "../../common/errors.js";
import type { Logger } from "../../common/logger.js";
import type { Registry, WorkerEntry } from "../registry.js";
import type { UploadPlacements } from "../uploads.js";

const CHUNK_BYTES = 1024 * 1024;
const CARRY_TIMEOUT_MS = 120_000;

export interface CarryDeps {
  registry: Registry;
  uploads: UploadPlacements;
  /** Largest bundle carried (CC_MAX_CARRY_BYTES). */
  maxBytes: number;
  logger: Logger;
}

/**
 * Moves `earlier`'s recorded changes to the worker `req` will run on (its `worker_id`, else the least-loaded one
 * that matches its labels) and returns the workspace naming that upload, with `req.worker_id` set to its worker;
 * undefined when they cannot be carried (then the caller falls back to the same repository and ref).
 */
/** What continuing a task needs of it: its record and request, and whether it has ended. */
export interface EarlierTask {
  id: string;
  ended: boolean;
  record: Task;
  request: RunRequest;
}

export async function carryChanges(deps: CarryDeps, earlier: EarlierTask, req: RunRequest): Promise<Workspace | undefined> {
  const changes = earlier.record.exit?.changes;
  const origin = originOf(earlier);
  if (!changes?.finalCommit || changes.bundleBytes === 0n || changes.bundleBytes > BigInt(deps.maxBytes)) return undefined;
  if (changes.bundlePrerequisites.length > 0 && !origin) return undefined;
  const from = online(deps.registry, deps.registry.byId(earlier.record.workerId));
  const to = req.workerId ? online(deps.registry, deps.registry.byId(req.workerId)) : leastLoaded(deps.registry, req.labels);
  if (!from || !to) return undefined;
  const signal = AbortSignal.timeout(CARRY_TIMEOUT_MS);
  try {
    const parts: Uint8Array[] = [];
    let size = 0;
    for await (const chunk of from.client.getChanges({ taskId: earlier.id, format: ChangesFormat.BUNDLE }, { signal })) {
      if (chunk.part.case !== "data") continue;
      size += chunk.part.value.length;
      if (size > deps.maxBytes) return undefined;
      parts.push(chunk.part.value);
    }
    const bundle = Buffer.concat(parts);
    const header = { kind: UploadKind.GIT_BUNDLE, size: BigInt(bundle.length), sha256: createHash("sha256").update(bundle).digest("hex"), commit: changes.finalCommit };
    const answer = await to.client.uploadWorkspace(uploadMessages(header, bundle), { signal });
    deps.uploads.remember(answer.uploadId, to.id, answer.expiresAt ? timestampMs(answer.expiresAt) : Date.now() + 60_000);
    req.workerId = to.id;
    return create(WorkspaceSchema, { source: { case: "upload", value: { uploadId: answer.uploadId, ...(origin ? { origin } : {}) } } });
  } catch (err) {
    deps.logger.warn({ taskId: earlier.id, from: from.id, to: to.id, err: describe(err) }, "could not carry a task's recorded changes to the worker continuing its session");
    return undefined;
  }
}

async function* uploadMessages(header: { kind: UploadKind; size: bigint; sha256: string; commit: string }, bundle: Buffer): AsyncGenerator<UploadWorkspaceRequest> {
  yield create(UploadWorkspaceRequestSchema, { part: { case: "header", value: header } });
  for (let at = 0; at < bundle.length; at += CHUNK_BYTES) yield create(UploadWorkspaceRequestSchema, { part: { case: "chunk", value: bundle.subarray(at, at + CHUNK_BYTES) } });
}

/** The repository the task's commits were based on, with its token (kept in the request, never in the record). */
function originOf(earlier: EarlierTask): GitRepository | undefined {
  const source = earlier.request.workspace?.source;
  if (source?.case === "repository") return create(GitRepositorySchema, { url: source.value.url, ref: source.value.ref, token: source.value.token });
  if (source?.case === "upload" && source.value.origin?.url) return create(GitRepositorySchema, { url: source.value.origin.url, ref: source.value.origin.ref, token: source.value.origin.token });
  return undefined;
}

function online(registry: Registry, worker: WorkerEntry | undefined): WorkerEntry | undefined {
  return worker && registry.health(worker) === WorkerHealth.ONLINE ? worker : undefined;
}

function leastLoaded(registry: Registry, labels: Record<string, string>): WorkerEntry | undefined {
  const all = registry.candidates(labels);
  const load = (w: WorkerEntry) => registry.load(w) / Math.max(1, registry.capacity(w));
  return all.length === 0 ? undefined : all.reduce((best, w) => (load(w) < load(best) ? w : best));
}
