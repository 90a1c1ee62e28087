// `cc mcp`: the cluster as MCP tools, for Claude Code (or any MCP client) to fan work out.
import { Command, Option } from "clipanion";
import { RouterCommand } from "../command.js";

export class McpCommand extends RouterCommand {
  static override paths = [["mcp"]];

  static override usage = Command.Usage({
    description: "Serve the cluster as MCP tools, so Claude can fan work out",
    details: `
      Runs an MCP server on standard input and output for an MCP client such as Claude Code. Its tools start tasks on the cluster and come back for them: \`run_task\` returns at once with a task id (with \`upload\`, after sending a local directory, uncommitted work included, as the task's workspace), \`wait_tasks\` waits for several tasks at once (sending progress notifications) and returns their results and changes, \`task_diff\` returns what an ended task changed (its summary and its patch, bounded), and \`get_task\`, \`task_output\`, \`list_tasks\`, \`list_workers\`, \`cancel_task\`, \`send_input\`, \`list_permission_requests\` and \`answer_permission\` do what their names say. Tasks that want a tool they were not allowed wait until \`answer_permission\` decides (or the worker's timeout denies).

      It talks to the router in use (--router, CC_ROUTER_URL or a profile); with none, it starts a local cluster inside itself whose tasks work in the directory it was started in.

      \`--print-config\` prints the JSON that \`claude --mcp-config\` takes, for this installation and router, and on stderr the \`claude mcp add\` line that adds the same server to Claude Code for good.
    `,
    examples: [
      ["Give one Claude Code session the cluster's tools", "claude --mcp-config \"$($0 mcp --print-config)\""],
      ["The config for a given router, and the `claude mcp add` line that adds it to Claude Code", "$0 mcp --print-config --router http://127.0.0.1:8400"],
      ["Check the server with the MCP Inspector", "npx @modelcontextprotocol/inspector --cli $0 mcp --method tools/list"],
    ],
  });

  printConfig = Option.Boolean("--print-config", false, { description: "Print the --mcp-config JSON (and the `claude mcp add` line on stderr) instead of serving" });

  async execute(): Promise<number> {
    const { mcpCommand } = await import("../lib/mcp-command.js");
    return mcpCommand(this.context, { printConfig: this.printConfig, ...this.connectionFlags() });
  }
}
