// `cc config use`: switch profiles.
import { Command, Option } from "clipanion";
import { CcCommand } from "../../command.js";

export class ConfigUseCommand extends CcCommand {
  static override paths = [["config", "use"]];

  static override usage = Command.Usage({
    category: "Configuration",
    description: "Choose the profile in use",
    details: `
      Later commands talk to this profile's router, unless --router, --profile, CC_ROUTER_URL or CC_PROFILE say otherwise.
    `,
    examples: [["Switch to the cloud cluster", "$0 config use cloud"]],
  });

  name = Option.String({ name: "profile" });

  async execute(): Promise<number> {
    const { configUse } = await import("../../lib/config-commands.js");
    return configUse(this.context, this.name);
  }
}
