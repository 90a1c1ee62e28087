// The glue behind `cc run`: checks the flags, reads the prompt, opens the router (or an embedded cluster) and runs
// the task. Loaded by the command only when it runs.
import { create } from "@bufbuild/protobuf";
import { UsageError } from "clipanion";
import { AgentOptionsSchema, WorkspaceSchema, type RunRequest, type Workspace } from "../../gen/claudecluster/v1/run_pb.js";
import { parseApproveRules } from "./approve-rules.js";
import { ExitCode } from "../exit-codes.js";
import { applyChanges } from "./changes/apply.js";
import { uploadDirFor, uploadForRun } from "./checkout/for-run.js";
import { resolveConnection, type ConnectionFlags } from "./connection.js";
import { OUTPUT_FORMATS, type OutputFormat } from "./formats.js";
import type { CommandIO, SignalSource } from "./io.js";
import { EMBEDDED_ROUTER, noteLastSession, readLastSession } from "./last-session.js";
import { wholeNumber } from "./numbers.js";
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
  /** -c: resume the caller's latest session (last-session.ts). */
  continueLatest?: boolean | undefined;
  /** -n: how many attempts. */
  count?: string | undefined;
}

/** More attempts than this at once is a batch, not a fan-out. */
export const MAX_ATTEMPTS = 32;

export function checkOutputFormat(raw: string | undefined): Format {
  if (raw === undefined) return "pretty";
  if (!(OUTPUT_FORMATS as readonly string[]).includes(raw)) throw new UsageError(`--output-format must be one of ${OUTPUT_FORMATS.join(", ")}; got "${raw}"`);
  return raw as OutputFormat;
}

