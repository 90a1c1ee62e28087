// `cc env rm KEY`: drop an environment snapshot, so the next task on its repository runs setup again.
import { Command, Option } from "clipanion";
import { RouterCommand } from "../../command.js";
import { ValueOption } from "../../options.js";

export class EnvRmCommand extends RouterCommand {
  static override paths = [["env", "rm"], ["env", "remove"]];

  static override usage = Command.Usage({
    description: "Remove an environment snapshot",
    details: `
      Removes the snapshot from every online worker that holds it (or only from \`--worker\`); the next task on its repository runs the environment's \`setup\` again. KEY is the key or at least its first 6 characters, as \`cc env ls\` shows it. To set up afresh for one task only, use \`cc run --no-cache\`.
    `,
    examples: [
      ["Remove a snapshot everywhere", "$0 env rm 3f9c0a1b2c4d"],
      ["From one worker", "$0 env rm 3f9c0a1b2c4d --worker w1"],
    ],
  });

  key = Option.String({ name: "key" });
  worker = ValueOption.String("--worker <id>", { description: "Only from this worker" });

  async execute(): Promise<number> {
    const { removeEnvironment } = await import("../../lib/environments.js");
    return this.withRouter((c) => removeEnvironment(c, { key: this.key, worker: this.worker }));
  }
}
