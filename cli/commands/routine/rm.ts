// `cc routine rm`: delete routines.
import { Command, Option } from "clipanion";
import { RouterCommand } from "../../command.js";

export class RoutineRmCommand extends RouterCommand {
  static override paths = [["routine", "rm"]];

  static override usage = Command.Usage({
    category: "Routines",
    description: "Delete routines and their schedules",
    details: `
      Deletes each routine: its schedule stops and its fire token no longer works. Tasks it started run on.
    `,
    examples: [["Delete a routine", "$0 routine rm nightly"]],
  });

  names = Option.Rest({ name: "name", required: 1 });

  async execute(): Promise<number> {
    const { removeRoutines } = await import("../../lib/routines/commands.js");
    return this.withRoutines((c) => removeRoutines(c, this.names));
  }
}
