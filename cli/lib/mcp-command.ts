// The glue behind `cc mcp`: prints the client configuration, or serves the MCP tools over stdio until the client
// goes away, on the configured router or on a local cluster started inside this process. stdout carries the
// protocol and nothing else; every log line goes to stderr.
import { realpathSync } from "node:fs";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { claudeMcpAddLine, mcpConfigJson, mcpLaunch } from "../mcp/config.js";
import { createMcpServer } from "../mcp/server.js";
import { ExitCode } from "../exit-codes.js";
import { resolveConnection, type ConnectionFlags } from "./connection.js";
import type { CommandIO } from "./io.js";
import { openRouter } from "./router.js";

export interface McpCommandInput extends ConnectionFlags {
  printConfig: boolean;
}

export async function mcpCommand(io: CommandIO, input: McpCommandInput): Promise<number> {
  const conn = resolveConnection(io.env, input);
  if (input.printConfig) {
    const launch = mcpLaunch(process.execPath, realpathSync(process.argv[1] ?? "cc"), conn, input.token);
    io.stdout.write(mcpConfigJson(launch));
    io.stderr.write(`# claude --mcp-config takes the JSON above (as a file or a string); or add the server to Claude Code once:\n${claudeMcpAddLine(launch)}\n`);
    return ExitCode.Ok;
  }
  // A local cluster runs tasks in the directory cc mcp started in, like the client's own subagents.
  const embedded = conn.router === "";
  const router = await openRouter(io.env, input, { allowEmbedded: true, ...(embedded ? { workspaceRoot: process.cwd() } : {}) });
  const server = createMcpServer({ client: router.client, ...(embedded ? { taskDefaults: { directory: "." } } : {}) });
  const transport = new StdioServerTransport(io.stdin, io.stdout);
  const closed = new Promise<void>((resolve) => {
    transport.onclose = resolve;
    io.stdin.once("end", resolve);
    io.stdin.once("close", resolve);
    process.once("SIGTERM", resolve);
    process.once("SIGINT", resolve);
  });
  try {
    await server.connect(transport);
    await closed;
  } finally {
    await server.close().catch(() => undefined);
    await router.close();
  }
  return ExitCode.Ok;
}
