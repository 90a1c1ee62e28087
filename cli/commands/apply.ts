// `cc apply`: bring a task's changes into the current checkout.
import { Command, Option } from "clipanion";
import { ValueOption } from "../options.js";
import { RouterCommand } from "../command.js";

export class ApplyCommand extends RouterCommand {
  static override paths = [["apply"]];

  static override usage = Command.Usage({
    description: "Apply what a task changed to this checkout",
    details: `
      Applies an ended task's changes (see \`cc diff\`) to the git checkout you are in, as files changed in the work tree, like a local \`claude -p\` edit. The checkout must have the commit the task started from (the checkout you uploaded, or a clone of the repository the task cloned): cc apply refuses unrelated history.

      When local changes touch the same files, it merges three ways (\`git apply --3way\`): where both sides changed the same lines it stops with git's conflict markers in the files and the files unmerged in the index, and says which; resolve them and \`git add\` each. Files with unstaged local changes that the task also changed are refused, with nothing changed: commit, stash or stage them first.

      \`--branch NAME\` instead fetches the task's commits (claude's own, then one with what it left uncommitted) as a new local branch NAME, leaving the work tree and the current branch alone.

      Exit codes: 0 applied (or nothing to apply), 1 stopped on conflicts or refused by git, 2 not in a git checkout or unrelated history, 3 cannot reach the router, 4 the router refused (unknown task, still running, no git workspace).
    `,
    examples: [
      ["Apply a task's changes here", "$0 apply 01jb3k5x2q7w9h4r8t6y1m0c3d"],
      ["Keep them as a branch instead", "$0 apply 01jb3k5x2q7w9h4r8t6y1m0c3d --branch claude/fix-tests"],
    ],
  });

  branch = ValueOption.String("--branch <name>", { description: "Fetch the task's commits as this new local branch; the work tree is left alone" });
  task = Option.String({ name: "task" });

  async execute(): Promise<number> {
    const { applyChanges } = await import("../lib/changes/apply.js");
    this.taskIdForErrors = this.task;
    return this.withRouter((c) => applyChanges({ client: c.client, io: c.io, taskId: this.task, cwd: process.cwd(), branch: this.branch }));
  }
}
