// The changes of the tasks running on this worker: begun once a task's git workspace is ready (the clone, or the
// unpacked upload, on its own branch `cc/<task id>`), recorded into the store when the task ends, whatever the reason,
// before its `exited` is sent. The one interface the runner uses.
import type { ChangesSummary, GitPush, GitRepository } from "../../../gen/claudecluster/v1/run_pb.js";
import type { Logger } from "../../common/logger.js";
import { gitCommand } from "../git-command.js";
import { gitEnv } from "../repo-clone.js";
import { parseIdentity } from "../upload/unpack.js";
import type { ChangesStart } from "./recorder.js";
import type { ChangesStore } from "./store.js";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface TaskChangesOptions {
  store: ChangesStore;
  env: NodeJS.ProcessEnv;
  /** CC_GIT_AUTHOR. */
  author: string;
  /** CC_CHANGES_TIMEOUT. */
  timeoutMs: number;
  /** CC_PUSH_TIMEOUT. */
  pushTimeoutMs: number;
  /** CC_MAX_CHANGES_BYTES. */
  maxBytes: number;
  logger: Logger;
}

const FULL_COMMIT = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;

export class TaskChanges {
  private readonly begun = new Map<string, { start: ChangesStart; extraEnv: Record<string, string> }>();

  constructor(private readonly o: TaskChangesOptions) {}

  /** An upload's checkout is ready on `cc/<task id>` (services/worker/upload/unpack.ts did that). */
  beginUpload(start: Omit<ChangesStart, "origin"> & { origin: GitRepository | undefined }, extraEnv: Record<string, string>): void {
    const { origin, ...rest } = start;
    this.begun.set(start.taskId, { start: { ...rest, origin: origin?.url ? { url: origin.url, token: origin.token, branch: origin.ref } : undefined }, extraEnv });
  }

  /**
   * A repository was cloned: the task gets a branch of its own, `cc/<task id>`, and the workspace an identity for
   * claude's commits. The branch it was cloned from is remembered (compare URLs; it is never pushed to unless named).
   */
  async beginClone(
    task: { taskId: string; workspace: string; prompt: string; push: GitPush | undefined; signal: AbortSignal },
    repo: GitRepository,
    commit: string,
    extraEnv: Record<string, string>,
  ): Promise<void> {
    const home = await mkdtemp(join(tmpdir(), "cc-git-home-"));
    const env = gitEnv(this.o.env, { home, token: "", extra: extraEnv });
    const git = (args: string[]) => gitCommand(args, { cwd: task.workspace, env, deadline: Date.now() + this.o.timeoutMs, signal: task.signal });
    try {
      const cloned = commit ? (await git(["rev-parse", "--abbrev-ref", "HEAD"])).trim() : "";
      const branch = `cc/${task.taskId}`;
      if (commit) await git(["checkout", "--quiet", "-b", branch]);
      else await git(["symbolic-ref", "HEAD", `refs/heads/${branch}`]);
      const identity = parseIdentity(this.o.author);
      if (identity) {
        await git(["config", "user.name", identity.name]);
        await git(["config", "user.email", identity.email]);
      }
      const startedOn = cloned && cloned !== "HEAD" ? cloned : !FULL_COMMIT.test(repo.ref) && !repo.ref.startsWith("refs/") ? repo.ref : "";
      this.begun.set(task.taskId, {
        start: { taskId: task.taskId, workspace: task.workspace, base: commit, snapshot: false, origin: { url: repo.url, token: repo.token, branch: startedOn }, push: task.push, prompt: task.prompt },
        extraEnv,
      });
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  }

  /** Records the task's changes, if it had a git workspace of its own; undefined otherwise. */
  async end(taskId: string): Promise<ChangesSummary | undefined> {
    const begun = this.begun.get(taskId);
    if (!begun) return undefined;
    this.begun.delete(taskId);
    try {
      return await this.o.store.record(begun.start, {
        env: this.o.env,
        extraEnv: begun.extraEnv,
        author: this.o.author,
        deadline: Date.now() + this.o.timeoutMs + (begun.start.push ? this.o.pushTimeoutMs : 0),
        pushTimeoutMs: this.o.pushTimeoutMs,
        maxBytes: this.o.maxBytes,
      });
    } catch (err) {
      this.o.logger.error({ taskId, err }, "recording the changes failed");
      return undefined;
    }
  }
}
