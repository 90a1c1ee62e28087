// WorkerService.ListEnvironments and RemoveEnvironment: the worker's snapshots as `cc env` shows them.
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import { type EnvironmentSnapshot, EnvironmentSnapshotSchema } from "../../../gen/claudecluster/v1/environment_pb.js";
import type { WorkerService } from "../../../gen/claudecluster/v1/worker_pb.js";
import { invalidArgument, notFound } from "../../common/errors.js";
import type { Environments } from "./index.js";
import type { SnapshotInfo } from "./snapshot-cache.js";

export type EnvironmentMethod = "listEnvironments" | "removeEnvironment";

/** Shortest key prefix `cc env rm` accepts. */
export const MIN_KEY_PREFIX = 6;

export function environmentService(environments: Environments, workerId: string): Pick<ServiceImpl<typeof WorkerService>, EnvironmentMethod> {
  return {
    listEnvironments() {
      return { snapshots: environments.list().map((s) => snapshotMessage(s, workerId)), unreachable: [] };
    },
    removeEnvironment(req) {
      const key = req.key.trim().toLowerCase();
      if (key.length < MIN_KEY_PREFIX || !/^[0-9a-f]+$/.test(key)) throw invalidArgument("key", `must be a snapshot key, or at least ${MIN_KEY_PREFIX} of its first hex digits, as cc env ls shows it`);
      const matches = environments.list().filter((s) => s.key.startsWith(key));
      if (matches.length === 0) throw notFound(`environment snapshot ${key}`, "list them with cc env ls");
      if (matches.length > 1) throw invalidArgument("key", `${key} matches ${matches.length} snapshots (${matches.map((m) => m.key.slice(0, 12)).join(", ")}); give more of the key`);
      const found = matches[0]!;
      environments.remove(found.key);
      return { removed: [snapshotMessage(found, workerId)] };
    },
  };
}

export function snapshotMessage(s: SnapshotInfo, workerId: string): EnvironmentSnapshot {
  return create(EnvironmentSnapshotSchema, {
    key: s.key,
    repository: s.repository,
    workerId,
    sizeBytes: BigInt(s.bytes),
    createdAt: timestampFromMs(s.createdAt),
    lastUsedAt: timestampFromMs(s.lastUsedAt),
    expiresAt: timestampFromMs(s.expiresAt),
    uses: s.uses,
    taskId: s.taskId,
  });
}
