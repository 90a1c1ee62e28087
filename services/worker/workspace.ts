// Task workspaces always lie under the workspace root. A fresh task gets <root>/.tasks/<task id>, which no request
// can name; a named directory is <root>/<name> ("." is the root), shared by the tasks that name it. Names are validated in the request, and the resolved real
// path is checked again so a symlink cannot lead out of the root.
import { mkdirSync, realpathSync } from "node:fs";
import { join, sep } from "node:path";
import type { Workspace } from "../../gen/claudecluster/v1/run_pb.js";
import { invalidArgument } from "../common/errors.js";

export function prepareWorkspace(root: string, taskId: string, workspace: Workspace | undefined): string {
  mkdirSync(root, { recursive: true });
  const realRoot = realpathSync(root);
  const dir = workspace?.source.case === "directory" ? join(realRoot, workspace.source.value) : join(realRoot, ".tasks", taskId);
  mkdirSync(dir, { recursive: true });
  const real = realpathSync(dir);
  if (real !== realRoot && !real.startsWith(realRoot + sep)) {
    throw invalidArgument("workspace.directory", "resolves outside the worker's workspace root");
  }
  return real;
}
