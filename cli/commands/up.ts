// `cc up`: run a local cluster in the foreground.
import { Command } from "clipanion";
import { ValueOption } from "../options.js";
import { CcCommand } from "../command.js";

/** The port `cc up` listens on unless told otherwise, so a saved `local` profile keeps working. */
export const DEFAULT_UP_PORT = 8400;

export class UpCommand extends CcCommand {
  static override paths = [["up"]];

  static override usage = Command.Usage({
    description: "Run a local cluster (a router and workers) in the foreground",
    details: `
      Starts a router and workers in this process and prints their URLs. Point other cc commands at the router with --router, CC_ROUTER_URL or \`cc config set local --router URL\`. Ctrl-C stops the cluster: running tasks are stopped and nothing is left behind.

      The workers run the claude of this package with your login (or ANTHROPIC_API_KEY) but a Claude config directory of their own ($XDG_STATE_HOME/claudecluster/claude), seeded from yours and never writing to your ~/.claude.json or ~/.claude; with --claude-home, claude uses that HOME's instead. Set CC_LOG_LEVEL=info to see the services' logs on stderr.
    `,
    examples: [
      [`A router and one worker on port ${DEFAULT_UP_PORT}`, "$0 up"],
      ["Three workers, two sessions each, on any free port", "$0 up --workers 3 --max-sessions 2 --port 0"],
    ],
  });

  workers = ValueOption.String("--workers <n>", "1", { description: "How many workers to start" });
  port = ValueOption.String("--port <port>", String(DEFAULT_UP_PORT), { description: `Port of the router (0 picks a free one; default ${DEFAULT_UP_PORT})` });
  host = ValueOption.String("--host <address>", "127.0.0.1", { description: "Address the router and workers listen on" });
  maxSessions = ValueOption.String("--max-sessions <n>", { description: "Sessions each worker runs at once (default the worker's, 4)" });
  workspaceRoot = ValueOption.String("--workspace-root <dir>", { description: "Directory under which the tasks' workspaces live" });
  claudeHome = ValueOption.String("--claude-home <dir>", { description: "HOME for the workers' claude, whose .claude.json and .claude/ it then uses (default: your HOME with a config directory of the cluster's own)" });

  async execute(): Promise<number> {
    const [{ up }, { wholeNumber }] = await Promise.all([import("../lib/up.js"), import("../lib/numbers.js")]);
    return up(this.context, {
      workers: wholeNumber("--workers", this.workers, 1, 64),
      port: wholeNumber("--port", this.port, 0, 65535),
      host: this.host,
      maxSessions: this.maxSessions === undefined ? undefined : wholeNumber("--max-sessions", this.maxSessions, 1, 1000),
      workspaceRoot: this.workspaceRoot,
      claudeHome: this.claudeHome,
    });
  }
}
