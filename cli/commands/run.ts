// `cc run`: run Claude Code on the cluster.
import { Command, Option } from "clipanion";
import { ValueOption } from "../options.js";
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

      When claude wants a tool its options do not allow (--allowed-tools, --permission-mode), it asks: on a terminal cc shows \`Allow Bash(rm -rf build)? [y]es / [n]o / [a]lways\` (always: that tool for the rest of the task), and calls matching an \`--approve\` pattern are allowed without asking (with no terminal, the rest are denied). With neither a terminal nor --approve, claude refuses such calls itself, as \`claude -p\` does, and cc notes each refusal. A request nobody answers is denied after the worker's CC_PERMISSION_TIMEOUT; a detached task waits for \`cc attach\` to answer.

      The first Ctrl-C cancels the task. If the stream to the router drops, cc re-attaches to the task by itself. With no router configured (--router, CC_ROUTER_URL or a profile), a local cluster is started for the call.

      Run inside a git checkout against a router (not the local cluster), cc uploads the checkout by default: HEAD with what is staged, unstaged and untracked (ignored files never leave the machine), without touching your index or stash. The task works on it on a branch of its own, \`cc/<task id>\`. \`--no-upload\` turns that off; \`--upload\` turns it on with --repo (then only what the repository lacks is sent) or on the local cluster; \`--upload=DIR\` sends another directory, a tarball when it is not in git (honouring .gitignore and a .ccignore at its top). The task's changes come back with \`cc diff\`, \`cc apply\`, or \`--apply\` here: applied to this checkout when the task succeeds. \`--repo URL --push\` pushes the task's branch (\`cc/<task id>\`, or \`--push-branch\`) to the repository, never forcing.

      \`-n N\` runs N attempts of the same task at once, on different workers while there are workers to spare: one status line each on a terminal (each attempt's output, prefixed \`[1]\`, \`[2]\`…, otherwise), then a table of attempt, task id, worker, status, turns, cost and duration. With \`-n\`, cc exits 0 if any attempt succeeded. On a cluster started for the call, each attempt works in a directory of its own, ./.tasks/<task id>.

      \`--env NAME=VALUE\` (or \`--env NAME\`, your own value) sets a variable for claude only: the router and worker never store, log or count it, and \`cc show\` lists only its name. Names the worker sets or guards itself (HOME, PATH, proxies, \`ANTHROPIC_*\`, \`CLAUDE_*\`, \`CC_*\`, \`LD_*\`, \`NODE_*\`…) are refused.

      A repository (\`--repo\`, or the upload) with a \`.claudecluster/environment.yaml\` is prepared before claude starts: its \`setup\` script runs in the task's sandbox (shown as "setting up"), the worker keeps the result as a snapshot, and later tasks start from it and run its \`maintenance\` script instead. \`--no-cache\` runs setup afresh; \`--setup-secret NAME\` passes NAME from your environment to setup only (the file must list it under \`secrets\`).

      \`--continue\` resumes your latest session: the one of the last \`cc run\` from this directory on this router (cc notes it in $XDG_STATE_HOME/claudecluster/sessions.json), on the worker it ran on and in its \`--cwd\`, since claude keeps a session's transcript on that worker. \`--json-schema\` makes claude answer with JSON matching the schema, printed on stdout at the end.

      ${indented(EXIT_CODES_HELP)}
    `,
    examples: [
      ["Ask a question", "$0 run what does this repository do"],
      ["Read the prompt from a file", "$0 run - < prompt.md"],
      ["Let claude run shell commands and edit files", "$0 run --allowed-tools Bash,Edit fix the failing test"],
      ["In a script: allow the test runner when claude asks, deny the rest", "$0 run --approve 'Bash(npm test*)' --output-format json make the tests pass"],
      ["Print the result as claude -p does, for scripts", "$0 run --output-format json summarise README.md"],
      ["Start a task and come back to it later", "$0 run -d refactor the parser && cc ps"],
      ["Open the remote claude's terminal UI", "$0 run -i"],
      ["Run on a worker labelled region=eu, in a shared directory, for at most 10 minutes", "$0 run --label region=eu --cwd myproject --timeout 10m run the tests"],
      ["Work on this checkout remotely and apply the result here", "$0 run --apply --allowed-tools Bash,Edit fix the failing test"],
      ["Clone a repository, then push the task's branch to it", "$0 run --repo https://github.com/org/repo --push --allowed-tools Bash,Edit fix issue 42"],
      ["Three attempts side by side; keep the best", "$0 run -n 3 --allowed-tools Bash,Edit make the tests pass"],
      ["Give claude a token it needs, from your environment", "$0 run --env GITHUB_TOKEN open a pull request"],
      ["Ask a follow-up in the same session", "$0 run --continue now add tests for it"],
      ["Set the repository's environment up afresh, with a registry token for its setup only", "$0 run --repo https://github.com/org/repo --no-cache --setup-secret NPM_TOKEN run the tests"],
    ],
  });

  interactive = Option.Boolean("-i,--interactive", false, { description: "Open the remote claude's terminal UI in this terminal (detach with Ctrl-P Ctrl-Q)" });
  detach = Option.Boolean("-d,--detach", false, { description: "Start the task, print its id and return; it keeps running" });
  outputFormat = ValueOption.String("--output-format <format>", { description: "text, json or stream-json: print exactly what claude -p prints in that format" });
  includePartialMessages = Option.Boolean("--include-partial-messages", false, { description: "With --output-format stream-json: include claude's partial-message events" });

  model = ValueOption.String("--model <model>", { description: "claude --model: a model alias (sonnet, opus) or a full model name" });
  allowedTools = ValueOption.Array("--allowed-tools,--allowedTools <tools>", { description: "claude --allowedTools: tools claude may use without asking, e.g. Bash,Edit (repeatable)" });
  disallowedTools = ValueOption.Array("--disallowed-tools,--disallowedTools <tools>", { description: "claude --disallowedTools: tools claude must not use (repeatable)" });
  permissionMode = ValueOption.String("--permission-mode <mode>", { description: "claude --permission-mode: acceptEdits, auto, bypassPermissions, manual, dontAsk or plan" });
  maxTurns = ValueOption.String("--max-turns <n>", { description: "claude --max-turns: stop after this many agent turns" });
  systemPrompt = ValueOption.String("--system-prompt <text>", { description: "claude --system-prompt: replace the default system prompt" });
  appendSystemPrompt = ValueOption.String("--append-system-prompt <text>", { description: "claude --append-system-prompt: add to the default system prompt" });
  mcpConfig = ValueOption.String("--mcp-config <json|file>", { description: "claude --mcp-config: MCP servers as a JSON string or the path of a JSON file" });
  resume = ValueOption.String("-r,--resume <session>", { description: "claude --resume: continue this session id, on any worker when the router kept its transcript (see cc continue)" });
  maxBudgetUsd = ValueOption.String("--max-budget-usd <usd>", { description: "claude --max-budget-usd: stop once the API cost passes this many dollars" });

  worker = ValueOption.String("--worker <id>", { description: "Run on this worker only" });
  label = ValueOption.Array("--label <key=value>", { description: "Run on a worker with this label, as key=value (repeatable)" });
  cwd = ValueOption.String("--cwd <dir>", { description: "Work in this directory under the worker's workspace root (created if missing, shared between tasks)" });
  repo = ValueOption.String("--repo <url>", { description: "Clone this git repository (https://, ssh:// or git@host:org/repo) into the task's workspace" });
  ref = ValueOption.String("--ref <ref>", { description: "With --repo: the branch, tag or commit to check out" });
  timeout = ValueOption.String("--timeout <duration>", { description: "Stop the task after this long, e.g. 30s, 5m, 1h (default: the worker's)" });
  egress = ValueOption.String("--egress <policy>", { description: "Where the task's commands may connect: none, open, or hosts and @presets, comma-separated (within the worker's policy)" });
  env = ValueOption.Array("-e,--env <name=value>", { description: "Set a variable for claude only (repeatable); --env NAME passes your own value. Never kept or logged" });
  setupSecret = ValueOption.Array("--setup-secret <name>", { description: "Pass NAME from your environment to the repository's environment setup script only, never to claude (repeatable)" });
  noCache = Option.Boolean("--no-cache", false, { description: "Run the repository's environment setup afresh instead of starting from the worker's snapshot" });
  addDir = ValueOption.Array("--add-dir <dir>", { description: "claude --add-dir: another directory claude may use, under the worker's workspace root (repeatable)" });
  settings = ValueOption.String("--settings <json|file>", { description: "claude --settings: more settings, as a JSON string or the path of a JSON file" });
  agents = ValueOption.String("--agents <json|file>", { description: "claude --agents: custom subagents, as a JSON string or the path of a JSON file" });
  fallbackModel = ValueOption.String("--fallback-model <models>", { description: "claude --fallback-model: models to use when the main one is busy, comma-separated" });
  jsonSchema = ValueOption.String("--json-schema <json|file>", { description: "claude --json-schema: the answer must match this JSON Schema; it is printed as JSON" });
  continueLatest = Option.Boolean("-c,--continue", false, { description: "Continue your latest session from this directory on this router (on the worker it ran on)" });
  count = ValueOption.String("-n,--count <n>", { description: "Run n attempts at once, on different workers where possible, and compare them in a table" });
  approve = ValueOption.Array("--approve <pattern>", { description: "When claude asks, allow calls matching this pattern without asking, e.g. Bash, 'Bash(npm test*)', 'mcp__github__*' (repeatable)" });
  upload = Option.String("--upload", { tolerateBoolean: true, description: "Send this checkout (the default in a git checkout with a router), or --upload=DIR; --no-upload to send nothing" });
  apply = Option.Boolean("--apply", false, { description: "When the task succeeds, apply its changes to this checkout (as cc apply does)" });
  push = Option.Boolean("--push", false, { description: "With --repo: commit what claude left uncommitted and push the task's branch to the repository" });
  pushBranch = ValueOption.String("--push-branch <branch>", { description: "With --push: the branch to push (default cc/<task id>)" });
  pushAuthor = ValueOption.String("--push-author <name-email>", { description: "With --push: author of that commit, as 'Name <email>' (default: the worker's CC_GIT_AUTHOR)" });
  pushMessage = ValueOption.String("--push-message <text>", { description: "With --push: that commit's message (default: cc: work of task <id>, and the prompt)" });

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
      approve: this.approve,
      upload: this.upload,
      apply: this.apply,
      push: this.push,
      pushBranch: this.pushBranch,
      pushAuthor: this.pushAuthor,
      pushMessage: this.pushMessage,
      env: this.env,
      setupSecrets: this.setupSecret,
      noCache: this.noCache,
      addDirs: this.addDir,
      settings: this.settings,
      agents: this.agents,
      fallbackModel: this.fallbackModel,
      jsonSchema: this.jsonSchema,
      continueLatest: this.continueLatest,
      count: this.count,
      ...this.connectionFlags(),
    }, { onRouter: (url) => (this.routerUrl = url) });
  }
}
