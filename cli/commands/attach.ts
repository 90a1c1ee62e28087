// `cc attach`: follow a task from its start.
import { Command, Option } from "clipanion";
import { ValueOption } from "../options.js";
import { RouterCommand } from "../command.js";
import { EXIT_CODES_HELP, indented } from "../exit-codes.js";

export class AttachCommand extends RouterCommand {
  static override paths = [["attach"]];

  static override usage = Command.Usage({
    description: "Follow a task: replay it from the start, then live",
    details: `
      Prints the task's events from its beginning, then follows it until it ends, in the same formats as \`cc run\`. Any number of people can attach to one task.

      An interactive task opens its terminal UI here, in raw mode, as \`cc run -i\` does: Ctrl-P Ctrl-Q detaches again. For a headless task, Ctrl-C stops following and leaves the task running (\`cc cancel\` stops it).

      The exit code is the task's, as for \`cc run\`:

      ${indented(EXIT_CODES_HELP.replace(/^Exit codes:\n\n/, ""))}
    `,
    examples: [
      ["Follow a detached task", "$0 attach 01jb3k5x2q7w9h4r8t6y1m0c3d"],
      ["Get its result as claude -p --output-format json would print it", "$0 attach --output-format json 01jb3k5x2q7w9h4r8t6y1m0c3d"],
    ],
  });

  outputFormat = ValueOption.String("--output-format <format>", { description: "text, json or stream-json: print exactly what claude -p prints in that format" });
  includePartialMessages = Option.Boolean("--include-partial-messages", false, { description: "With --output-format stream-json: include claude's partial-message events" });
  task = Option.String({ name: "task" });

  async execute(): Promise<number> {
    const [{ checkOutputFormat }, { attachTask }] = await Promise.all([import("../lib/run-command.js"), import("../lib/task-commands.js")]);
    const format = checkOutputFormat(this.outputFormat);
    this.taskIdForErrors = this.task;
    return this.withRouter((c) => attachTask(c, this.task, format, this.includePartialMessages));
  }
}
