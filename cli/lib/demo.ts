// `cc demo`: ClaudeCluster end to end on this machine with no account. The real claude runs on two local workers,
// talking to the scripted model (a fake Anthropic API in this process that plays back canned answers).
import { mkdtempSync, readFileSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { RunRequestSchema, type RunEvent } from "../../gen/claudecluster/v1/run_pb.js";
import type { Script } from "../../services/scripted-model/index.js";
import { ExitCode } from "../exit-codes.js";
import { connectRouter } from "./client.js";
import { embeddedLogger, startLocalCluster } from "./embedded.js";
import { follow } from "./follow.js";
import { formatDuration } from "./formats.js";
import { processSignals, type CommandIO, type SignalSource } from "./io.js";
import { taskOutcome } from "./outcome.js";
import { followTask } from "./run-task.js";
import { styleFor } from "./style.js";

export const DEMO_FILE = "hello.txt";
const PARALLEL_DELAY_MS = 1500;

export const DEMO_SCRIPT: Script = {
  conversations: [
    {
      match: "introduce yourself",
      turns: [
        {
          chunkDelayMs: 40,
          content: [
            {
              type: "text",
              text: "Hello! I am Claude Code, running on a ClaudeCluster worker. This answer streams to your terminal as the model writes it, a few words at a time.",
            },
          ],
        },
      ],
    },
    {
      match: "write a file",
      turns: [
        {
          content: [
            { type: "text", text: "I'll write the file with a shell command." },
            { type: "tool_use", name: "Bash", input: { command: `printf 'Hello from ClaudeCluster!\\n' > ${DEMO_FILE}`, description: `Write ${DEMO_FILE}` } },
          ],
        },
        { content: [{ type: "text", text: `Done: ${DEMO_FILE} holds a greeting.` }] },
      ],
    },
    { match: "parallel", turns: [{ delayMs: PARALLEL_DELAY_MS, content: [{ type: "text", text: "Finished {{prompt}}." }] }] },
  ],
};

export interface DemoOptions {
  signals?: SignalSource;
  /** Keep the temporary directory (for tests that look at it). */
  keepFiles?: boolean;
}

export async function demo(io: CommandIO, options: DemoOptions = {}): Promise<number> {
  const s = styleFor(io.stdout, io.env);
  const say = (text = "") => io.stdout.write(text + "\n");
  // Everything goes to stdout, in order, so the demo reads as one story.
  const storyIO: CommandIO = { ...io, stderr: io.stdout as CommandIO["stderr"] };

  say(s.bold("ClaudeCluster demo"));
  say(
    "The model is scripted: a fake Anthropic API inside this process plays back canned answers to the real claude.\n" +
      "No Claude account or API key is used, and nothing leaves this machine.",
  );
  say();

  const { startScriptedModel } = await import("../../services/scripted-model/index.js");
  const root = realpathSync(mkdtempSync(join(tmpdir(), "cc-demo-")));
  const model = await startScriptedModel({ script: DEMO_SCRIPT });
  let cluster: Awaited<ReturnType<typeof startLocalCluster>> | undefined;
  let conn: ReturnType<typeof connectRouter> | undefined;
  // Ctrl-C anywhere ends the demo cleanly: the tasks stop, the cluster closes, the files go.
  const signals = options.signals ?? processSignals;
  const interrupt = new AbortController();
  const onInterrupt = () => interrupt.abort();
  signals.on("SIGINT", onInterrupt);
  try {
    say("Starting a local cluster with 2 workers…");
    cluster = await startLocalCluster({
      workers: 2,
      env: { ANTHROPIC_BASE_URL: model.url, ANTHROPIC_API_KEY: "sk-ant-demo-dummy-key-not-a-real-key", CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1" },
      // A home of its own, so the user's ~/.claude.json and login are never read or touched.
      claudeHome: join(root, "home"),
      workspaceRoot: join(root, "workspaces"),
      logger: await embeddedLogger(io.env),
    });
    say(s.dim(`  router    ${cluster.url}`));
    cluster.workerUrls.forEach((u, i) => say(s.dim(`  worker ${i + 1}  ${u}`)));
    conn = connectRouter(cluster.url, "");
    const client = conn.client;
    const common = { io: storyIO, client, router: cluster.url, format: "pretty" as const, includePartials: false, onInterrupt: "cancel" as const, signals };

    say();
    say(`${s.bold("1. Streamed text")}  ${s.dim('$ cc run "introduce yourself"')}`);
    let code = await followTask({ ...common, start: { run: create(RunRequestSchema, { prompt: "introduce yourself" }) } });
    if (code !== ExitCode.Ok) return code;

    say();
    say(`${s.bold("2. A tool call that writes a file")}  ${s.dim('$ cc run --allowed-tools Bash "write a file"')}`);
    let workspace = "";
    const fileRequest = create(RunRequestSchema, { prompt: "write a file", agent: { allowedTools: ["Bash"] } });
    code = await followTask({
      ...common,
      start: { run: fileRequest },
      onEvent: (ev) => {
        if (ev.event.case === "started") workspace = ev.event.value.workspace;
      },
    });
    if (code !== ExitCode.Ok) return code;
    const file = join(workspace, DEMO_FILE);
    say(`  the file claude wrote, ${s.cyan(file)}:`);
    say(
      readFileSync(file, "utf8")
        .trimEnd()
        .split("\n")
        .map((l) => `    ${l}`)
        .join("\n"),
    );

    say();
    say(`${s.bold("3. Three tasks in parallel")}  ${s.dim('$ cc run "parallel task 1" & cc run "parallel task 2" & cc run "parallel task 3"')}`);
    const started = Date.now();
    const results = await Promise.all(
      [1, 2, 3].map(async (n) => {
        let workerId = "";
        let t0 = 0;
        const result = await follow({
          client,
          start: { run: create(RunRequestSchema, { prompt: `parallel task ${n}` }) },
          signal: interrupt.signal,
          onEvent: (ev: RunEvent) => {
            if (ev.event.case === "started") {
              workerId = ev.event.value.workerId;
              t0 = Date.now();
              say(`  [${n}] task ${ev.taskId} started on ${workerId}`);
            }
          },
        });
        const exited = result.exited;
        const outcome = exited ? taskOutcome(exited, { taskId: result.taskId, workerId }) : undefined;
        const text = exited?.result?.result ?? "";
        say(`  [${n}] ${outcome?.summary.ok ? s.green("✓") : s.red("✗")} ${text || outcome?.summary.outcome || "no result"} ${s.dim(`(${formatDuration(Date.now() - t0)} on ${workerId})`)}`);
        return { ok: outcome?.summary.ok === true, workerId };
      }),
    );
    if (interrupt.signal.aborted) return ExitCode.Interrupted;
    const workers = new Set(results.map((r) => r.workerId)).size;
    say(`  all three ran at the same time, on ${workers} ${workers === 1 ? "worker" : "workers"}, and were done in ${formatDuration(Date.now() - started)}.`);
    if (!results.every((r) => r.ok)) return ExitCode.AgentError;

    say();
    say(`That was ClaudeCluster. Next: \`cc up\` for a cluster of your own, then \`cc run "your prompt"\`.`);
    return ExitCode.Ok;
  } finally {
    signals.off("SIGINT", onInterrupt);
    conn?.close();
    await cluster?.close();
    await model.close();
    if (!options.keepFiles) rmSync(root, { recursive: true, force: true });
  }
}
