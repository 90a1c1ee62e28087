// Confinement of the files RPCs: `..`, absolute paths and symbolic links out of the workspace are refused (reading,
// listing, writing, and creating through a link's directory); links that stay inside work.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import { FileType } from "../../../gen/claudecluster/v1/transfer_pb.js";
import { listFiles, readWorkspaceFile, resolveInWorkspace, writeWorkspaceFile } from "./files.js";

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

function workspace() {
  const base = mkdtempSync(join(tmpdir(), "cc-files-"));
  dirs.push(base);
  const ws = join(base, "ws");
  const outside = join(base, "outside");
  mkdirSync(join(ws, "sub"), { recursive: true });
  mkdirSync(outside);
  writeFileSync(join(outside, "secret"), "outside");
  writeFileSync(join(ws, "sub", "a.txt"), "inside");
  symlinkSync(outside, join(ws, "out-dir"));
  symlinkSync(join(outside, "secret"), join(ws, "out-file"));
  symlinkSync("sub/a.txt", join(ws, "in-link"));
  return { ws, outside };
}

async function code(p: Promise<unknown>): Promise<[Code, string]> {
  try {
    await p;
  } catch (err) {
    return [(err as ConnectError).code, (err as ConnectError).rawMessage];
  }
  throw new Error("succeeded");
}

async function* bytes(...parts: string[]) {
  for (const p of parts) yield Buffer.from(p);
}

describe("workspace files", () => {
  it("refuses paths that leave the workspace, through '..', '/', or a symbolic link", async () => {
    const { ws } = workspace();
    expect(await code(resolveInWorkspace(ws, "../outside/secret"))).toEqual([Code.InvalidArgument, 'path: must stay inside the task\'s workspace: ".." is not allowed ("../outside/secret")']);
    expect(await code(resolveInWorkspace(ws, "/etc/passwd"))).toEqual([Code.InvalidArgument, 'path: must be relative to the task\'s workspace, not absolute ("/etc/passwd")']);
    expect(await code(readWorkspaceFile(ws, "out-file", 1000))).toEqual([Code.InvalidArgument, 'path: "out-file" leads out of the task\'s workspace through a symbolic link']);
    expect(await code(listFiles(ws, "out-dir", false))).toEqual([Code.InvalidArgument, 'path: "out-dir" leads out of the task\'s workspace through a symbolic link']);
    // Creating a file under a link to outside is refused as well: nothing lands there.
    const header = { taskId: "t", path: "out-dir/new.txt", name: "", type: FileType.FILE, size: 1n, mode: 0o644 } as never;
    expect((await code(writeWorkspaceFile(ws, header, bytes("x"), 1000)))[0]).toBe(Code.InvalidArgument);
  });

  it("reads, lists and writes inside, links included, within the size limit", async () => {
    const { ws, outside } = workspace();
    const { header, data } = await readWorkspaceFile(ws, "in-link", 1000);
    expect(header).toMatchObject({ type: FileType.FILE, size: 6n });
    const chunks: Buffer[] = [];
    for await (const c of data) chunks.push(c);
    expect(Buffer.concat(chunks).toString()).toBe("inside");
    const listing = await listFiles(ws, "", true);
    expect(listing.entries.map((e) => [e.name, FileType[e.type], e.linkTarget])).toEqual([
      ["in-link", "SYMLINK", "sub/a.txt"],
      ["out-dir", "SYMLINK", outside],
      ["out-file", "SYMLINK", join(outside, "secret")],
      ["sub", "DIRECTORY", ""],
    ]);
    expect(await code(readWorkspaceFile(ws, "sub/a.txt", 3))).toEqual([Code.ResourceExhausted, '"sub/a.txt" holds 6 bytes, over the worker\'s limit of 3 for one copy (CC_MAX_COPY_BYTES); copy less at a time']);
    const written = await writeWorkspaceFile(ws, { taskId: "t", path: "sub", name: "b.txt", type: FileType.FILE, size: 5n, mode: 0o600 } as never, bytes("he", "llo"), 1000);
    expect(written).toMatchObject({ path: "sub/b.txt", bytes: 5n, files: 1 });
    expect(readFileSync(join(ws, "sub", "b.txt"), "utf8")).toBe("hello");
    expect(await code(writeWorkspaceFile(ws, { taskId: "t", path: "c.txt", name: "", type: FileType.FILE, size: 5n, mode: 0 } as never, bytes("hi"), 1000))).toEqual([
      Code.InvalidArgument,
      "chunk: the copy ended after 2 of the 5 bytes the header announced (truncated)",
    ]);
    expect(existsSync(join(ws, "c.txt"))).toBe(false);
    // "dir/" names a directory, as cp takes it: one that is not there is not created as a file.
    expect((await code(writeWorkspaceFile(ws, { taskId: "t", path: "nodir/", name: "x", type: FileType.FILE, size: 1n, mode: 0 } as never, bytes("x"), 1000)))[0]).toBe(Code.NotFound);
    expect(existsSync(join(ws, "nodir"))).toBe(false);
  });
});
