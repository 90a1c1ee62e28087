// A snapshot of a git checkout as it is on disk: HEAD plus what is staged, what is not, and untracked files that are
// not ignored, as one commit — without touching the user's index, stash, branches or work tree. git does it over a
// temporary index: a copy of the real index (so that files added with `add -f` stay in), then `git add --all` into
// it, `git write-tree`, and `git commit-tree` with HEAD as parent. The commit's objects land in the repository's
// object store, unreferenced (git's gc removes them after its grace period); nothing else changes.
import { copyFile, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { isAbsolute, join } from "node:path";
import { git } from "./git.js";

export interface Snapshot {
  /** The top of the work tree. */
  top: string;
  /** HEAD's commit; "" in a repository without commits. */
  head: string;
  /** The commit that holds the checkout as it is: HEAD itself when nothing is uncommitted. */
  commit: string;
  /** `commit` was made by cc (uncommitted work, or a repository without commits): its parents are the checkout's. */
  synthetic: boolean;
  /** A shallow clone's boundary commits (.git/shallow). */
  shallow: string[];
  /** The branch checked out, if any. */
  branch: string;
}

export const SNAPSHOT_MESSAGE = "cc: snapshot of the checkout as uploaded (uncommitted and untracked files)\n";

/** The identity of the snapshot commit: the user's when git knows it, else a neutral one. */
async function identityEnv(top: string): Promise<Record<string, string>> {
  const name = (await git(["config", "user.name"], { cwd: top, allowFailure: true })).stdout.trim();
  const email = (await git(["config", "user.email"], { cwd: top, allowFailure: true })).stdout.trim();
  const env: Record<string, string> = {};
  if (!name) Object.assign(env, { GIT_AUTHOR_NAME: "cc", GIT_COMMITTER_NAME: "cc" });
  if (!email) Object.assign(env, { GIT_AUTHOR_EMAIL: "cc@localhost", GIT_COMMITTER_EMAIL: "cc@localhost" });
  return env;
}

export async function snapshotCheckout(top: string): Promise<Snapshot> {
  const run = (args: string[], extra: { env?: Record<string, string>; input?: string } = {}) => git(args, { cwd: top, ...extra }).then((r) => r.stdout.trim());
  const head = (await git(["rev-parse", "--verify", "--quiet", "HEAD^{commit}"], { cwd: top, allowFailure: true })).stdout.trim();
  const branch = (await git(["symbolic-ref", "--quiet", "--short", "HEAD"], { cwd: top, allowFailure: true })).stdout.trim();
  const gitPath = async (name: string) => {
    const p = await run(["rev-parse", "--git-path", name]);
    return isAbsolute(p) ? p : join(top, p);
  };
  const temp = await mkdtemp(join(tmpdir(), "cc-snapshot-"));
  try {
    const index = join(temp, "index");
    await copyFile(await gitPath("index"), index).catch(() => {
      // No index yet (a fresh repository): git starts an empty one.
    });
    const withIndex = { GIT_INDEX_FILE: index };
    await run(["add", "--all", "--", "."], { env: withIndex });
    const tree = await run(["write-tree"], { env: withIndex });
    const headTree = head ? await run(["rev-parse", `${head}^{tree}`]) : "";
    let commit = head;
    if (!head || tree !== headTree) {
      const env = { ...withIndex, ...(await identityEnv(top)) };
      commit = await run(["commit-tree", "--no-gpg-sign", tree, ...(head ? ["-p", head] : []), "-F", "-"], { env, input: SNAPSHOT_MESSAGE });
    }
    const shallowFile = await gitPath("shallow");
    const shallow = head
      ? (await readFile(shallowFile, "utf8").catch(() => ""))
          .split("\n")
          .map((l) => l.trim())
          .filter(Boolean)
      : [];
    return { top, head, commit, synthetic: commit !== head, shallow, branch };
  } finally {
    await rm(temp, { recursive: true, force: true });
  }
}
