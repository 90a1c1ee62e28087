// `cc routine save`: save a task definition on the router, to run later, on a schedule, or by API.
import { Command, Option } from "clipanion";
import { ValueOption } from "../../options.js";
import { RouterCommand } from "../../command.js";

export class RoutineSaveCommand extends RouterCommand {
  static override paths = [["routine", "save"]];

  static override usage = Command.Usage({
    category: "Routines",
    description: "Save a routine: a task definition kept on the router",
    details: `
      Saves a task on the router under NAME, shared by everyone who uses that router: the prompt (the arguments, joined by spaces) and the \`cc run\` options given here. The prompt is a template: \`{{key}}\` is filled from \`cc routine run NAME --set key=value\`, from the HTTP fire body's \`values\`, or from \`--default key=value\`; \`{{changed}}\` holds the paths \`cc watch\` saw change. A placeholder with no value is an error when the routine runs.

      \`--schedule CRON\` runs it by itself: five cron fields (minute hour day-of-month month day-of-week), read in \`--tz\` (an IANA zone; UTC by default). \`--overlap\` says what a scheduled time does while the last run still goes: skip (default), queue (run once it ends), or allow. \`--missed\` says what a router that was down does about the times it missed: skip (default: wait for the next time) or run-once (one run as soon as it is up).

      \`--retries N\` runs a failed task again up to N times, waiting \`--retry-backoff\` (10s by default) and twice as long each next time; each attempt is a new task, listed in \`cc routine show\`. \`--webhook URL\` posts each task's end as JSON, signed with \`--webhook-secret\` (header \`X-ClaudeCluster-Signature-256: sha256=<hex>\`, an HMAC-SHA256 of the body).

      \`--fire-token\` makes a token (printed once) that lets \`POST /routines/NAME/fire\` start the routine, for CI systems. A routine of that name must not exist yet: change one with \`cc routine apply -f\`, or \`--replace\`.
    `,
    examples: [
      ["Save a routine with a placeholder", '$0 routine save review --allowed-tools Read "Review the changes on {{branch}}"'],
      ["Every weekday at 9:00 in Paris", '$0 routine save standup --schedule "0 9 * * 1-5" --tz Europe/Paris "Summarise yesterday\'s commits"'],
      ["Retried twice, with a webhook", "$0 routine save nightly --retries 2 --webhook https://ci.example.com/hook --webhook-secret s3cret run the test suite"],
      ["Started by CI with curl", "$0 routine save deploy-check --fire-token check the deployment"],
    ],
  });

  name = Option.String({ name: "name" });
  description = ValueOption.String("--description <text>", { description: "What the routine is for, for listings" });
  defaults = ValueOption.Array("--default <key=value>", { description: "A value for a placeholder a run does not set (repeatable)" });
  schedule = ValueOption.String("--schedule <cron>", { description: 'Run by itself on this cron schedule, e.g. "0 9 * * 1-5"' });
  tz = ValueOption.String("--tz <zone>", { description: "With --schedule: the IANA time zone it is read in (default UTC)" });
  overlap = ValueOption.String("--overlap <policy>", { description: "With --schedule, while a run goes: skip (default), queue or allow" });
  missed = ValueOption.String("--missed <policy>", { description: "With --schedule, times missed while the router was down: skip (default) or run-once" });
  retries = ValueOption.String("--retries <n>", { description: "Run a failed task again up to n times (at most 10), each attempt a new task" });
  retryBackoff = ValueOption.String("--retry-backoff <duration>", { description: "With --retries: the wait before the first retry, doubled each time (default 10s)" });
  webhook = ValueOption.String("--webhook <url>", { description: "POST each task's end to this URL as JSON" });
  webhookSecret = ValueOption.String("--webhook-secret <secret>", { description: "With --webhook: sign the body with HMAC-SHA256 under this secret" });
  fireToken = Option.Boolean("--fire-token", false, { description: "Make a token for POST /routines/NAME/fire (printed once)" });
  replace = Option.Boolean("--replace", false, { description: "Replace a routine of that name" });

  model = ValueOption.String("--model <model>", { description: "claude --model: a model alias (sonnet, opus) or a full model name" });
  allowedTools = ValueOption.Array("--allowed-tools,--allowedTools <tools>", { description: "claude --allowedTools: tools claude may use without asking (repeatable)" });
  disallowedTools = ValueOption.Array("--disallowed-tools,--disallowedTools <tools>", { description: "claude --disallowedTools: tools claude must not use (repeatable)" });
  permissionMode = ValueOption.String("--permission-mode <mode>", { description: "claude --permission-mode" });
  maxTurns = ValueOption.String("--max-turns <n>", { description: "claude --max-turns: stop after this many agent turns" });
  appendSystemPrompt = ValueOption.String("--append-system-prompt <text>", { description: "claude --append-system-prompt: add to the default system prompt" });
  worker = ValueOption.String("--worker <id>", { description: "Run on this worker only" });
  label = ValueOption.Array("--label <key=value>", { description: "Run on a worker with this label (repeatable)" });
  cwd = ValueOption.String("--cwd <dir>", { description: "Work in this directory under the worker's workspace root" });
  repo = ValueOption.String("--repo <url>", { description: "Clone this git repository into the task's workspace" });
  ref = ValueOption.String("--ref <ref>", { description: "With --repo: the branch, tag or commit to check out" });
  timeout = ValueOption.String("--timeout <duration>", { description: "Stop each task after this long, e.g. 30s, 5m, 1h" });
  egress = ValueOption.String("--egress <policy>", { description: "Where the task's commands may connect: none, open, or hosts and @presets" });

  prompt = Option.Rest({ name: "prompt" });

  async execute(): Promise<number> {
    const [{ routineFromSpec }, { parsePairs, saveRoutine }] = await Promise.all([import("../../lib/routines/definition.js"), import("../../lib/routines/commands.js")]);
    const retries = this.retries !== undefined ? Number(this.retries) : undefined;
    if (retries !== undefined && !(Number.isInteger(retries) && retries >= 0)) throw new (await import("clipanion")).UsageError(`--retries expects a whole number, got "${this.retries}"`);
    const routine = routineFromSpec({
      name: this.name,
      description: this.description,
      prompt: this.prompt.join(" "),
      defaults: parsePairs("--default", this.defaults),
      schedule: this.schedule !== undefined ? { cron: this.schedule, timeZone: this.tz, overlap: this.overlap, missed: this.missed } : undefined,
      retry: retries !== undefined || this.retryBackoff !== undefined ? { maxRetries: retries, backoff: this.retryBackoff } : undefined,
      webhook: this.webhook !== undefined ? { url: this.webhook, secret: this.webhookSecret } : undefined,
      task: {
        model: this.model,
        allowedTools: this.allowedTools,
        disallowedTools: this.disallowedTools,
        permissionMode: this.permissionMode,
        maxTurns: this.maxTurns,
        appendSystemPrompt: this.appendSystemPrompt,
        worker: this.worker,
        labels: this.label,
        cwd: this.cwd,
        repo: this.repo,
        ref: this.ref,
        timeout: this.timeout,
        egress: this.egress,
      },
    });
    return this.withRoutines((c) => saveRoutine(c, routine, { replace: this.replace, fireToken: this.fireToken }));
  }
}
