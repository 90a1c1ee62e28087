// `cc apply`: a task's recorded changes into the current checkout, the way git would do it by hand.
//   1. The checkout must be a git work tree that has the commit(s) the task started from (the bundle's
//      prerequisites: the uploaded checkout's HEAD, or the commit cloned); otherwise it is unrelated and refused.
//   2. The bundle is fetched into the repository's objects (`git bundle unbundle`: no ref changes), so that every
//      blob the patch names is there for a three-way merge.
//   3. --branch NAME: `git fetch <bundle> refs/heads/cc/<task>:refs/heads/NAME`; the work tree is left alone.
//      Otherwise the patch: `git apply --binary` when it applies cleanly to the work tree (nothing is staged), else
//      `git apply --3way`, which merges into the index and work tree and leaves git's conflict state (markers, and
//      the file unmerged in the index) where both sides changed the same lines. git refuses, changing nothing, when
//      a file the patch touches has unstaged local changes.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TaskStatus } from "../../../gen/claudecluster/v1/router_pb.js";
import type { ChangesSummary } from "../../../gen/claudecluster/v1/run_pb.js";
import { ExitCode } from "../../exit-codes.js";
import type { RouterClient } from "../client.js";
import { CliError } from "../errors.js";
import type { CommandIO } from "../io.js";
import { styleFor } from "../style.js";
import { git, lastLine, workTreeTop } from "../checkout/git.js";
import { statSummaryLine } from "./diff.js";
import { ChangesFormat, downloadToFile } from "./download.js";

export interface ApplyOptions {
  client: Pick<RouterClient, "getTask" | "getChanges">;
  io: Pick<CommandIO, "stdout" | "stderr" | "env">;
  taskId: string;
  /** Where cc runs. */
  cwd: string;
  /** Fetch the task's commits as this branch instead of applying the patch. */
  branch?: string | undefined;
}

/** The task's recorded changes, or a CliError saying why there are none to apply. */
export async function recordedChanges(client: Pick<RouterClient, "getTask">, taskId: string): Promise<ChangesSummary> {
  const task = await client.getTask({ taskId });
  if (task.status === TaskStatus.QUEUED || task.status === TaskStatus.RUNNING) {
    throw new CliError(`task ${taskId} is still running; its changes are recorded when it ends (follow it with \`cc attach ${taskId}\`)`, ExitCode.Refused);
  }
  const changes = task.exit?.changes;
  if (!changes) throw new CliError(`task ${taskId} did not run in a git workspace of its own (cc run --upload or --repo), so it has no recorded changes`, ExitCode.Refused);
  return changes;
}

