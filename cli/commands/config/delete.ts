// `cc config delete`: remove a profile.
import { Command, Option } from "clipanion";
import { CcCommand } from "../../command.js";

export class ConfigDeleteCommand extends CcCommand {
  static override paths = [["config", "delete"]];

  static override usage = Command.Usage({
    category: "Configuration",
    description: "Remove a profile",
    details: `
      Removes the profile and its token from the config file. If it was the profile in use, none is in use afterwards.
    `,
    examples: [["Forget the cloud cluster", "$0 config delete cloud"]],
  });

  name = Option.String({ name: "profile" });

  async execute(): Promise<number> {
    const { configDelete } = await import("../../lib/config-commands.js");
    return configDelete(this.context, this.name);
  }
}
