import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { WorkspaceSchema } from "../../gen/claudecluster/v1/run_pb.js";
import { prepareWorkspace } from "./workspace.js";

const directory = (value: string) => create(WorkspaceSchema, { source: { case: "directory", value } });

describe("prepareWorkspace", () => {
  let root: string;
  beforeEach(() => {
    root = realpathSync(mkdtempSync(join(tmpdir(), "cc-workspace-test-")));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it("a fresh task gets .tasks/<id>; a named directory is shared", () => {
    expect(prepareWorkspace(root, "t1", undefined)).toBe(join(root, ".tasks", "t1"));
    expect(prepareWorkspace(root, "t2", directory("proj/a"))).toBe(join(root, "proj", "a"));
  });

  it("the root itself only where the worker allows it", () => {
    expect(() => prepareWorkspace(root, "t1", directory("."))).toThrow(/workspace.directory: "." is the workspace root, which holds every task's workspace/);
    expect(prepareWorkspace(root, "t1", directory("."), true)).toBe(root);
  });

  it("a symlink a task planted cannot lead to the root, into another task's workspace, or out of the root", () => {
    mkdirSync(join(root, ".tasks", "victim"), { recursive: true });
    mkdirSync(join(root, "shared"));
    symlinkSync(join(root, ".tasks", "victim"), join(root, "shared", "to-victim"));
    symlinkSync(join(root, ".tasks"), join(root, "shared", "to-tasks"));
    symlinkSync(root, join(root, "shared", "to-root"));
    symlinkSync("/etc", join(root, "shared", "to-etc"));
    for (const name of ["to-victim", "to-tasks", "to-root"]) {
      expect(() => prepareWorkspace(root, "t1", directory(`shared/${name}`), true), name).toThrow(/resolves to the workspace root or another task's workspace/);
    }
    expect(() => prepareWorkspace(root, "t1", directory("shared/to-etc"))).toThrow(/resolves outside the worker's workspace root/);
  });
});
