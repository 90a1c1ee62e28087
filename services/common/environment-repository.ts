// Which repository a task's environment snapshot belongs to: the worker keys its snapshots by it, workers report
// the ones they hold (WorkerInfo.environment_repositories) and the router places a task where its repository's
// snapshot is. One definition, so that the three agree.
import type { RunRequest } from "../../gen/claudecluster/v1/run_pb.js";

/** The URL of the task's repository (validated to carry no credentials), "upload" for an upload without an origin, or undefined for no repository. */
export function environmentRepositoryOf(req: RunRequest): string | undefined {
  const source = req.workspace?.source;
  if (source?.case === "repository") return source.value.url;
  if (source?.case === "upload") return source.value.origin?.url || "upload";
  return undefined;
}
