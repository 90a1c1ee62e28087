// `cc demo`: an offline demonstration.
import { Command } from "clipanion";
import { CcCommand } from "../command.js";

export class DemoCommand extends CcCommand {
  static override paths = [["demo"]];

  static override usage = Command.Usage({
    description: "See ClaudeCluster work, offline, with no Claude account",
    details: `
      Starts a local cluster of two workers running the real claude, pointed at a scripted model: a fake Anthropic API inside this process that plays back canned answers. No Claude account or API key is used and nothing leaves this machine; your ~/.claude.json is not touched.

      It shows streamed text, a tool call that writes a file (and the file), and three tasks running in parallel, then stops everything and removes its temporary files.
    `,
    examples: [["Run the demo", "$0 demo"]],
  });

  async execute(): Promise<number> {
    const { demo } = await import("../lib/demo.js");
    return demo(this.context);
  }
}
