// `cc config set`: add or change a profile.
import { Command, Option } from "clipanion";
import { ValueOption } from "../../options.js";
import { CcCommand } from "../../command.js";
import { indented } from "../../exit-codes.js";
import { settingsHelp } from "../../settings.js";

export class ConfigSetCommand extends CcCommand {
  static override paths = [["config", "set"]];

  static override usage = Command.Usage({
    category: "Configuration",
    description: "Add or change a profile (a router URL and its token)",
    details: `
      Saves the profile in \`$XDG_CONFIG_HOME/claudecluster/config.json\` (default \`~/.config/claudecluster/config.json\`), readable by you only. The first profile saved is the one in use; \`cc config use\` switches.

      Each setting comes from its flag, else its environment variable, else the profile in use:

      ${indented(settingsHelp())}
    `,
    examples: [
      ["A local cluster started with `cc up`", "$0 config set local --router http://127.0.0.1:8400"],
      ["A cluster in the cloud, with its token", "$0 config set cloud --router https://router.example.com --token s3cret"],
      ["Change only the token", "$0 config set cloud --token n3w-s3cret"],
    ],
  });

  routerUrl = ValueOption.String("--router <url>", { description: "The router's URL (needed for a new profile)" });
  token = ValueOption.String("--token <token>", { description: "Bearer token the router expects (\"\" removes it)" });
  name = Option.String({ name: "profile" });

  async execute(): Promise<number> {
    const { configSet } = await import("../../lib/config-commands.js");
    return configSet(this.context, this.name, this.routerUrl, this.token);
  }
}
