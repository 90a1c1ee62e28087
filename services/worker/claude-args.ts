// Turns a validated RunRequest into claude's argv. Pure, so every flag is unit-tested. Values go in `--flag=value`
// form or as separate argv entries, never through a shell; list flags are repeated once per entry because claude's
// list options are variadic and would otherwise swallow whatever follows them.
import { RunMode, type AgentOptions, type RunRequest } from "../../gen/claudecluster/v1/run_pb.js";

export interface ClaudeInvocation {
  args: string[];
  /** What to write to claude's stdin (headless: the prompt), or undefined for a terminal. */
  stdin?: string;
  /** Headless with `ask_permissions`: stdin stays open after the prompt, for the answers to claude's prompts. */
  holdStdin?: boolean;
}

/** A prompt as claude's `--input-format stream-json` takes it: one user message on one line. */
export function streamJsonUserMessage(prompt: string): string {
  return `${JSON.stringify({ type: "user", message: { role: "user", content: [{ type: "text", text: prompt }] } })}\n`;
}

export interface InvocationOptions {
  /** JSON for `--settings` that installs the worker's status hooks (interactive mode). */
  hookSettings?: string;
  /** `agent.add_dirs` resolved to absolute paths on this worker (workspace.ts · prepareExtraDirectories). */
  addDirs?: readonly string[];
  /**
   * The file holding `agent.mcp_config_json` (task-files.ts): the JSON itself never goes on the command line, which
   * every process on the machine can read. Required when the request has an MCP config.
   */
  mcpConfigFile?: string;
}

export function claudeInvocation(req: RunRequest, options: InvocationOptions = {}): ClaudeInvocation {
  const agent = agentFlags(req.agent, options.addDirs ?? [], options.mcpConfigFile);
  if (req.mode === RunMode.INTERACTIVE) {
    const args = [...agent];
    const settings = mergeSettings(req.agent?.settingsJson ?? "", options.hookSettings ?? "");
    if (settings) args.push(`--settings=${settings}`);
    // `--` ends the options, so a prompt that starts with "-" is still a prompt.
    if (req.prompt !== "") args.push("--", req.prompt);
    return { args };
  }
  // Headless: the prompt goes to stdin, which has no argv size limit and cannot be mistaken for a flag.
  const args = ["-p", "--output-format=stream-json", "--verbose", "--include-partial-messages", ...agent];
  if (req.agent?.maxTurns) args.push(`--max-turns=${req.agent.maxTurns}`);
  if (req.agent?.maxBudgetUsd) args.push(`--max-budget-usd=${req.agent.maxBudgetUsd}`);
  if (req.agent?.settingsJson) args.push(`--settings=${req.agent.settingsJson}`);
  if (req.agent?.jsonSchema) args.push(`--json-schema=${req.agent.jsonSchema}`);
  // Permission prompts travel over the stream-json control protocol: claude asks on stdout, the answer goes to stdin.
  if (req.agent?.askPermissions) {
    args.push("--input-format=stream-json", "--permission-prompt-tool=stdio");
    return { args, stdin: streamJsonUserMessage(req.prompt), holdStdin: true };
  }
  return { args, stdin: req.prompt };
}

/** Flags common to both modes. */
function agentFlags(a: AgentOptions | undefined, addDirs: readonly string[], mcpConfigFile: string | undefined): string[] {
  if (!a) return [];
  const out: string[] = [];
  if (a.model) out.push(`--model=${a.model}`);
  if (a.fallbackModel) out.push(`--fallback-model=${a.fallbackModel}`);
  for (const tool of a.allowedTools) out.push(`--allowedTools=${tool}`);
  for (const tool of a.disallowedTools) out.push(`--disallowedTools=${tool}`);
  if (a.permissionMode) out.push(`--permission-mode=${a.permissionMode}`);
  if (a.systemPrompt) out.push(`--system-prompt=${a.systemPrompt}`);
  if (a.appendSystemPrompt) out.push(`--append-system-prompt=${a.appendSystemPrompt}`);
  if (a.mcpConfigJson) {
    if (!mcpConfigFile) throw new Error("an MCP config is passed to claude as a file: give claudeInvocation its path");
    out.push(`--mcp-config=${mcpConfigFile}`);
  }
  if (a.agentsJson) out.push(`--agents=${a.agentsJson}`);
  for (const dir of addDirs) out.push(`--add-dir=${dir}`);
  if (a.resumeSessionId) out.push(`--resume=${a.resumeSessionId}`);
  return out;
}

/**
 * One `--settings` document from the task's settings and the worker's hook settings: claude takes one, so the
 * worker's hooks are added to each event's list after the task's own. Both are JSON objects (validate-run.ts).
 */
export function mergeSettings(taskSettings: string, hookSettings: string): string {
  if (!taskSettings) return hookSettings;
  if (!hookSettings) return taskSettings;
  const task = JSON.parse(taskSettings) as Record<string, unknown>;
  const ours = JSON.parse(hookSettings) as { hooks: Record<string, unknown[]> };
  const theirs = typeof task["hooks"] === "object" && task["hooks"] !== null && !Array.isArray(task["hooks"]) ? (task["hooks"] as Record<string, unknown>) : {};
  const hooks: Record<string, unknown> = { ...theirs };
  for (const [event, list] of Object.entries(ours.hooks)) {
    const before = hooks[event];
    hooks[event] = [...(Array.isArray(before) ? before : []), ...list];
  }
  return JSON.stringify({ ...task, hooks });
}
