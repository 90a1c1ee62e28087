// `cc diff`: print what a task changed.
import { Command, Option, UsageError } from "clipanion";
import { ValueOption } from "../options.js";
import { RouterCommand } from "../command.js";

export class DiffCommand extends RouterCommand {
  static override paths = [["diff"]];

  static override usage = Command.Usage({
    description: "Print what a task changed",
    details: `
      Prints the changes an ended task made in its git workspace (\`cc run --upload\` or \`--repo\`): every commit claude made plus what it left uncommitted, against the commit the task started from, as one binary-safe patch (\`git diff --binary\`). On a terminal it is coloured as git colours it; piped, it is the patch byte for byte, ready for \`git apply\`.

      \`--stat\` and \`--name-only\` print the summary kept in the task's record, as \`git diff --stat\` and \`--name-only\` do, without fetching the patch.

      The worker that ran the task keeps its changes for \`CC_CHANGES_RETAIN_AGE\`, after its workspace is reclaimed too. \`cc apply\` applies them to a checkout.
    `,
    examples: [
      ["See what a task changed", "$0 diff 01jb3k5x2q7w9h4r8t6y1m0c3d"],
      ["Only which files, and how much", "$0 diff --stat 01jb3k5x2q7w9h4r8t6y1m0c3d"],
      ["Save the patch", "$0 diff 01jb3k5x2q7w9h4r8t6y1m0c3d > task.patch"],
    ],
  });

  stat = Option.Boolean("--stat", false, { description: "Files changed with lines added and removed, as git diff --stat" });
  nameOnly = Option.Boolean("--name-only", false, { description: "Only the paths of the files changed" });
  color = ValueOption.String("--color <when>", "auto", { description: "auto (on a terminal), always or never" });
  task = Option.String({ name: "task" });

  async execute(): Promise<number> {
    if (this.stat && this.nameOnly) throw new UsageError("--stat and --name-only do not go together");
    if (!["auto", "always", "never"].includes(this.color)) throw new UsageError(`--color must be auto, always or never; got "${this.color}"`);
    const { showDiff } = await import("../lib/changes/show.js");
    this.taskIdForErrors = this.task;
    return this.withRouter((c) => showDiff(c, this.task, { stat: this.stat, nameOnly: this.nameOnly, color: this.color as "auto" | "always" | "never" }));
  }
}
