// What the worker keeps for the work to come back, built from its settings: uploads waiting for their tasks
// (services/worker/upload), the changes of tasks in git workspaces (services/worker/changes), and which workspace
// each task used, kept and reclaimed (services/worker/workspaces). The runner and the transfer RPCs share them.
import type { RetentionInfo } from "../../gen/claudecluster/v1/worker_pb.js";
import { RetentionInfoSchema } from "../../gen/claudecluster/v1/worker_pb.js";
import { create } from "@bufbuild/protobuf";
import type { Logger } from "../common/logger.js";
import { ChangesStore } from "./changes/store.js";
import { TaskChanges } from "./changes/task-changes.js";
import type { WorkerSettings } from "./settings.js";
import { UploadStaging } from "./upload/staging.js";
import { WorkspaceRetention } from "./workspaces/retention.js";

export interface WorkerTransfers {
  uploads: UploadStaging;
  store: ChangesStore;
  changes: TaskChanges;
  retention: WorkspaceRetention;
  info(): RetentionInfo;
  close(): void;
}

export function createTransfers(settings: WorkerSettings, env: NodeJS.ProcessEnv, logger: Logger): WorkerTransfers {
  const uploads = new UploadStaging({
    dir: settings.uploadDir,
    maxUploadBytes: settings.maxUploadBytes,
    maxStagedBytes: settings.uploadStagingBytes,
    ttlMs: settings.uploadTtlMs,
    workerId: settings.workerId,
    logger,
  });
  const store = new ChangesStore({ dir: settings.changesDir, retainAgeMs: settings.changesRetainAgeMs, retainBytes: settings.changesRetainBytes, logger });
  const changes = new TaskChanges({
    store,
    env,
    author: settings.gitAuthor,
    timeoutMs: settings.changesTimeoutMs,
    pushTimeoutMs: settings.pushTimeoutMs,
    maxBytes: settings.maxChangesBytes,
    logger,
  });
  const retention = new WorkspaceRetention({ root: settings.workspaceRoot, retainAgeMs: settings.workspaceRetainAgeMs, retainBytes: settings.workspaceRetainBytes, logger });
  return {
    uploads,
    store,
    changes,
    retention,
    info() {
      const kept = retention.info();
      return create(RetentionInfoSchema, {
        workspaces: kept.workspaces,
        workspaceBytes: BigInt(kept.bytes),
        workspaceBytesLimit: BigInt(settings.workspaceRetainBytes),
        workspaceAgeLimitSeconds: BigInt(Math.round(settings.workspaceRetainAgeMs / 1000)),
        workspacesReclaimed: BigInt(kept.reclaimed),
        changes: store.count,
        changesBytes: BigInt(store.bytes),
        changesBytesLimit: BigInt(settings.changesRetainBytes),
        uploads: uploads.count,
        uploadBytes: BigInt(uploads.bytes),
      });
    },
    close() {
      uploads.close();
      store.close();
      retention.close();
    },
  };
}
