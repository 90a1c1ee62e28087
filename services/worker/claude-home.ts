// claude keeps its state in $HOME/.claude.json. For unattended sessions the worker marks onboarding as done, trusts
// the workspace root (trust covers the directories below it), and approves the API key from the environment, so the
// interactive TUI opens straight at its prompt instead of a first-run dialog.
import { mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { SettingsError } from "../common/settings.js";

/**
 * Copies a Claude config directory, laid out like ~/.claude (.credentials.json, settings.json, CLAUDE.md, agents/,
 * commands/), into `<home>/.claude`. The source is typically a read-only mount (a container secret), and claude
 * writes its own state there (it refreshes OAuth credentials), so it gets a private, writable copy: files 0600.
 * Kubernetes secret volumes hold their files behind `..data` symlinks; those entries are skipped, the links followed.
 */
export function seedClaudeConfig(home: string, configDir: string): void {
  try {
    copyTree(configDir, join(home, ".claude"));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    throw new SettingsError(`CC_CLAUDE_CONFIG=${JSON.stringify(configDir)}: cannot copy it into ${home}/.claude (${code})`);
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

export function prepareClaudeHome(home: string, workspaceRoot: string, apiKey: string | undefined): void {
  mkdirSync(home, { recursive: true });
  const file = join(home, ".claude.json");
  let state: Record<string, unknown> = {};
  try {
    state = JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;
  } catch {
    // Missing or unreadable: start from nothing.
  }
  state["hasCompletedOnboarding"] = true;
  const projects = (state["projects"] ?? {}) as Record<string, Record<string, unknown>>;
  projects[workspaceRoot] = { ...projects[workspaceRoot], hasTrustDialogAccepted: true };
  state["projects"] = projects;
  if (apiKey) {
    // claude remembers approved keys by their last 20 characters.
    const responses = (state["customApiKeyResponses"] ?? { approved: [], rejected: [] }) as { approved: string[]; rejected: string[] };
    const tail = apiKey.slice(-20);
    if (!responses.approved.includes(tail)) responses.approved.push(tail);
    state["customApiKeyResponses"] = responses;
  }
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(state, null, 2));
  renameSync(tmp, file);
}
