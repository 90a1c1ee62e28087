// `cc logs`: print a task's log.
import { Command, Option } from "clipanion";
import { RouterCommand } from "../command.js";

export class LogsCommand extends RouterCommand {
  static override paths = [["logs"]];

  static override usage = Command.Usage({
    description: "Print a task's log as text",
    details: `
      Prints what the task has logged so far, rendered as \`cc run\` shows it (assistant text, one line per tool call), with its start, queueing and end as dim \`──\` lines. An interactive task's log is its raw terminal output.

      With \`-f\` it keeps following the task until it ends. Ctrl-C stops following; the task is not affected.
    `,
    examples: [
      ["Print a task's log", "$0 logs 01jb3k5x2q7w9h4r8t6y1m0c3d"],
      ["Follow it as it runs", "$0 logs -f 01jb3k5x2q7w9h4r8t6y1m0c3d"],
    ],
  });

  follow = Option.Boolean("-f,--follow", false, { description: "Keep printing new events until the task ends" });
  task = Option.String({ name: "task" });

  async execute(): Promise<number> {
    const { taskLogs } = await import("../lib/task-commands.js");
    this.taskIdForErrors = this.task;
    return this.withRouter((c) => taskLogs(c, this.task, this.follow));
  }
}
