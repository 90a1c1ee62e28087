// claude keeps its state in $HOME/.claude.json. For unattended sessions the worker marks onboarding as done, trusts
// the workspace root (trust covers the directories below it), and approves the API key from the environment, so the
// interactive TUI opens straight at its prompt instead of a first-run dialog.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";

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
