// The glue behind `cc run`: checks the flags, reads the prompt, opens the router (or an embedded cluster) and runs
// the task. Loaded by the command only when it runs.
import { create } from "@bufbuild/protobuf";
import { UsageError } from "clipanion";
import { AgentOptionsSchema, WorkspaceSchema } from "../../gen/claudecluster/v1/run_pb.js";
import { parseApproveRules } from "./approve-rules.js";
import { ExitCode } from "../exit-codes.js";
import { applyChanges } from "./changes/apply.js";
import { uploadDirFor, uploadForRun } from "./checkout/for-run.js";
import { resolveConnection, type ConnectionFlags } from "./connection.js";
import { OUTPUT_FORMATS, type OutputFormat } from "./formats.js";
import type { CommandIO, SignalSource } from "./io.js";
import { resolvePrompt } from "./prompt.js";
import { openRouter } from "./router.js";
import { buildRunRequest, type RunFlags } from "./run-request.js";
import { runTask } from "./run-task.js";
import { styleFor } from "./style.js";
import type { Format } from "./task-output.js";

export interface RunCommandInput extends RunFlags, ConnectionFlags {
  prompt: string[];
  /** --approve: tool patterns allowed when claude asks. */
  approve?: string[] | undefined;
  outputFormat?: string | undefined;
  includePartialMessages?: boolean | undefined;
  /** --upload, --upload=DIR, --no-upload (services the checkout: cli/lib/checkout/for-run.ts). */
  upload?: boolean | string | undefined;
  /** Apply the task's changes here when it succeeds. */
  apply?: boolean | undefined;
}

export function checkOutputFormat(raw: string | undefined): Format {
  if (raw === undefined) return "pretty";
  if (!(OUTPUT_FORMATS as readonly string[]).includes(raw)) throw new UsageError(`--output-format must be one of ${OUTPUT_FORMATS.join(", ")}; got "${raw}"`);
  return raw as OutputFormat;
}

/** Flag combinations that make no sense, caught before anything is sent. */
export function checkRunFlags(input: RunCommandInput, io: Pick<CommandIO, "stdin" | "stdout">): Format {
  const format = checkOutputFormat(input.outputFormat);
  if (input.interactive && input.detach) throw new UsageError("-i and -d do not go together: start with -i and detach with Ctrl-P Ctrl-Q instead");
  if (input.interactive && format !== "pretty") throw new UsageError("--output-format applies to headless runs, not to -i");
  if (input.detach && format !== "pretty") throw new UsageError("-d prints only the task id; use --output-format with `cc attach` later");
  if (input.includePartialMessages && format !== "stream-json") throw new UsageError("--include-partial-messages needs --output-format stream-json");
  if (input.approve?.length && input.interactive) throw new UsageError("--approve answers a headless task's permission requests; with -i claude asks in its own terminal UI");
  if (input.approve?.length && input.detach) {
    throw new UsageError("--approve is applied by cc while it follows the task; answer a detached task's requests with `cc attach`, or allow tools up front with --allowed-tools");
  }
  if (input.apply && input.detach) throw new UsageError("--apply waits for the task to end, -d does not: apply a detached task's changes later with `cc apply TASK`");
  if (input.apply && input.interactive) throw new UsageError("--apply goes with headless runs; after -i, apply the changes with `cc apply TASK`");
  if (input.interactive) {
    const stdin = io.stdin as { isTTY?: boolean };
    if (!stdin.isTTY || !(io.stdout as { isTTY?: boolean }).isTTY) throw new UsageError("-i needs a terminal on stdin and stdout");
    if (input.prompt.length === 1 && input.prompt[0] === "-") throw new UsageError("-i cannot read the prompt from stdin; give it as arguments");
  }
  return format;
}

export async function runCommand(io: CommandIO, input: RunCommandInput, options: { signals?: SignalSource; onRouter?: (url: string) => void } = {}): Promise<number> {
  const format = checkRunFlags(input, io);
  const prompt = await resolvePrompt(input.prompt, io.stdin);
  const stdout = io.stdout as { columns?: number; rows?: number };
  const request = buildRunRequest(prompt, input, { terminal: { cols: stdout.columns ?? 120, rows: stdout.rows ?? 40 } });
  const rules = parseApproveRules(input.approve);
  const ask = (io.stdin as { isTTY?: boolean }).isTTY === true && io.stderr.isTTY === true;
  // A headless task asks instead of being refused what it was not pre-authorised, when someone can answer: the
  // person at this terminal, an --approve rule, or (detached) whoever attaches later. Otherwise claude refuses at
  // once, exactly as `claude -p` does (and a warm process of the default profile can take the task); cc notes
  // what was refused.
  if (!input.interactive && (ask || rules.length > 0 || input.detach)) (request.agent ??= create(AgentOptionsSchema)).askPermissions = true;
  // A detached task must outlive this command, which a cluster started for the call does not.
  if (input.detach && resolveConnection(io.env, input).router === "") {
    throw new UsageError("-d needs a router that keeps running after cc returns: start one with `cc up` and set --router or CC_ROUTER_URL");
  }
  const embedded = resolveConnection(io.env, input).router === "";
  const uploadDir = await uploadDirFor(input, embedded, process.cwd());
  if (input.apply && !uploadDir && input.repo === undefined) {
    throw new UsageError("--apply needs a task in a git workspace of its own: run it in a git checkout (it is uploaded), or with --upload or --repo");
  }
  // On a cluster started for this call, claude works where cc was run, as `claude -p` would (an upload or a clone goes
  // to a directory of the task's own, not into this one).
  const inPlace = embedded && !request.workspace && !uploadDir;
  if (inPlace) request.workspace = create(WorkspaceSchema, { source: { case: "directory", value: "." } });
  const router = await openRouter(io.env, input, { allowEmbedded: true, ...(inPlace ? { workspaceRoot: process.cwd() } : {}) });
  options.onRouter?.(router.url);
  const pretty = format === "pretty" && io.stderr.isTTY === true;
  if (router.embedded && pretty && !input.interactive) {
    io.stderr.write(styleFor(io.stderr, io.env).dim("no router configured: running on a local cluster started for this call (see `cc up` and `cc config`)\n"));
  }
  try {
    if (uploadDir) request.workspace = await uploadForRun(io, router.client, uploadDir, request, pretty);
    let taskId = "";
    const code = await runTask({
      io,
      client: router.client,
      router: router.url,
      request,
      format,
      includePartials: input.includePartialMessages === true,
      embedded: router.embedded,
      permissions: { rules, ask, otherwise: "deny" },
      onTask: (id) => (taskId = id),
      ...(options.signals ? { signals: options.signals } : {}),
    });
    if (!input.apply && router.embedded && taskId !== "" && (uploadDir !== undefined || input.repo !== undefined) && pretty) {
      io.stderr.write(styleFor(io.stderr, io.env).dim(`the local cluster stops now, and with it the way to task ${taskId}'s changes: run with --apply to apply them here\n`));
    }
    if (!input.apply || taskId === "") return code;
    if (code !== ExitCode.Ok) {
      io.stderr.write(`cc: task ${taskId} did not succeed, so its changes were not applied (\`cc diff ${taskId}\` shows them, \`cc apply ${taskId}\` applies them)\n`);
      return code;
    }
    return await applyChanges({ client: router.client, io, taskId, cwd: process.cwd() });
  } finally {
    await router.close();
  }
}

