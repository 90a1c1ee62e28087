// `cc env show KEY`: one environment snapshot in full.
import { Command, Option } from "clipanion";
import { RouterCommand } from "../../command.js";
import { ValueOption } from "../../options.js";

export class EnvShowCommand extends RouterCommand {
  static override paths = [["env", "show"]];

  static override usage = Command.Usage({
    description: "Show an environment snapshot",
    details: `
      Prints a snapshot's full key, repository, worker, size, when it was made and by which task, when it was last used, when it expires (its environment file's \`cache.ttl\`) and how many tasks started from it. KEY is the key or its start, as \`cc env ls\` shows it; every worker's snapshot with that key is shown.
    `,
    examples: [["Show a snapshot", "$0 env show 3f9c0a1b2c4d"]],
  });

  key = Option.String({ name: "key" });
  worker = ValueOption.String("--worker <id>", { description: "Only this worker's snapshot" });
  json = Option.Boolean("--json", false, { description: "Print it as JSON (an array, one per worker that holds it)" });

  async execute(): Promise<number> {
    const { showEnvironment } = await import("../../lib/environments.js");
    return this.withRouter((c) => showEnvironment(c, { key: this.key, json: this.json, worker: this.worker }));
  }
}
