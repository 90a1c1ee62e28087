// `cc continue`: continue an ended task's claude session, on any worker.
import { Command, Option } from "clipanion";
import { RouterCommand } from "../command.js";
import { EXIT_CODES_HELP, indented } from "../exit-codes.js";
import { ValueOption } from "../options.js";

export class ContinueCommand extends RouterCommand {
  static override paths = [["continue"]];

  static override usage = Command.Usage({
    description: "Continue an ended task's session with a new prompt, on any worker",
    details: `
      Starts a new task that resumes the claude session of an ended task (as \`claude --resume\` does), and follows it like \`cc run\`. The new prompt is the arguments joined by spaces, or standard input when the only argument is \`-\`.

      The task may run on any worker, not only the one the first task ran on: when a task ends, the router keeps its session's transcript (at most its CC_MAX_TRANSCRIPT_BYTES) and sends it with the task that continues it. Unless \`--cwd\` says otherwise, the new task works where the first one did: the same \`--cwd\` directory; for a \`--repo\` task (or an upload with \`--repo\`), the same repository with the first task's recorded changes on top (its commits and what it left uncommitted, carried by the router to the new task's worker), or, when they cannot be carried, the branch it pushed or the same ref. A task that worked on an upload of a checkout alone starts in a fresh directory (its changes stay with it: \`cc apply\`). Nothing is uploaded from here.

      Any session the router kept can be continued by anyone holding the router's token: there are no per-user sessions yet.

      The task must have ended (\`cc wait\`), and have started claude: a task cancelled while it was queued or cloning has no session. A transcript larger than the router keeps continues only on its own worker (\`cc run --worker W --resume SESSION\`).

      ${indented(EXIT_CODES_HELP)}

      Refusals exit 4: an unknown task (NOT_FOUND), a task still running or one with no session (FAILED_PRECONDITION), a transcript over the router's bound (RESOURCE_EXHAUSTED).
    `,
    examples: [
      ["Ask a follow-up in the session of a task", "$0 continue 01jb3k5x2q now add tests for it"],
      ["The follow-up on a particular worker", "$0 continue --worker gpu-2 01jb3k5x2q run the benchmarks"],
      ["Start it detached", "$0 continue -d 01jb3k5x2q keep going"],
      ["Continue in the remote claude's terminal UI", "$0 continue -i 01jb3k5x2q"],
    ],
  });

  interactive = Option.Boolean("-i,--interactive", false, { description: "Open the resumed claude's terminal UI in this terminal (detach with Ctrl-P Ctrl-Q)" });
  detach = Option.Boolean("-d,--detach", false, { description: "Start the task, print its id and return; it keeps running" });
  outputFormat = ValueOption.String("--output-format <format>", { description: "text, json or stream-json: print exactly what claude -p prints in that format" });
  includePartialMessages = Option.Boolean("--include-partial-messages", false, { description: "With --output-format stream-json: include claude's partial-message events" });
  model = ValueOption.String("--model <model>", { description: "claude --model: a model alias (sonnet, opus) or a full model name" });
  allowedTools = ValueOption.Array("--allowed-tools,--allowedTools <tools>", { description: "claude --allowedTools: tools claude may use without asking, e.g. Bash,Edit (repeatable)" });
  disallowedTools = ValueOption.Array("--disallowed-tools,--disallowedTools <tools>", { description: "claude --disallowedTools: tools claude must not use (repeatable)" });
  permissionMode = ValueOption.String("--permission-mode <mode>", { description: "claude --permission-mode: acceptEdits, auto, bypassPermissions, manual, dontAsk or plan" });
  maxTurns = ValueOption.String("--max-turns <n>", { description: "claude --max-turns: stop after this many agent turns" });
  maxBudgetUsd = ValueOption.String("--max-budget-usd <usd>", { description: "claude --max-budget-usd: stop once the API cost passes this many dollars" });
  worker = ValueOption.String("--worker <id>", { description: "Run on this worker only (default: any worker)" });
  label = ValueOption.Array("--label <key=value>", { description: "Run on a worker with this label, as key=value (repeatable)" });
  cwd = ValueOption.String("--cwd <dir>", { description: "Work in this directory under the worker's workspace root (default: where the task worked)" });
  timeout = ValueOption.String("--timeout <duration>", { description: "Stop the task after this long, e.g. 30s, 5m, 1h (default: the worker's)" });
  env = ValueOption.Array("-e,--env <name=value>", { description: "Set a variable for claude only (repeatable); --env NAME passes your own value. Never kept or logged" });
  approve = ValueOption.Array("--approve <pattern>", { description: "When claude asks, allow calls matching this pattern without asking, e.g. Bash, 'Bash(npm test*)' (repeatable)" });

  task = Option.String({ name: "task" });
  prompt = Option.Rest({ name: "prompt" });

  async execute(): Promise<number> {
    const { runCommand } = await import("../lib/run-command.js");
    this.taskIdForErrors = this.task;
    return runCommand(
      this.context,
      {
        prompt: this.prompt,
        continueTask: this.task,
        // The session's workspace comes from the router; nothing is uploaded from here.
        upload: false,
        outputFormat: this.outputFormat,
        includePartialMessages: this.includePartialMessages,
        interactive: this.interactive,
        detach: this.detach,
        model: this.model,
        allowedTools: this.allowedTools,
        disallowedTools: this.disallowedTools,
        permissionMode: this.permissionMode,
        maxTurns: this.maxTurns,
        maxBudgetUsd: this.maxBudgetUsd,
        worker: this.worker,
        labels: this.label,
        cwd: this.cwd,
        timeout: this.timeout,
        env: this.env,
        approve: this.approve,
        ...this.connectionFlags(),
      },
      { onRouter: (url) => (this.routerUrl = url) },
    );
  }
}
