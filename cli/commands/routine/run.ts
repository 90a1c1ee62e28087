// `cc routine run`: run a routine now and follow its task, as `cc run` does.
import { Command, Option } from "clipanion";
import { ValueOption } from "../../options.js";
import { RouterCommand } from "../../command.js";

export class RoutineRunCommand extends RouterCommand {
  static override paths = [["routine", "run"]];

  static override usage = Command.Usage({
    category: "Routines",
    description: "Run a routine now and follow its task",
    details: `
      Starts a run of the routine (its prompt filled from \`--set key=value\` and its defaults) and follows the task as \`cc attach\` does; \`-d\` prints the task id and returns. Ctrl-C stops following and leaves the task running. A failed task the routine retries is a new task: \`cc routine show NAME\` lists them.
    `,
    examples: [
      ["Run a routine", "$0 routine run review --set branch=main"],
      ["Start it and return", "$0 routine run nightly -d"],
    ],
  });

  set = ValueOption.Array("--set <key=value>", { description: "A value for the prompt's {{key}} (repeatable)" });
  append = ValueOption.String("--append <text>", { description: "Text added to the prompt after a blank line" });
  detach = Option.Boolean("-d,--detach", false, { description: "Print the task id and return; the task runs on" });
  outputFormat = ValueOption.String("--output-format <format>", { description: "text, json or stream-json: print exactly what claude -p prints in that format" });
  name = Option.String({ name: "name" });

  async execute(): Promise<number> {
    const [{ checkOutputFormat }, { parsePairs, runRoutine }] = await Promise.all([import("../../lib/run-command.js"), import("../../lib/routines/commands.js")]);
    const format = checkOutputFormat(this.outputFormat);
    const values = parsePairs("--set", this.set);
    return this.withRoutines((c) => runRoutine(c, this.name, { values, append: this.append ?? "", detach: this.detach, format, includePartials: false }));
  }
}
