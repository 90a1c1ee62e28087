// claude keeps its state in .claude.json: in $HOME, or in $CLAUDE_CONFIG_DIR when that is set (claudeConfigHome).
// For unattended sessions the worker marks onboarding as done, trusts the workspace root (trust covers the directories
// below it), and approves the API key from the environment, so the interactive TUI opens straight at its prompt
// instead of a first-run dialog. It changes only those keys, only when they are not already so, atomically; a file
// that does not parse is never replaced (it may be someone's only copy of their state).
import { mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { SettingsError } from "../common/settings.js";

/** Where claude keeps its .claude.json (`file`) and the rest of its config (`dir`), given its HOME and environment. */
export function claudeConfigHome(home: string, env: NodeJS.ProcessEnv): { file: string; dir: string } {
  const own = env["CLAUDE_CONFIG_DIR"];
  return { file: join(own || home, ".claude.json"), dir: own || join(home, ".claude") };
}

/**
 * Copies a Claude config directory, laid out like ~/.claude (.credentials.json, settings.json, CLAUDE.md, agents/,
 * commands/), into claude's config directory (`<home>/.claude`, or CLAUDE_CONFIG_DIR). The source is typically a read-only mount (a container secret), and claude
 * writes its own state there (it refreshes OAuth credentials), so it gets a private, writable copy: files 0600.
 * Kubernetes secret volumes hold their files behind `..data` symlinks; those entries are skipped, the links followed.
 */
export function seedClaudeConfig(target: string, configDir: string): void {
  try {
    copyTree(configDir, target);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    throw new SettingsError(`CC_CLAUDE_CONFIG=${JSON.stringify(configDir)}: cannot copy it into ${target} (${code})`);
  }
}

function copyTree(from: string, to: string): void {
  mkdirSync(to, { recursive: true, mode: 0o700 });
  for (const name of readdirSync(from)) {
    if (name.startsWith("..")) continue;
    const source = join(from, name);
    const target = join(to, name);
    if (statSync(source).isDirectory()) copyTree(source, target);
    else writeFileSync(target, readFileSync(source), { mode: 0o600 });
  }
}

/**
 * Makes `file` (claude's .claude.json) ready for unattended sessions. Returns a problem to log when the file exists but
 * does not parse: it is left as it is, and interactive sessions may then show claude's first-run dialogs.
 */
export function prepareClaudeHome(file: string, workspaceRoot: string, apiKey: string | undefined): string | undefined {
  let text: string | undefined;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    // Missing (or unreadable, which writing will report): start from nothing.
  }
  let state: Record<string, unknown> = {};
  if (text !== undefined && text.trim() !== "") {
    try {
      const parsed: unknown = JSON.parse(text);
      if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) throw new Error("not an object");
      state = parsed as Record<string, unknown>;
    } catch (err) {
      return `${file} is not a JSON object (${(err as Error).message}); left as it is, so interactive sessions may show claude's first-run dialogs`;
    }
  }
  const before = JSON.stringify(state);
  state["hasCompletedOnboarding"] = true;
  const projects = (state["projects"] ?? {}) as Record<string, Record<string, unknown>>;
  if (projects[workspaceRoot]?.["hasTrustDialogAccepted"] !== true) projects[workspaceRoot] = { ...projects[workspaceRoot], hasTrustDialogAccepted: true };
  state["projects"] = projects;
  if (apiKey) {
    // claude remembers approved keys by their last 20 characters.
    const responses = (state["customApiKeyResponses"] ?? { approved: [], rejected: [] }) as { approved: string[]; rejected: string[] };
    const tail = apiKey.slice(-20);
    if (!responses.approved.includes(tail)) responses.approved.push(tail);
    state["customApiKeyResponses"] = responses;
  }
  if (text !== undefined && JSON.stringify(state) === before) return undefined;
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(state, null, 2), { mode: 0o600 });
  renameSync(tmp, file);
  return undefined;
}
