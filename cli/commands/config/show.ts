// `cc config show`: the profiles and the settings in force.
import { Command, Option } from "clipanion";
import { CcCommand } from "../../command.js";

export class ConfigShowCommand extends CcCommand {
  static override paths = [["config", "show"], ["config"]];

  static override usage = Command.Usage({
    category: "Configuration",
    description: "Show the profiles and which router is in use",
    details: `
      Lists the profiles of the config file (\`*\` marks the one in use) and the router and token in force after CC_PROFILE, CC_ROUTER_URL and CC_TOKEN are taken into account. Tokens are masked.
    `,
    examples: [
      ["Show the configuration", "$0 config show"],
      ["As JSON", "$0 config show --json"],
    ],
  });

  json = Option.Boolean("--json", false, { description: "Print the configuration as JSON (tokens masked)" });

  async execute(): Promise<number> {
    const { configShow } = await import("../../lib/config-commands.js");
    return configShow(this.context, this.json);
  }
}
