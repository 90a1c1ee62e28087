// Recording what a task changed in its git workspace, once claude and everything it started are gone.
//
// The workspace's own .git is claude's: its config could name hooks, filters, an fsmonitor or a textconv that git
// would run, and the worker's git runs outside any sandbox. So the worker reads the workspace through a git directory
// of its own (`repo.git` in the task's changes directory): the workspace's objects are reachable through
// `objects/info/alternates`, its shallow boundary is copied, and only the worker's config is in force. There:
//   1. the task's last commit is claude's HEAD (its own commits), or the base when HEAD is gone or unborn;
//   2. a temporary index is read from that commit and `git add -A` over the work tree puts in what claude left
//      uncommitted, untracked files included (ignored ones are not: the workspace's .gitignore files apply);
//   3. if that tree differs from the commit's, one more commit holds it (GitPush.author and message, or defaults);
//   4. the patch is `git diff --binary --full-index -M` from base to final (binary-safe, for `git apply --3way`);
//      the bundle holds refs/heads/cc/<task id> at final, without what the receiving checkout has already;
//   5. with a push asked for, final is pushed to the origin as refs/heads/<branch>, never forced.
// Nothing in the workspace is changed. The worker's git directory is removed at the end; the patch, the bundle and
// the summary stay (services/worker/changes/store.ts).
import { existsSync, statSync } from "node:fs";
import { copyFile, mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { type ChangesSummary, ChangesSummarySchema, type GitPush, PushResultSchema } from "../../../gen/claudecluster/v1/run_pb.js";
import { describe } from "../../common/errors.js";
import { gitCommand, GitCommandError } from "../git-command.js";
import { gitConfigArgs, gitEnv, scrub } from "../repo-clone.js";
import { readBundleHeader } from "../upload/bundle-header.js";
import { parseIdentity } from "../upload/unpack.js";
import { compareUrl } from "./compare-url.js";
import { fileChanges } from "./diff-summary.js";

/** How many files a summary lists; the rest are counted in files_total. */
export const MAX_SUMMARY_FILES = 500;

/** What the task started from, known once its workspace was prepared. */
export interface ChangesStart {
  taskId: string;
  workspace: string;
  /** The commit the task started from; "" for an empty repository. */
  base: string;
  /** `base` is a snapshot cc made of uncommitted work: the bundle then leaves out its parents rather than it. */
  snapshot: boolean;
  /** Where a push goes, and the branch the task started from ("" when unknown). */
  origin?: { url: string; token: string; branch: string } | undefined;
  push?: GitPush | undefined;
  /** The start of the prompt, for the default commit message. */
  prompt: string;
}

export interface RecordOptions {
  /** An empty directory for this task's records. */
  dir: string;
  env: NodeJS.ProcessEnv;
  extraEnv: Record<string, string>;
  /** CC_GIT_AUTHOR. */
  author: string;
  /** Epoch ms by which recording (and pushing) must be done. */
  deadline: number;
  /** Push is bounded separately (CC_PUSH_TIMEOUT). */
  pushTimeoutMs: number;
  /** Largest patch or bundle kept (CC_MAX_CHANGES_BYTES). */
  maxBytes: number;
}

export interface RecordedChanges {
  summary: ChangesSummary;
  /** Files in `dir` (absent when nothing changed, or when over the limit). */
  patch?: string;
  bundle?: string;
}

export const PATCH_FILE = "changes.patch";
export const BUNDLE_FILE = "changes.bundle";

export function defaultCommitMessage(taskId: string, prompt: string): string {
  const summary = [...prompt.trim()].slice(0, 200).join("");
  return `cc: work of task ${taskId}${summary ? `\n\n${summary}` : ""}\n`;
}

/** Records the task's changes into `o.dir`. Never throws: what went wrong is the summary's `error`. */
export async function recordChanges(start: ChangesStart, o: RecordOptions): Promise<RecordedChanges> {
  const branch = `cc/${start.taskId}`;
  const summary = create(ChangesSummarySchema, { baseCommit: start.base, branch });
  const home = await mkdtemp(join(tmpdir(), "cc-git-home-"));
  const repo = join(o.dir, "repo.git");
  const env = gitEnv(o.env, { home, token: "", extra: o.extraEnv });
  const git = (args: string[], extra: { stdin?: string; stdoutFile?: string; env?: Record<string, string>; cwd?: string } = {}) =>
    gitCommand(args, { cwd: extra.cwd ?? o.dir, env: { ...env, ...extra.env }, deadline: o.deadline, ...(extra.stdin !== undefined ? { stdin: extra.stdin } : {}), ...(extra.stdoutFile ? { stdoutFile: extra.stdoutFile } : {}) });
  const inRepo = (args: string[], extra: Parameters<typeof git>[1] = {}) => git([`--git-dir=${repo}`, ...args], extra);
  const out: RecordedChanges = { summary };
  try {
    const objects = join(start.workspace, ".git", "objects");
    if (!isDirectory(objects)) {
      summary.error = "the workspace has no .git directory any more, so its changes could not be recorded";
      return out;
    }
    await git(["init", "--quiet", "--bare", repo]);
    await writeFile(join(repo, "objects", "info", "alternates"), `${objects}\n`);
    const shallow = join(start.workspace, ".git", "shallow");
    if (existsSync(shallow)) await copyFile(shallow, join(repo, "shallow"));

    const emptyTree = (await inRepo(["mktree"], { stdin: "" })).trim();
    const head = await claudeHead(start, git, inRepo);
    const index = join(o.dir, "index");
    const withIndex = { GIT_INDEX_FILE: index };
    await inRepo(head ? ["read-tree", head] : ["read-tree", "--empty"], { env: withIndex });
    await inRepo([`--work-tree=${start.workspace}`, "add", "--all", "--", "."], { env: withIndex, cwd: start.workspace });
    const tree = (await inRepo(["write-tree"], { env: withIndex })).trim();
    const headTree = head ? (await inRepo(["rev-parse", `${head}^{tree}`])).trim() : emptyTree;
    await rm(index, { force: true });

    let final = head;
    if (tree !== headTree) {
      const identity = parseIdentity(start.push?.author || o.author) ?? { name: "ClaudeCluster", email: "claudecluster@localhost" };
      const message = start.push?.message || defaultCommitMessage(start.taskId, start.prompt);
      const who = { GIT_AUTHOR_NAME: identity.name, GIT_AUTHOR_EMAIL: identity.email, GIT_COMMITTER_NAME: identity.name, GIT_COMMITTER_EMAIL: identity.email };
      final = (await inRepo(["commit-tree", tree, ...(head ? ["-p", head] : []), "-F", "-"], { env: who, stdin: message })).trim();
    }
    summary.finalCommit = final;
    if (head) summary.commits = Number((await inRepo(["rev-list", "--count", head, ...(start.base ? [`^${start.base}`] : [])])).trim()) - 0;
    if (final === start.base || final === "") return out;

    const from = start.base || emptyTree;
    const diff = ["-c", "diff.renames=true", "diff", "--no-textconv", "--no-ext-diff", "--no-color", "-M"];
    const files = fileChanges(await inRepo([...diff, "--name-status", "-z", from, final]), await inRepo([...diff, "--numstat", "-z", from, final]));
    await addSizes(files, from, final, inRepo);
    summary.filesTotal = files.length;
    summary.files = files.slice(0, MAX_SUMMARY_FILES);
    for (const f of files) {
      summary.insertions += BigInt(f.insertions);
      summary.deletions += BigInt(f.deletions);
    }

    const patch = join(o.dir, PATCH_FILE);
    await inRepo([...diff, "--binary", "--full-index", from, final], { stdoutFile: patch });
    summary.patchBytes = BigInt((await stat(patch)).size);
    if (summary.patchBytes > BigInt(o.maxBytes)) {
      await rm(patch, { force: true });
      summary.error = `the patch is ${summary.patchBytes} bytes, over the worker's limit of ${o.maxBytes} (CC_MAX_CHANGES_BYTES); it was not kept (copy files with cc cp while the workspace is kept)`;
    } else out.patch = patch;

    await inRepo(["update-ref", `refs/heads/${branch}`, final]);
    const exclude = start.base ? (start.snapshot ? (await inRepo(["rev-parse", `${start.base}^@`])).split("\n").filter(Boolean) : [start.base]) : [];
    const bundle = join(o.dir, BUNDLE_FILE);
    await inRepo(["bundle", "create", "--quiet", bundle, `refs/heads/${branch}`, ...exclude.map((c) => `^${c}`)]);
    const size = (await stat(bundle)).size;
    summary.bundlePrerequisites = (await readBundleHeader(bundle))?.prerequisites ?? exclude;
    if (size > o.maxBytes) {
      await rm(bundle, { force: true });
      summary.error ||= `the bundle is ${size} bytes, over the worker's limit of ${o.maxBytes} (CC_MAX_CHANGES_BYTES); it was not kept`;
    } else {
      summary.bundleBytes = BigInt(size);
      out.bundle = bundle;
    }

    if (start.push) summary.push = await push(start, final, { ...o, repo, home, extraEnv: o.extraEnv });
    return out;
  } catch (err) {
    summary.error = `recording the changes failed: ${err instanceof GitCommandError ? (err.kind === "timeout" ? "it took longer than CC_CHANGES_TIMEOUT" : err.detail) : describe(err)}`;
    delete out.patch;
    delete out.bundle;
    return out;
  } finally {
    await rm(repo, { recursive: true, force: true });
    await rm(home, { recursive: true, force: true });
  }
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

type Git = (args: string[], extra?: { stdin?: string; stdoutFile?: string; env?: Record<string, string>; cwd?: string }) => Promise<string>;

/**
 * claude's HEAD commit, read with the workspace's git directory (rev-parse runs nothing a config could name), and
 * accepted only if the worker's own git directory can read it. The base when there is none (unborn, or .git broken).
 */
async function claudeHead(start: ChangesStart, git: Git, inRepo: Git): Promise<string> {
  try {
    const head = (await git([`--git-dir=${join(start.workspace, ".git")}`, "rev-parse", "--verify", "--quiet", "HEAD^{commit}"])).trim();
    if (!/^[0-9a-f]{40,64}$/.test(head)) return start.base;
    await inRepo(["cat-file", "-e", `${head}^{commit}`]);
    return head;
  } catch {
    return start.base;
  }
}

/** Sizes of binary files, before and after, from `git cat-file --batch-check`. */
async function addSizes(files: ReturnType<typeof fileChanges>, from: string, final: string, inRepo: Git): Promise<void> {
  const binary = files.filter((f) => f.binary && !f.path.includes("\n") && !f.oldPath.includes("\n")).slice(0, MAX_SUMMARY_FILES);
  if (binary.length === 0) return;
  const queries = binary.flatMap((f) => [`${from}:${f.oldPath || f.path}`, `${final}:${f.path}`]);
  const lines = (await inRepo(["cat-file", "--batch-check=%(objectsize)"], { stdin: queries.join("\n") + "\n" })).split("\n");
  binary.forEach((f, i) => {
    const before = Number(lines[2 * i]);
    const after = Number(lines[2 * i + 1]);
    if (Number.isFinite(before)) f.oldSize = BigInt(before);
    if (Number.isFinite(after)) f.newSize = BigInt(after);
  });
}

/** Pushes `final` to the origin as refs/heads/<branch>; never forced. */
async function push(
  start: ChangesStart,
  final: string,
  o: RecordOptions & { repo: string; home: string },
): Promise<ReturnType<typeof create<typeof PushResultSchema>>> {
  const origin = start.origin;
  const branch = start.push?.branch || `cc/${start.taskId}`;
  const result = create(PushResultSchema, { url: origin?.url ?? "", branch });
  if (!origin?.url) {
    result.error = "the task has no repository to push to (push needs workspace.repository, or workspace.upload.origin)";
    return result;
  }
  const env = gitEnv(o.env, { home: o.home, token: origin.token, extra: o.extraEnv });
  try {
    await gitCommand([`--git-dir=${o.repo}`, ...gitConfigArgs(origin.url, origin.token !== ""), "push", "--porcelain", "--", origin.url, `${final}:refs/heads/${branch}`], {
      env,
      deadline: Math.min(o.deadline, Date.now() + o.pushTimeoutMs),
    });
    result.commit = final;
    result.compareUrl = compareUrl(origin.url, branch, origin.branch && origin.branch !== branch ? origin.branch : "");
  } catch (err) {
    if (err instanceof GitCommandError) {
      const rejected = /^!\t[^\t]*\t(.*)$/m.exec(err.stdout)?.[1];
      const why = err.kind === "timeout" ? "it took longer than CC_PUSH_TIMEOUT" : rejected ? `${rejected}${/non-fast-forward|fetch first/.test(rejected) ? "; the branch moved on, and a push is never forced: push to another branch" : ""}` : err.detail;
      result.error = scrub(`pushing ${branch} to ${origin.url} failed: ${why}`, origin.token);
    } else result.error = scrub(`pushing ${branch} failed: ${describe(err)}`, origin.token);
  }
  return result;
}
