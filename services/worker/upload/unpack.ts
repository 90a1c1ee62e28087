// Unpacking an upload into its task's fresh, empty workspace, before claude starts.
//
// A git bundle becomes a repository on the branch `cc/<task id>` at the header's commit:
//   git init --initial-branch=cc/<task id>; user.name/email set for claude's own commits (CC_GIT_AUTHOR);
//   a shallow clone's boundary written to .git/shallow, so its history ends where the checkout's did;
//   a bundle with prerequisites (it holds only what the checkout's origin lacks): those commits fetched from
//     `workspace.upload.origin`, one level deep;
//   git fetch from the bundle into refs/heads/cc/<task id>; git reset --hard to check it out.
// Submodules arrive as gitlinks (the commit each points at), their directories empty: nothing of a submodule's own
// repository is in the bundle. Git LFS files arrive as their pointer files: the worker's git has no LFS filter.
//
// A tarball is unpacked with services/common/tar.ts (no git repository: such a task has no recorded changes).
import { createReadStream } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createGunzip } from "node:zlib";
import { UploadKind } from "../../../gen/claudecluster/v1/transfer_pb.js";
import type { GitRepository } from "../../../gen/claudecluster/v1/run_pb.js";
import { failedPrecondition, invalidArgument } from "../../common/errors.js";
import { extractTar, TarFormatError, TarLimitError } from "../../common/tar.js";
import { gitCommand, GitCommandError } from "../git-command.js";
import { gitConfigArgs, gitEnv, scrub } from "../repo-clone.js";
import type { StagedUpload } from "./staging.js";

export interface UnpackOptions {
  /** The task's fresh, empty workspace. */
  dir: string;
  taskId: string;
  /** workspace.upload.origin, if the request named one. */
  origin: GitRepository | undefined;
  /** The worker's environment (proxies, CA files, ssh agent are taken from it). */
  env: NodeJS.ProcessEnv;
  /** Variables every git process carries (the task's process marker). */
  extraEnv: Record<string, string>;
  /** Identity of commits made in the workspace, `Name <email>`. */
  author: string;
  timeoutMs: number;
  signal: AbortSignal;
  /** An archive's files may add up to at most this. */
  maxUnpackedBytes: number;
  onProgress: (detail: string) => void;
}

export interface UnpackedWorkspace {
  /** The commit checked out; empty for a tarball. */
  commit: string;
}

/** Splits `Name <email>` (as CC_GIT_AUTHOR and GitPush.author are written). */
export function parseIdentity(text: string): { name: string; email: string } | undefined {
  const m = /^\s*([^<>\n]*?)\s*<([^<>\s]+)>\s*$/.exec(text);
  if (!m || m[1] === "") return undefined;
  return { name: m[1]!, email: m[2]! };
}

/** Unpacks `upload` into `options.dir`. Fails with a ConnectError saying what went wrong; the caller removes the directory. */
export async function unpackUpload(upload: StagedUpload, options: UnpackOptions): Promise<UnpackedWorkspace> {
  if (upload.header.kind === UploadKind.TARBALL) {
    options.onProgress(`unpacking the uploaded archive (${upload.size} bytes)`);
    try {
      const { files, bytes } = await extractTar(createReadStream(upload.file).pipe(createGunzip()), options.dir, { maxBytes: options.maxUnpackedBytes });
      options.onProgress(`unpacked ${files} files (${bytes} bytes)`);
    } catch (err) {
      if (err instanceof TarLimitError) throw invalidArgument("upload", `${err.message}, over the limit of 4 times CC_MAX_UPLOAD_BYTES`);
      if (err instanceof TarFormatError) throw invalidArgument("upload", err.message);
      if ((err as NodeJS.ErrnoException).code === "Z_DATA_ERROR" || (err as NodeJS.ErrnoException).code === "Z_BUF_ERROR") {
        throw invalidArgument("upload", "the archive is not valid gzip data");
      }
      throw err;
    }
    return { commit: "" };
  }
  return unpackBundle(upload, options);
}

async function unpackBundle(upload: StagedUpload, o: UnpackOptions): Promise<UnpackedWorkspace> {
  const { header, bundle } = upload;
  const branch = `cc/${o.taskId}`;
  const identity = parseIdentity(o.author) ?? { name: "ClaudeCluster", email: "claudecluster@localhost" };
  const home = await mkdtemp(join(tmpdir(), "cc-git-home-"));
  const deadline = Date.now() + o.timeoutMs;
  const local = { ...gitEnv(o.env, { home, token: "", extra: o.extraEnv }), GIT_ALLOW_PROTOCOL: "file" };
  const git = (args: string[], env: Record<string, string> = local) => gitCommand(args, { cwd: o.dir, env, deadline, signal: o.signal });
  try {
    o.onProgress(`unpacking the uploaded checkout (${upload.size} bytes)`);
    await git(["init", "--quiet", `--initial-branch=${branch}`]);
    await git(["config", "user.name", identity.name]);
    await git(["config", "user.email", identity.email]);
    if (header.shallow.length > 0) await writeFile(join(o.dir, ".git", "shallow"), header.shallow.join("\n") + "\n");
    const prerequisites = bundle?.prerequisites ?? [];
    if (prerequisites.length > 0) {
      const origin = o.origin;
      if (!origin?.url) {
        throw failedPrecondition(
          `the uploaded bundle needs ${prerequisites.length} commit(s) it does not hold (${prerequisites[0]!.slice(0, 12)}…); name the repository they come from in workspace.upload.origin (cc run --repo URL --upload)`,
        );
      }
      o.onProgress(`fetching ${prerequisites.length} base commit(s) from ${origin.url}`);
      const remote = gitEnv(o.env, { home, token: origin.token, extra: o.extraEnv });
      await git([...gitConfigArgs(origin.url, origin.token !== ""), "fetch", "--quiet", "--depth=1", "--no-tags", "--", origin.url, ...prerequisites], remote).catch((err: unknown) => {
        if (err instanceof GitCommandError && err.kind === "exit") {
          throw failedPrecondition(scrub(`fetching the upload's base commit(s) from ${origin.url} failed: ${err.detail}`, origin.token));
        }
        throw err;
      });
    }
    const ref = bundle?.refs.find((r) => r.commit === header.commit)?.name ?? header.commit;
    await git(["fetch", "--quiet", "--update-head-ok", "--no-tags", "--", upload.file, `${ref}:refs/heads/${branch}`]);
    await git(["reset", "--quiet", "--hard"]);
    o.onProgress(`unpacked the checkout at ${header.commit.slice(0, 12)} on branch ${branch}`);
    return { commit: header.commit };
  } catch (err) {
    if (err instanceof GitCommandError) throw err.toConnectError("unpacking the uploaded checkout");
    throw err;
  } finally {
    await rm(home, { recursive: true, force: true });
  }
}
