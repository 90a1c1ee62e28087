// Cache-aware placement: a task on a repository goes, among the workers free to take it, to one that holds an
// environment snapshot of that repository (WorkerInfo.environment_repositories), where its setup need not run.
import type { RunRequest } from "../../gen/claudecluster/v1/run_pb.js";
import { environmentRepositoryOf } from "../common/environment-repository.js";
import type { WorkerEntry } from "./registry.js";

/** Whether a worker holds the task's environment snapshot; undefined when the task has no repository (no preference). */
export function holdsEnvironmentOf(req: RunRequest): ((worker: WorkerEntry) => boolean) | undefined {
  const repository = environmentRepositoryOf(req);
  if (repository === undefined || req.noCache) return undefined;
  return (worker) => worker.info?.environmentRepositories.includes(repository) ?? false;
}
