// `cc batch`: run every task of a file, a few at a time.
import { Command, Option } from "clipanion";
import { RouterCommand } from "../command.js";
import { ValueOption } from "../options.js";

export class BatchCommand extends RouterCommand {
  static override paths = [["batch"]];

  static override usage = Command.Usage({
    description: "Run every task of a file, a few at a time",
    details: `
      Reads one task per entry from FILE (\`-\` reads standard input): JSON Lines, one object a line, or YAML, a list of mappings (or a mapping whose \`tasks\` is that list). Each entry has a \`prompt\`, an optional \`name\` shown in the progress and the table, and any \`cc run\` option by its long name without the dashes: \`model\`, \`allowed-tools\` (a list or text), \`max-turns\`, \`permission-mode\`, \`timeout\`, \`cwd\`, \`repo\`, \`ref\`, \`worker\`, \`label\` and \`env\` (mappings or lists of \`key=value\`), \`settings\`, \`agents\`, \`mcp-config\` and \`json-schema\` (an object, or the path of a JSON file relative to FILE), and the others. A string alone is a prompt. Every entry is checked before anything starts; a mistake names its line.

      At most \`--parallel\` tasks run at once (the rest wait here, not in the router's queue). On a terminal each task has a status line, redrawn in place; otherwise a line is printed for each task that is queued, starts or ends. At the end a table lists every task: its entry, task id, worker, status, turns, cost and duration.

      \`--json\` prints, instead of the table, one JSON object on stdout (progress goes to stderr): \`tasks\`, in file order, each with \`index\` (its place in the file), \`line\`, \`name\`, \`label\`, \`taskId\`, \`workerId\`, \`status\` (\`succeeded\`, \`failed\`, \`cancelled\` or \`not_started\`), \`outcome\` (\`done\`, \`error_max_turns\`, \`timed out\`, \`refused\`…), \`exitCode\` (as \`cc run\` would exit for it), \`turns\`, \`costUsd\`, \`durationMs\`, \`sessionId\`, \`result\` (claude's answer), \`structuredOutput\` (with \`json-schema\`) and \`message\` (why it failed); and \`summary\` with \`total\`, \`succeeded\`, \`failed\`, \`cancelled\` and \`notStarted\`. Fields not known are null. The names and meanings stay; fields may be added.

      Ctrl-C on a terminal asks whether to cancel the running tasks; yes (or Ctrl-C again) cancels every task the batch started and starts no more. Without a terminal the first Ctrl-C does that at once.

      Exit codes: \`0\` every task succeeded, \`1\` one or more failed or were cancelled, \`2\` the file or a flag is wrong (nothing was started), \`3\`/\`4\` no task could be sent because the router could not be reached or refused them all, \`130\` interrupted.
    `,
    examples: [
      ["Run a JSON Lines file, four tasks at a time", "$0 batch tasks.jsonl"],
      ["Eight at a time, with the results as JSON", "$0 batch --parallel 8 --json tasks.yaml > results.json"],
      ["From standard input", `printf '%s\\n' '{"prompt": "fix lint"}' '{"prompt": "add tests", "model": "opus"}' | $0 batch -`],
    ],
  });

  parallel = ValueOption.String("-p,--parallel <k>", "4", { description: "Run at most k tasks at once (1-64, default 4)" });
  json = Option.Boolean("--json", false, { description: "Print the results as one JSON object (progress goes to stderr)" });
  file = Option.String({ name: "file" });

  async execute(): Promise<number> {
    const [{ runBatch }, { wholeNumber }] = await Promise.all([import("../lib/batch/batch.js"), import("../lib/numbers.js")]);
    return runBatch(this.context, { file: this.file, parallel: wholeNumber("--parallel", this.parallel, 1, 64), json: this.json, ...this.connectionFlags() }, { onRouter: (url) => (this.routerUrl = url) });
  }
}
