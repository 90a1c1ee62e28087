// What a task's private HOME starts with: claude's settings, instructions, agents and commands from the worker's
// own claude configuration, never its credentials, session transcripts, prompt history or other projects' state;
// and a .claude.json that opens claude straight at work (onboarding done, the workspace trusted, the placeholder API
// key the credential proxy hands out approved).
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** Entries of the worker's ~/.claude that a task gets a copy of. Everything else (credentials, projects, history...) stays. */
const CONFIG_ENTRIES = ["settings.json", "CLAUDE.md", "agents", "commands", "skills", "output-styles", "hooks", "plugins", "keybindings.json"];
/** Top-level keys of the worker's .claude.json a task keeps: preferences and user-level MCP servers. */
const STATE_KEYS = ["theme", "editorMode", "verbose", "autoCompactEnabled", "mcpServers", "preferredNotifChannel"];
/** settings.json keys that run commands to fetch credentials, or hold them: the credential proxy does that outside. */
const CREDENTIAL_SETTINGS = ["apiKeyHelper", "awsAuthRefresh", "awsCredentialExport", "otelHeadersHelper"];
const CREDENTIAL_ENV = ["ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN"];

export interface BaseConfig {
  /** The worker's claude configuration directory (~/.claude, or CLAUDE_CONFIG_DIR). */
  configDir: string;
  /** The worker's .claude.json. */
  stateFile: string;
}

export interface SeedOptions {
  /** The task's workspace, trusted. */
  workspace: string;
  /** The API key claude is given (the credential proxy's placeholder), approved so the TUI does not ask. */
  apiKey: string;
}

export function seedTaskHome(home: string, base: BaseConfig, options: SeedOptions): void {
  const configDir = join(home, ".claude");
  mkdirSync(configDir, { recursive: true, mode: 0o700 });
  for (const name of CONFIG_ENTRIES) {
    const source = join(base.configDir, name);
    if (!existsSync(source)) continue;
    if (name === "settings.json") writeFileSync(join(configDir, name), withoutCredentials(readFileSync(source, "utf8")), { mode: 0o600 });
    else cpSync(source, join(configDir, name), { recursive: true, dereference: true });
  }
  const state: Record<string, unknown> = {};
  const baseState = readJson(base.stateFile);
  for (const key of STATE_KEYS) if (baseState[key] !== undefined) state[key] = baseState[key];
  state["hasCompletedOnboarding"] = true;
  state["projects"] = { [options.workspace]: { hasTrustDialogAccepted: true } };
  // claude remembers approved keys by their last 20 characters.
  state["customApiKeyResponses"] = { approved: [options.apiKey.slice(-20)], rejected: [] };
  writeFileSync(join(home, ".claude.json"), JSON.stringify(state, null, 2), { mode: 0o600 });
}

/** settings.json without the ways to fetch or hold a credential; unparsable text is dropped rather than copied blind. */
function withoutCredentials(text: string): string {
  let settings: Record<string, unknown>;
  try {
    settings = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return "{}";
  }
  for (const key of CREDENTIAL_SETTINGS) delete settings[key];
  const env = settings["env"];
  if (env && typeof env === "object") for (const key of CREDENTIAL_ENV) delete (env as Record<string, unknown>)[key];
  return JSON.stringify(settings, null, 2);
}

function readJson(path: string): Record<string, unknown> {
  try {
    const value = JSON.parse(readFileSync(path, "utf8")) as unknown;
    return value && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}