/** Flag combinations that make no sense, caught before anything is sent. */
export function checkRunFlags(input: RunCommandInput, io: Pick<CommandIO, "stdin" | "stdout">, count = 1): Format {
  const format = checkOutputFormat(input.outputFormat);
  if (input.continueLatest && input.resume !== undefined) throw new UsageError("give either --continue (your latest session) or --resume SESSION, not both");
  if (count > 1) {
    if (input.interactive) throw new UsageError("-n runs headless attempts side by side; it does not go with -i");
    if (format !== "pretty") {
      throw new UsageError("--output-format prints one task's output; with -n, read an attempt with `cc attach --output-format json <task>` or use `cc batch --json`");
    }
    if (input.continueLatest || input.resume !== undefined) throw new UsageError("-n starts new sessions; --continue and --resume continue one, so they do not go with -n");
    if (input.apply) throw new UsageError("--apply applies one task's changes; with -n, pick the attempt you want from the table and run `cc apply <task>`");
  }
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
  const count = input.count === undefined ? 1 : wholeNumber("-n", input.count, 1, MAX_ATTEMPTS);
  const format = checkRunFlags(input, io, count);
  const prompt = await resolvePrompt(input.prompt, io.stdin);
  const stdout = io.stdout as { columns?: number; rows?: number };
  const request = buildRunRequest(prompt, input, { terminal: { cols: stdout.columns ?? 120, rows: stdout.rows ?? 40 }, callerEnv: io.env });
  const rules = parseApproveRules(input.approve);
  const ask = (io.stdin as { isTTY?: boolean }).isTTY === true && io.stderr.isTTY === true;
  // A headless task asks instead of being refused what it was not pre-authorised, when someone can answer: the
  // person at this terminal, an --approve rule, or (detached) whoever attaches later. Otherwise claude refuses at
  // once, exactly as `claude -p` does (and a warm process of the default profile can take the task); cc notes
  // what was refused. Attempts of a fan-out (-n) are not asked about: nobody could tell them apart in one terminal.
  if (!input.interactive && count === 1 && (ask || rules.length > 0 || input.detach)) (request.agent ??= create(AgentOptionsSchema)).askPermissions = true;
  // A detached task must outlive this command, which a cluster started for the call does not.
  if (input.detach && resolveConnection(io.env, input).router === "") {
    throw new UsageError("-d needs a router that keeps running after cc returns: start one with `cc up` and set --router or CC_ROUTER_URL");
  }
  const configured = resolveConnection(io.env, input).router;
  const embedded = configured === "";
  const sessionsKey = embedded ? EMBEDDED_ROUTER : configured;
  if (input.continueLatest) continueLatest(io, request, sessionsKey, input.worker);
  const uploadDir = await uploadDirFor(input, embedded, process.cwd());
  if (input.apply && !uploadDir && input.repo === undefined) {
    throw new UsageError("--apply needs a task in a git workspace of its own: run it in a git checkout (it is uploaded), or with --upload or --repo");
  }
  // On a cluster started for this call, claude works where cc was run, as `claude -p` would (an upload or a clone goes
  // to a directory of the task's own, not into this one); attempts of a fan-out each get a directory of their own
  // there (./.tasks/<task id>), so that they do not write over each other.
  const inPlace = embedded && !request.workspace && !uploadDir;
  if (inPlace && count === 1) request.workspace = create(WorkspaceSchema, { source: { case: "directory", value: "." } });
  const router = await openRouter(io.env, input, { allowEmbedded: true, ...(inPlace ? { workspaceRoot: process.cwd() } : {}) });
  options.onRouter?.(router.url);
  const pretty = format === "pretty" && io.stderr.isTTY === true;
  if (router.embedded && pretty && !input.interactive) {
    io.stderr.write(styleFor(io.stderr, io.env).dim("no router configured: running on a local cluster started for this call (see `cc up` and `cc config`)\n"));
  }
  try {
    if (count > 1) {
      // An upload serves one task: each attempt gets its own (and runs on the worker it went to).
      const workspaces: Workspace[] = [];
      for (let i = 0; uploadDir && i < count; i++) workspaces.push(await uploadForRun(io, router.client, uploadDir, request, pretty));
      const { fanOut } = await import("./fleet/fan-out.js");
      return await fanOut({
        io,
        client: router.client,
        router: router.url,
        request,
        count,
        detach: input.detach === true,
        ...(workspaces.length > 0 ? { workspaces } : {}),
        ...(options.signals ? { signals: options.signals } : {}),
      });
    }
    if (uploadDir) request.workspace = await uploadForRun(io, router.client, uploadDir, request, pretty);
    let taskId = "";
    const seen = { taskId: "", workerId: "", sessionId: "" };
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
      onEvent: (ev) => {
        seen.taskId = ev.taskId || seen.taskId;
        if (ev.event.case === "started") seen.workerId = ev.event.value.workerId;
        if (ev.event.case === "message" && ev.event.value.sessionId) seen.sessionId = ev.event.value.sessionId;
      },
    });
    if (seen.sessionId && seen.workerId) {
      const directory = request.workspace?.source.case === "directory" && request.workspace.source.value !== "." ? request.workspace.source.value : undefined;
      noteLastSession(io.env, sessionsKey, process.cwd(), { ...seen, ...(directory ? { directory } : {}), at: Date.now() });
    }
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

/** --continue: the session of the caller's latest `cc run` from this directory on this router, on its worker. */
function continueLatest(io: CommandIO, request: RunRequest, sessionsKey: string, worker: string | undefined): void {
  const cwd = process.cwd();
  const last = readLastSession(io.env, sessionsKey, cwd);
  if (!last) {
    throw new UsageError(`--continue: no earlier \`cc run\` from ${cwd} on ${sessionsKey === EMBEDDED_ROUTER ? "a local cluster" : sessionsKey} to continue; run one first, or give --resume SESSION`);
  }
  if (worker !== undefined && worker !== last.workerId) {
    throw new UsageError(`--continue: your latest session (task ${last.taskId}) ran on worker ${last.workerId}, and continues there; leave out --worker ${worker}`);
  }
  request.agent!.resumeSessionId = last.sessionId;
  request.workerId = last.workerId;
  if (last.directory && !request.workspace) request.workspace = create(WorkspaceSchema, { source: { case: "directory", value: last.directory } });
}
