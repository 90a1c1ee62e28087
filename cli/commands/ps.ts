// `cc ps`: list tasks.
import { Command, Option } from "clipanion";
import { RouterCommand } from "../command.js";

export class PsCommand extends RouterCommand {
  static override paths = [["ps"]];

  static override usage = Command.Usage({
    description: "List tasks",
    details: `
      Lists the router's running and queued tasks, newest first: id, status, worker, age and the start of the prompt. \`--all\` includes finished tasks too.

      \`--json\` prints an array of task records in the protobuf JSON form of \`claudecluster.v1.Task\`.
    `,
    examples: [
      ["What is running now", "$0 ps"],
      ["Every task the router remembers", "$0 ps --all"],
      ["Ids of the running tasks, for scripts", "$0 ps --json | jq -r '.[].id'"],
    ],
  });

  all = Option.Boolean("-a,--all", false, { description: "Include finished tasks (succeeded, failed, cancelled)" });
  json = Option.Boolean("--json", false, { description: "Print the task records as JSON" });

  async execute(): Promise<number> {
    const { listTasks } = await import("../lib/task-commands.js");
    return this.withRouter((c) => listTasks(c, this.all, this.json));
  }
}
