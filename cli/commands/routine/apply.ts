// `cc routine apply -f`: create or update routines from YAML files (a directory of them is the team's, in git).
import { Command, Option } from "clipanion";
import { ValueOption } from "../../options.js";
import { RouterCommand } from "../../command.js";

export class RoutineApplyCommand extends RouterCommand {
  static override paths = [["routine", "apply"]];

  static override usage = Command.Usage({
    category: "Routines",
    description: "Create or update routines from YAML files",
    details: `
      Reads each file (a directory: its *.yaml and *.yml files; a file may hold several routines separated by \`---\`) and saves every routine in it, replacing those of the same name, as \`kubectl apply\` does. Every file is checked before anything is saved: an unknown field, a wrong type or a missing prompt is reported with its file and line, and nothing changes.

      A routine's fields: \`name\`, \`description\`, \`prompt\` (a template), \`defaults\` (placeholder values), \`schedule\` (\`cron\`, \`timeZone\`, \`overlap\`: skip|queue|allow, \`missed\`: skip|run-once), \`retry\` (\`maxRetries\`, \`backoff\`), \`webhook\` (\`url\`, \`secretEnv\`: the environment variable holding the secret, or \`secret\`) and \`task\`: \`cc run\`'s options in camelCase (\`model\`, \`allowedTools\`, \`permissionMode\`, \`maxTurns\`, \`labels\`, \`repo\`, \`ref\`, \`cwd\`, \`timeout\`, \`egress\`...). See deploy/routines/ for examples.
    `,
    examples: [
      ["Apply the team's routines", "$0 routine apply -f deploy/routines/"],
      ["Apply one file and make fire tokens for its routines", "$0 routine apply -f nightly.yaml --fire-token"],
    ],
  });

  files = ValueOption.Array("-f,--file <path>", { description: "A YAML file, or a directory of them (repeatable)" });
  fireToken = Option.Boolean("--fire-token", false, { description: "Make a new fire token for each routine applied (printed once)" });

  async execute(): Promise<number> {
    const { applyRoutines, readRoutines } = await import("../../lib/routines/commands.js");
    // Read and checked before connecting: a mistake in a file is reported without a router.
    const routines = readRoutines(this.files ?? [], this.context.env);
    return this.withRoutines((c) => applyRoutines(c, routines, { fireToken: this.fireToken }));
  }
}
