// Task workspaces always lie under the workspace root. A fresh task gets <root>/.tasks/<task id>, which no request
// can name; a named directory is <root>/<name> ("." is the root), shared by the tasks that name it. Names are validated
// in the request, and the resolved real path is checked again so a symlink cannot lead out of the root. A repository
// is cloned (an upload unpacked) into a fresh task directory, which must not exist yet (git clones only into an empty directory, and a
// reused task id must not see or destroy an earlier task's work); it is removed again if the clone fails.
import { mkdirSync, realpathSync, rmSync } from "node:fs";
import { join, sep } from "node:path";
import type { Workspace } from "../../gen/claudecluster/v1/run_pb.js";
import { failedPrecondition, invalidArgument } from "../common/errors.js";

export function prepareWorkspace(root: string, taskId: string, workspace: Workspace | undefined): string {
  mkdirSync(root, { recursive: true });
  const realRoot = realpathSync(root);
  const source = workspace?.source.case;
  const field = source === "repository" ? "workspace.repository" : source === "upload" ? "workspace.upload" : "workspace.directory";
  let dir: string;
  if (source === "directory") {
    dir = join(realRoot, workspace!.source.value as string);
    mkdirSync(dir, { recursive: true });
  } else {
    // .tasks itself must be the root's own directory, not a symlink a task planted, before anything is made in it.
    const tasks = join(realRoot, ".tasks");
    mkdirSync(tasks, { recursive: true });
    if (realpathSync(tasks) !== tasks) throw invalidArgument(field, "resolves outside the worker's workspace root");
    dir = join(tasks, taskId);
    if (source === "repository" || source === "upload") {
      try {
        mkdirSync(dir);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "EEXIST") {
          throw failedPrecondition(`the workspace of task ${taskId} already exists; a repository or an upload goes into a new directory, so use a new task id`);
        }
        throw err;
      }
    } else {
      mkdirSync(dir, { recursive: true });
    }
  }
  const real = realpathSync(dir);
  if (!isUnder(real, realRoot)) throw invalidArgument(field, "resolves outside the worker's workspace root");
  return real;
}

/**
 * The directories of `agent.add_dirs` (validated names under the root), created if missing, as real paths; one
 * that resolves outside the root (a symlink) is refused.
 */
export function prepareExtraDirectories(root: string, dirs: readonly string[]): string[] {
  if (dirs.length === 0) return [];
  mkdirSync(root, { recursive: true });
  const realRoot = realpathSync(root);
  return dirs.map((name, i) => {
    const dir = join(realRoot, name);
    mkdirSync(dir, { recursive: true });
    const real = realpathSync(dir);
    if (!isUnder(real, realRoot)) throw invalidArgument(`agent.add_dirs[${i}]`, "resolves outside the worker's workspace root");
    return real;
  });
}

/** Removes a fresh task directory (a failed clone's); refuses anything that is not <root>/.tasks/<id>. */
export function removeTaskWorkspace(root: string, dir: string): void {
  const tasks = join(realpathSync(root), ".tasks");
  const name = dir.startsWith(tasks + sep) ? dir.slice(tasks.length + 1) : "";
  if (name === "" || name.includes(sep)) throw new Error(`not a task workspace: ${dir}`);
  rmSync(dir, { recursive: true, force: true });
}

function isUnder(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir + sep);
}
