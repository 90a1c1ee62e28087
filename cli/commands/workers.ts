// `cc workers`: list workers.
import { Command, Option } from "clipanion";
import { RouterCommand } from "../command.js";

export class WorkersCommand extends RouterCommand {
  static override paths = [["workers"]];

  static override usage = Command.Usage({
    description: "List the cluster's workers",
    details: `
      Lists every worker the router knows: id, health (online, full, draining, offline), tasks placed on it out of its capacity, claude version, its warm pool (claudes started up out of the pool's size, \`+N\` still starting), when it was last seen, and its URL with its labels.

      \`--json\` prints an array of worker records in the protobuf JSON form of \`claudecluster.v1.WorkerRecord\`.
    `,
    examples: [
      ["List workers", "$0 workers"],
      ["As JSON", "$0 workers --json"],
    ],
  });

  json = Option.Boolean("--json", false, { description: "Print the worker records as JSON" });

  async execute(): Promise<number> {
    const { listWorkers } = await import("../lib/task-commands.js");
    return this.withRouter((c) => listWorkers(c, this.json));
  }
}
