// `cc routine ls`: list the router's routines with their next and last run.
import { Command, Option } from "clipanion";
import { RouterCommand } from "../../command.js";

export class RoutineLsCommand extends RouterCommand {
  static override paths = [["routine", "ls"]];

  static override usage = Command.Usage({
    category: "Routines",
    description: "List routines with their schedule, next run and last run",
    details: `
      One line per routine: its name, its schedule, when it runs next, when its last run started, that run's outcome (running, succeeded, failed, cancelled) and its latest task (follow it with \`cc attach\`, read it with \`cc logs\`).
    `,
    examples: [
      ["List routines", "$0 routine ls"],
      ["As JSON, for scripts", "$0 routine ls --json"],
    ],
  });

  json = Option.Boolean("--json", false, { description: "Print the routines as JSON" });

  async execute(): Promise<number> {
    const { listRoutines } = await import("../../lib/routines/commands.js");
    return this.withRoutines((c) => listRoutines(c, this.json));
  }
}
