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

/**
 * @param hookSettings JSON for `--settings` that installs the worker's status hooks (interactive mode).
 * @param mcpConfigFile The file holding `agent.mcp_config_json` (task-files.ts): the JSON itself never goes on the
 *   command line, which every process on the machine can read. Required when the request has an MCP config.
 */
export function claudeInvocation(req: RunRequest, hookSettings?: string, mcpConfigFile?: string): ClaudeInvocation {
  const agent = agentFlags(req.agent, mcpConfigFile);
  if (req.mode === RunMode.INTERACTIVE) {
    const args = [...agent];
    if (hookSettings) args.push(`--settings=${hookSettings}`);
    // `--` ends the options, so a prompt that starts with "-" is still a prompt.
    if (req.prompt !== "") args.push("--", req.prompt);
    return { args };
  }
  // Headless: the prompt goes to stdin, which has no argv size limit and cannot be mistaken for a flag.
  const args = ["-p", "--output-format=stream-json", "--verbose", "--include-partial-messages", ...agent];
  if (req.agent?.maxTurns) args.push(`--max-turns=${req.agent.maxTurns}`);
  if (req.agent?.maxBudgetUsd) args.push(`--max-budget-usd=${req.agent.maxBudgetUsd}`);
  // Permission prompts travel over the stream-json control protocol: claude asks on stdout, the answer goes to stdin.
  if (req.agent?.askPermissions) {
    args.push("--input-format=stream-json", "--permission-prompt-tool=stdio");
    return { args, stdin: streamJsonUserMessage(req.prompt), holdStdin: true };
  }
  return { args, stdin: req.prompt };
}

/** Flags common to both modes. */
function agentFlags(a: AgentOptions | undefined, mcpConfigFile: string | undefined): string[] {
  if (!a) return [];
  const out: string[] = [];
  if (a.model) out.push(`--model=${a.model}`);
  for (const tool of a.allowedTools) out.push(`--allowedTools=${tool}`);
  for (const tool of a.disallowedTools) out.push(`--disallowedTools=${tool}`);
  if (a.permissionMode) out.push(`--permission-mode=${a.permissionMode}`);
  if (a.systemPrompt) out.push(`--system-prompt=${a.systemPrompt}`);
  if (a.appendSystemPrompt) out.push(`--append-system-prompt=${a.appendSystemPrompt}`);
  if (a.mcpConfigJson) {
    if (!mcpConfigFile) throw new Error("an MCP config is passed to claude as a file: give claudeInvocation its path");
    out.push(`--mcp-config=${mcpConfigFile}`);
  }
  if (a.resumeSessionId) out.push(`--resume=${a.resumeSessionId}`);
  return out;
}
