// The MCP server of `cc mcp`: every tool of tools/ registered on an McpServer from @modelcontextprotocol/sdk, over
// a ClusterClient. Transport-free, so tests connect it in memory and `cc mcp` over stdio.
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { ConnectError } from "@connectrpc/connect";
import { VERSION } from "../../services/common/version.js";
import { abortableSleep } from "../lib/follow.js";
import type { Clock, ClusterClient, Tool, ToolContext } from "./tool.js";
import { TOOLS } from "./tools/index.js";

export const INSTRUCTIONS = [
  "ClaudeCluster runs Claude Code tasks on a cluster of workers, many at once.",
  "To split a job: call run_task once for each independent part (each returns at once with a task id), then wait_tasks once with all the ids; it returns every task's final answer.",
  "Tasks do not see this conversation, so each prompt must say everything the task needs.",
  "If wait_tasks returns waiting_for_approval, a task wants to use a tool it was not allowed: decide (ask the user when it is risky), call answer_permission, then wait_tasks again.",
].join(" ");

export interface McpServerOptions {
  client: ClusterClient;
  clock?: Clock;
  /** Defaults for new tasks: the embedded cluster runs them in the directory `cc mcp` started in ("."). */
  taskDefaults?: { directory?: string };
  tools?: readonly Tool[];
}

const realClock: Clock = { now: () => Date.now(), sleep: abortableSleep };

/** A router error as a model can act on it: the code, then the router's words (which say what to do). */
export function errorText(err: unknown): string {
  if (err instanceof ConnectError) return `${codeName(err)}: ${err.rawMessage}`;
  return err instanceof Error ? err.message : String(err);
}

function codeName(err: ConnectError): string {
  const names: Record<number, string> = {
    1: "cancelled",
    2: "unknown",
    3: "invalid_argument",
    4: "deadline_exceeded",
    5: "not_found",
    6: "already_exists",
    7: "permission_denied",
    8: "resource_exhausted",
    9: "failed_precondition",
    10: "aborted",
    11: "out_of_range",
    12: "unimplemented",
    13: "internal",
    14: "unavailable",
    15: "data_loss",
    16: "unauthenticated",
  };
  return names[err.code] ?? "error";
}

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
