// The MCP server of `cc mcp`: every tool of tools/ registered on an McpServer from @modelcontextprotocol/sdk, over
// a ClusterClient. Transport-free, so tests connect it in memory and `cc mcp` over stdio.
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { VERSION } from "../../services/common/version.js";
import { abortableSleep } from "../lib/follow.js";
import { errorText } from "./errors.js";
import type { Clock, ClusterClient, Tool, ToolContext } from "./tool.js";
import { TOOLS } from "./tools/index.js";

export { errorText };

export const INSTRUCTIONS = [
  "ClaudeCluster runs Claude Code tasks on a cluster of workers, many at once.",
  "To split a job: call run_task once for each independent part (each returns at once with a task id), then wait_tasks once with all the ids; it returns every task's final answer.",
  "Tasks do not see this conversation, so each prompt must say everything the task needs.",
  "To have tasks work on your checkout, give run_task upload (e.g. \".\"): each gets a copy, uncommitted changes included, and task_diff returns what it changed.",
  "If wait_tasks returns waiting_for_approval, a task wants to use a tool it was not allowed: decide (ask the user when it is risky), call answer_permission, then wait_tasks again.",
].join(" ");

export interface McpServerOptions {
  client: ClusterClient;
  clock?: Clock;
  /** Defaults for new tasks: the embedded cluster runs them in the directory `cc mcp` started in ("."). */
  taskDefaults?: { directory?: string };
  /** Where a relative `upload` directory is taken from; default the process's working directory. */
  cwd?: string;
  tools?: readonly Tool[];
}

const realClock: Clock = { now: () => Date.now(), sleep: abortableSleep };

export function createMcpServer(options: McpServerOptions): McpServer {
  const server = new McpServer({ name: "claudecluster", title: "ClaudeCluster", version: VERSION }, { instructions: INSTRUCTIONS, capabilities: { tools: {} } });
  for (const tool of options.tools ?? TOOLS) {
    server.registerTool(
      tool.name,
      {
        title: tool.title,
        description: tool.description,
        inputSchema: tool.input,
        outputSchema: tool.output,
        annotations: {
          title: tool.title,
          readOnlyHint: tool.readOnly,
          ...(tool.readOnly ? {} : { destructiveHint: tool.destructive === true }),
          openWorldHint: false,
        },
      },
      (async (args: Record<string, unknown>, extra: { signal: AbortSignal; _meta?: { progressToken?: string | number }; sendNotification: (n: unknown) => Promise<void> }) => {
        const token = extra._meta?.progressToken;
        const ctx: ToolContext = {
          client: options.client,
          signal: extra.signal,
          clock: options.clock ?? realClock,
          taskDefaults: options.taskDefaults ?? {},
          cwd: options.cwd ?? process.cwd(),
          progress: async (progress, total, message) => {
            if (token === undefined) return;
            await extra.sendNotification({ method: "notifications/progress", params: { progressToken: token, progress, ...(total !== undefined ? { total } : {}), message } });
          },
        };
        try {
          const { structured } = await tool.run(args as never, ctx);
          // The JSON text beside the structured result is what clients without structuredContent show the model.
          return { content: [{ type: "text" as const, text: JSON.stringify(structured, null, 2) }], structuredContent: structured };
        } catch (err) {
          return { content: [{ type: "text" as const, text: errorText(err) }], isError: true };
        }
      }) as never,
    );
  }
  return server;
}
