// `cc routine show`: one routine in full.
import { Command, Option } from "clipanion";
import { RouterCommand } from "../../command.js";

export class RoutineShowCommand extends RouterCommand {
  static override paths = [["routine", "show"]];

  static override usage = Command.Usage({
    category: "Routines",
    description: "Show a routine: its prompt, schedule, retries, webhook and last run",
    details: `
      Prints the routine's definition and what it did last: the last run's outcome and every attempt's task id, and the webhook's last delivery (HTTP status, attempts). Secrets are never shown: only whether a fire token and a webhook secret are set.
    `,
    examples: [["Show a routine", "$0 routine show nightly"]],
  });

  json = Option.Boolean("--json", false, { description: "Print the routine as JSON" });
  name = Option.String({ name: "name" });

  async execute(): Promise<number> {
    const { showRoutine } = await import("../../lib/routines/commands.js");
    return this.withRoutines((c) => showRoutine(c, this.name, this.json));
  }
}
