// `cc mcp --print-config`: how an MCP client starts this installation's `cc mcp` — the JSON that
// `claude --mcp-config` (and .mcp.json) take, and the equivalent `claude mcp add` line. The command is this very
// node and this very cc, by absolute path, so it works whatever the client's PATH is.
import type { Connection } from "../lib/connection.js";

export const SERVER_NAME = "claudecluster";

export interface McpLaunch {
  command: string;
  args: string[];
  env: Record<string, string>;
}

/**
 * How to start `cc mcp` against the router in use. A profile is named (its token stays in cc's config file); a
 * router from a flag or the environment is passed as --router, with the token as CC_TOKEN: written out when it was
 * given as --token, else as `${CC_TOKEN}`, which Claude Code fills in from its own environment. With no router at
 * all, `cc mcp` starts a local cluster inside itself.
 */
export function mcpLaunch(node: string, main: string, conn: Connection, tokenFlag: string | undefined): McpLaunch {
  const args = [main, "mcp"];
  const env: Record<string, string> = {};
  if (conn.source === "profile") args.push("--profile", conn.profile);
  else if (conn.router !== "") {
    args.push("--router", conn.router);
    if (tokenFlag) env["CC_TOKEN"] = tokenFlag;
    else if (conn.token) env["CC_TOKEN"] = "${CC_TOKEN}";
  }
  return { command: node, args, env };
}

/** The `--mcp-config` document. */
export function mcpConfigJson(launch: McpLaunch): string {
  const server = { type: "stdio", command: launch.command, args: launch.args, ...(Object.keys(launch.env).length > 0 ? { env: launch.env } : {}) };
  return `${JSON.stringify({ mcpServers: { [SERVER_NAME]: server } }, null, 2)}\n`;
}

/** The same server added to Claude Code's own configuration. */
export function claudeMcpAddLine(launch: McpLaunch): string {
  // A `${VAR}` placeholder is left to the shell here, so the value is stored, not the placeholder.
  const env = Object.entries(launch.env).flatMap(([k, v]) => ["-e", v === `\${${k}}` ? `"${k}=$${k}"` : shellQuote(`${k}=${v}`)]);
  return ["claude", "mcp", "add", ...env, SERVER_NAME, "--", ...[launch.command, ...launch.args].map(shellQuote)].join(" ");
}

function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, "'\\''")}'`;
}
