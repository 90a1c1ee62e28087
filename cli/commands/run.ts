// `cc run`: run Claude Code on the cluster.
import { Command, Option } from "clipanion";
import { RouterCommand } from "../command.js";
import { EXIT_CODES_HELP, indented } from "../exit-codes.js";

export class RunCommand extends RouterCommand {
  static override paths = [["run"]];

  static override usage = Command.Usage({
    description: "Run Claude Code on the cluster",
    details: `
      Sends the prompt to the router, which places it on a worker, and follows the task to its end. The prompt is the arguments joined by spaces, or standard input when the only argument is \`-\`.

      By default the assistant's text streams as it arrives, each tool call shows as one line (\`⏺ Bash(echo hi > out.txt)\`), and a summary (duration, turns, cost, session id, worker, task id) goes to stderr. \`--output-format text|json|stream-json\` prints exactly what \`claude -p --output-format ...\` prints, and nothing else, on stdout.

      \`-d\` starts the task detached: the task id is printed and the task runs on. \`-i\` opens the remote claude's terminal UI here; Ctrl-P Ctrl-Q detaches from it and leaves the task running.

      The first Ctrl-C cancels the task. If the stream to the router drops, cc re-attaches to the task by itself. With no router configured (--router, CC_ROUTER_URL or a profile), a local cluster is started for the call.

      ${indented(EXIT_CODES_HELP)}
    `,
    examples: [
      ["Ask a question", "$0 run what does this repository do"],
      ["Read the prompt from a file", "$0 run - < prompt.md"],
      ["Let claude run shell commands and edit files", "$0 run --allowed-tools Bash,Edit fix the failing test"],
      ["Print the result as claude -p does, for scripts", "$0 run --output-format json summarise README.md"],
      ["Start a task and come back to it later", "$0 run -d refactor the parser && cc ps"],
      ["Open the remote claude's terminal UI", "$0 run -i"],
      ["Run on a worker labelled region=eu, in a shared directory, for at most 10 minutes", "$0 run --label region=eu --cwd myproject --timeout 10m run the tests"],
    ],
  });

  interactive = Option.Boolean("-i,--interactive", false, { description: "Open the remote claude's terminal UI in this terminal (detach with Ctrl-P Ctrl-Q)" });
  detach = Option.Boolean("-d,--detach", false, { description: "Start the task, print its id and return; it keeps running" });
  outputFormat = Option.String("--output-format", { description: "text, json or stream-json: print exactly what claude -p prints in that format" });
  includePartialMessages = Option.Boolean("--include-partial-messages", false, { description: "With --output-format stream-json: include claude's partial-message events" });

  model = Option.String("--model", { description: "claude --model: a model alias (sonnet, opus) or a full model name" });
  allowedTools = Option.Array("--allowed-tools,--allowedTools", { description: "claude --allowedTools: tools claude may use without asking, e.g. Bash,Edit (repeatable)" });
  disallowedTools = Option.Array("--disallowed-tools,--disallowedTools", { description: "claude --disallowedTools: tools claude must not use (repeatable)" });
  permissionMode = Option.String("--permission-mode", { description: "claude --permission-mode: acceptEdits, auto, bypassPermissions, manual, dontAsk or plan" });
  maxTurns = Option.String("--max-turns", { description: "claude --max-turns: stop after this many agent turns" });
  systemPrompt = Option.String("--system-prompt", { description: "claude --system-prompt: replace the default system prompt" });
  appendSystemPrompt = Option.String("--append-system-prompt", { description: "claude --append-system-prompt: add to the default system prompt" });
  mcpConfig = Option.String("--mcp-config", { description: "claude --mcp-config: MCP servers as a JSON string or the path of a JSON file" });
  resume = Option.String("-r,--resume", { description: "claude --resume: continue this session id (its transcript must be on the same worker)" });
  maxBudgetUsd = Option.String("--max-budget-usd", { description: "claude --max-budget-usd: stop once the API cost passes this many dollars" });

  worker = Option.String("--worker", { description: "Run on this worker only" });
  label = Option.Array("--label", { description: "Run on a worker with this label, as key=value (repeatable)" });
  cwd = Option.String("--cwd", { description: "Work in this directory under the worker's workspace root (created if missing, shared between tasks)" });
  repo = Option.String("--repo", { description: "Clone this git repository (https://, ssh:// or git@host:org/repo) into the task's workspace" });
  ref = Option.String("--ref", { description: "With --repo: the branch, tag or commit to check out" });
  timeout = Option.String("--timeout", { description: "Stop the task after this long, e.g. 30s, 5m, 1h (default: the worker's)" });
  egress = Option.String("--egress", { description: "Where the task's commands may connect: none, open, or hosts and @presets, comma-separated (within the worker's policy)" });

  prompt = Option.Rest({ name: "prompt" });

  async execute(): Promise<number> {
    const { runCommand } = await import("../lib/run-command.js");
    return runCommand(this.context, {
      prompt: this.prompt,
      outputFormat: this.outputFormat,
      includePartialMessages: this.includePartialMessages,
      interactive: this.interactive,
      detach: this.detach,
      model: this.model,
      allowedTools: this.allowedTools,
      disallowedTools: this.disallowedTools,
      permissionMode: this.permissionMode,
      maxTurns: this.maxTurns,
      systemPrompt: this.systemPrompt,
      appendSystemPrompt: this.appendSystemPrompt,
      mcpConfig: this.mcpConfig,
      resume: this.resume,
      maxBudgetUsd: this.maxBudgetUsd,
      worker: this.worker,
      labels: this.label,
      cwd: this.cwd,
      repo: this.repo,
      ref: this.ref,
      timeout: this.timeout,
      egress: this.egress,
      ...this.connectionFlags(),
    }, { onRouter: (url) => (this.routerUrl = url) });
  }
}
