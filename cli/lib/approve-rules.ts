// `cc run --approve`: tool calls that cc allows by itself when claude asks, with no one at a terminal to ask (or
// without asking the one there). A rule is a tool name, or a tool name and a pattern for what the call does:
//   Bash                  every Bash call
//   Bash(npm test*)       Bash calls whose command starts with "npm test"
//   Write(/tmp/*)         writes under /tmp
//   mcp__github__*        every tool of the github MCP server
// `*` matches any run of characters (spaces and slashes too), `?` one character; a pattern matches the whole
// command, path or other main argument of the call (see render.ts · mainArgument).
import { UsageError } from "clipanion";
import { mainArgument } from "./render.js";

export interface ApproveRule {
  /** As the user wrote it, for messages. */
  text: string;
  tool: RegExp;
  argument: RegExp | undefined;
}

const RULE = /^([A-Za-z0-9_.*?-]+)(?:\((.*)\))?$/s;

function glob(pattern: string): RegExp {
  const source = [...pattern].map((ch) => (ch === "*" ? "[\\s\\S]*" : ch === "?" ? "[\\s\\S]" : ch.replace(/[\\^$.|+()[\]{}]/g, "\\$&"))).join("");
  return new RegExp(`^${source}$`);
}

/** Parses the --approve values (repeatable); a bad one is a usage error that shows the form. */
export function parseApproveRules(values: readonly string[] | undefined): ApproveRule[] {
  return (values ?? []).map((raw) => {
    const text = raw.trim();
    const m = RULE.exec(text);
    if (!m) throw new UsageError(`--approve expects a tool name, optionally with a pattern, e.g. Bash, 'Bash(npm test*)' or 'mcp__github__*'; got "${raw}"`);
    return { text, tool: glob(m[1]!), argument: m[2] !== undefined ? glob(m[2]) : undefined };
  });
}

/** The first rule that allows this call, if any. */
export function approvingRule(rules: readonly ApproveRule[], toolName: string, input: unknown): ApproveRule | undefined {
  return rules.find((r) => r.tool.test(toolName) && (r.argument === undefined || r.argument.test(mainArgument(toolName, input))));
}

/** A rule that would allow this very call, to suggest in a message: `Bash(rm -rf build)`. */
export function suggestedRule(toolName: string, input: unknown): string {
  const arg = mainArgument(toolName, input);
  return arg === "" || arg.includes("\n") ? toolName : `${toolName}(${arg.replace(/[*?]/g, "?")})`;
}