export async function applyChanges(o: ApplyOptions): Promise<number> {
  const top = await workTreeTop(o.cwd);
  if (!top) throw new CliError(`cc apply works inside a git checkout, and ${o.cwd} is not in one: cd into a clone of the repository task ${o.taskId} ran on`, ExitCode.Usage);
  const summary = await recordedChanges(o.client, o.taskId);
  const dim = styleFor(o.io.stderr, o.io.env).dim;
  if (summary.finalCommit === "" || summary.finalCommit === summary.baseCommit) {
    o.io.stderr.write(`task ${o.taskId} changed nothing; there is nothing to apply\n`);
    return ExitCode.Ok;
  }
  if (summary.bundleBytes === 0n) throw new CliError(`the changes of task ${o.taskId} could not be kept: ${summary.error || "the worker has no bundle of them"}`, ExitCode.Refused);
  const run = (args: string[], allowFailure = false) => git(args, { cwd: top, allowFailure });

  // 1. Related history: the commits the task started from are here.
  for (const commit of summary.bundlePrerequisites) {
    if ((await run(["cat-file", "-e", `${commit}^{commit}`], true)).code !== 0) {
      throw new CliError(
        `this checkout does not have commit ${commit.slice(0, 12)}, which task ${o.taskId} started from: it is not a clone of the repository the task ran on (or it has not fetched that commit yet). cc apply refuses unrelated history; \`cc diff ${o.taskId} | git apply\` forces it`,
        ExitCode.Usage,
      );
    }
  }
  const temp = await mkdtemp(join(tmpdir(), "cc-apply-"));
  try {
    const bundle = join(temp, "changes.bundle");
    await downloadToFile(o.client, o.taskId, ChangesFormat.BUNDLE, bundle);
    // 2. The objects, and nothing else.
    await run(["bundle", "unbundle", bundle]);
    const head = (await run(["rev-parse", "--verify", "--quiet", "HEAD^{commit}"], true)).stdout.trim();
    if (head && summary.bundlePrerequisites.length === 0 && (await run(["merge-base", head, summary.finalCommit], true)).code !== 0) {
      throw new CliError(`task ${o.taskId} started from a history unrelated to this checkout's; cc apply refuses it (\`cc apply ${o.taskId} --branch NAME\` keeps it as a branch of its own)`, ExitCode.Usage);
    }

    // 3a. As a branch.
    if (o.branch !== undefined) {
      if ((await run(["check-ref-format", "--branch", o.branch], true)).code !== 0) throw new CliError(`--branch: "${o.branch}" is not a valid branch name`, ExitCode.Usage);
      if ((await run(["show-ref", "--verify", "--quiet", `refs/heads/${o.branch}`], true)).code === 0) {
        throw new CliError(`a branch ${o.branch} exists already; pick another name (cc apply never moves an existing branch)`, ExitCode.Usage);
      }
      await run(["fetch", "--quiet", "--no-tags", bundle, `refs/heads/${summary.branch || `cc/${o.taskId}`}:refs/heads/${o.branch}`]);
      const count = summary.bundlePrerequisites.length > 0 ? (await run(["rev-list", "--count", summary.finalCommit, ...summary.bundlePrerequisites.map((c) => `^${c}`)])).stdout.trim() : "all";
      o.io.stdout.write(`created branch ${o.branch} at ${summary.finalCommit.slice(0, 12)} (${count} commit${count === "1" ? "" : "s"} from task ${o.taskId}); the work tree is untouched\n`);
      o.io.stderr.write(dim(`switch to it with \`git switch ${o.branch}\`, or merge it with \`git merge ${o.branch}\`\n`));
      return ExitCode.Ok;
    }

    // 3b. As a patch.
    const patch = join(temp, "changes.patch");
    await downloadToFile(o.client, o.taskId, ChangesFormat.PATCH, patch);
    if ((await run(["apply", "--check", "--binary", patch], true)).code === 0) {
      await run(["apply", "--binary", patch]);
      o.io.stdout.write(`applied the changes of task ${o.taskId}:${statSummaryLine(summary)}`);
      return ExitCode.Ok;
    }
    const merged = await run(["apply", "--3way", "--binary", patch], true);
    const unmerged = (await run(["diff", "--name-only", "--diff-filter=U"], true)).stdout.split("\n").filter(Boolean);
    if (merged.code === 0) {
      o.io.stdout.write(`applied the changes of task ${o.taskId} with a three-way merge (the changed files are staged):${statSummaryLine(summary)}`);
      return ExitCode.Ok;
    }
    if (unmerged.length > 0) {
      o.io.stderr.write(
        `cc: the changes of task ${o.taskId} conflict with local changes in ${unmerged.join(", ")}.\n` +
          `    git left its conflict markers (<<<<<<< ours … >>>>>>> theirs) in ${unmerged.length === 1 ? "that file" : "those files"}, and the rest of the changes are staged.\n` +
          `    Resolve each conflict, then \`git add\` the file (\`git status\` lists them; \`git checkout --ours FILE\` keeps your version).\n`,
      );
      return ExitCode.AgentError;
    }
    const why = lastLine(merged.stderr);
    throw new CliError(
      `the changes of task ${o.taskId} do not apply here (${why}); nothing was changed. ${/does not match index|already exists/.test(merged.stderr) ? "Commit or stash your local changes to those files (or stage them, for a three-way merge), then run cc apply again" : `Try \`cc apply ${o.taskId} --branch NAME\``}`,
      ExitCode.AgentError,
    );
  } finally {
    await rm(temp, { recursive: true, force: true });
  }
}
