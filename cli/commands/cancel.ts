// `cc cancel`: stop tasks.
import { Command, Option } from "clipanion";
import { ValueOption } from "../options.js";
import { RouterCommand } from "../command.js";

export class CancelCommand extends RouterCommand {
  static override paths = [["cancel"]];

  static override usage = Command.Usage({
    description: "Stop tasks",
    details: `
      Stops each task wherever it is: a queued task leaves the queue, a running one is stopped on its worker together with everything claude started. Prints each task id with its status afterwards.
    `,
    examples: [
      ["Stop a task", "$0 cancel 01jb3k5x2q7w9h4r8t6y1m0c3d"],
      ["Stop every running task", "$0 cancel $(cc ps --json | jq -r '.[].id')"],
    ],
  });

  reason = ValueOption.String("--reason <text>", { description: "Why, kept in the task's record" });
  tasks = Option.Rest({ name: "task", required: 1 });

  async execute(): Promise<number> {
    const { cancelTasks } = await import("../lib/task-commands.js");
    return this.withRouter((c) => cancelTasks(c, this.tasks, this.reason, (id) => (this.taskIdForErrors = id)));
  }
}
