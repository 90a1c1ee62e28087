// `cc completion`: print a shell completion script.
import { Command, Option, UsageError } from "clipanion";
import { CcCommand } from "../command.js";

export class CompletionCommand extends CcCommand {
  static override paths = [["completion"]];

  static override usage = Command.Usage({
    description: "Print a completion script for bash, zsh or fish",
    details: `
      Prints a script that teaches the shell cc's commands, options and their values (directories for \`--cwd\`, files for \`--settings\`, the formats for \`--output-format\`…). It is generated from cc's own command definitions, so it always matches this version of cc; both \`cc\` and \`claudecluster\` are completed.
    `,
    examples: [
      ["bash, for this shell", "source <($0 completion bash)"],
      ["bash, for good", "$0 completion bash > ~/.local/share/bash-completion/completions/cc"],
      ["zsh (after compinit)", "source <($0 completion zsh)"],
      ["fish", "$0 completion fish > ~/.config/fish/completions/cc.fish"],
    ],
  });

  shell = Option.String({ name: "shell" });

  async execute(): Promise<number> {
    const [{ commandSpecs, completionScript, SHELLS }, { COMMANDS, createCli }] = await Promise.all([import("../lib/completion.js"), import("../cli.js")]);
    if (!(SHELLS as readonly string[]).includes(this.shell)) throw new UsageError(`cc completion takes one of ${SHELLS.join(", ")}; got "${this.shell}"`);
    // Every command, not only those this command line registered (cli/cli.ts commandsFor).
    const all = createCli(this.cli.binaryName);
    const sources = COMMANDS.flatMap((command) => {
      const definition = all.definition(command);
      return definition ? [{ paths: command.paths ?? [], definition }] : [];
    });
    this.context.stdout.write(completionScript(this.shell as (typeof SHELLS)[number], commandSpecs(sources)));
    return 0;
  }
}
