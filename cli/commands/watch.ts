// `cc watch`: run a routine (or a prompt) on the cluster when files change.
import { Command, Option } from "clipanion";
import { ValueOption } from "../options.js";
import { RouterCommand } from "../command.js";

export class WatchCommand extends RouterCommand {
  static override paths = [["watch"]];

  static override usage = Command.Usage({
    category: "Routines",
    description: "Run a routine or a prompt when files change",
    details: `
      Watches the paths (directories recursively) and, once changes stop coming for \`--debounce\` (500ms by default), runs one task for all of them: the routine (\`--routine NAME\`, its \`{{changed}}\` placeholder filled with the changed paths, one per line) or the prompt (\`--prompt TEXT\`, \`{{changed}}\` filled, or the list added at its end). At most one task runs at a time: changes during a task gather for one more task after it ends.

      Paths git ignores are skipped (.gitignore, .git/info/exclude and your global excludes, asked of \`git check-ignore\` in a git checkout), and so is \`.git/\`; \`--ignore GLOB\` skips more. It runs in the foreground and prints a line per task; Ctrl-C stops watching and leaves a running task running.
    `,
    examples: [
      ["Run the test-fixer routine when src changes", "$0 watch src/ --routine fix-tests"],
      ["A prompt of its own, with a longer debounce", "$0 watch docs/ --debounce 2s --prompt 'Check these files for broken links: {{changed}}'"],
    ],
  });

  routine = ValueOption.String("--routine <name>", { description: "Run this routine for each burst of changes" });
  prompt = ValueOption.String("--prompt <text>", { description: "Run this prompt for each burst of changes ({{changed}}: the paths)" });
  set = ValueOption.Array("--set <key=value>", { description: "A value for the prompt's {{key}} (repeatable)" });
  debounce = ValueOption.String("--debounce <duration>", { description: "Wait this long after the last change before a run (default 500ms)" });
  ignore = ValueOption.Array("--ignore <glob>", { description: "Skip paths matching this glob, e.g. 'dist/**' (repeatable)" });
  watched = Option.Rest({ name: "path", required: 1 });

  async execute(): Promise<number> {
    const [{ watchAndRun }, { parsePairs }, { parseTimeout }] = await Promise.all([
      import("../lib/watch/run.js"),
      import("../lib/routines/commands.js"),
      import("../lib/run-request.js"),
    ]);
    if ((this.routine === undefined) === (this.prompt === undefined)) throw new (await import("clipanion")).UsageError("give either --routine NAME or --prompt TEXT");
    const debounceMs = this.debounce !== undefined ? parseTimeout(this.debounce) : 500;
    const values = parsePairs("--set", this.set);
    const stop = new Promise<void>((resolve) => {
      process.once("SIGINT", () => resolve());
      process.once("SIGTERM", () => resolve());
    });
    return this.withRoutines((c) =>
      watchAndRun(c, { paths: this.watched, routine: this.routine, prompt: this.prompt, values, debounceMs, ignore: this.ignore ?? [], cwd: process.cwd(), stop }),
    );
  }
}
