// The embedded cluster's claude (`cc run` with no router, `cc up`) keeps its state in a Claude config directory of
// its own (CLAUDE_CONFIG_DIR), so nothing the worker or claude writes — onboarding and trust marks, approved keys,
// session transcripts, history, todos — ever lands in the user's ~/.claude.json or ~/.claude/. It is seeded at each
// start from the user's own, which is only read:
//
// - the login, `.credentials.json`, is a symbolic link to the user's, not a copy: claude spends a refresh token
//   when it renews an OAuth login, so a copy renewed here would leave the user's own claude holding a dead token
//   and logged out. Shared, the embedded claude renews the login as a second `claude` of the user's would;
// - settings.json, CLAUDE.md and the agents, commands, skills and output-styles folders are copied, so the embedded
//   claude behaves like the user's own and whatever it writes stays here;
// - from ~/.claude.json only what identifies the account and its MCP servers is taken (SHARED_KEYS); a file that
//   does not parse is left alone and nothing is taken from it.
//
// The directory persists ($XDG_STATE_HOME/claudecluster/claude, default ~/.local/state/…) so `cc run --resume` finds
// the transcripts of earlier embedded runs. Every write here is atomic (a temporary file renamed into place).
import { cpSync, existsSync, lstatSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";

/**
 * Keys of ~/.claude.json the embedded claude gets from the user's: the account (and a Console login's key), the
 * user's MCP servers, the theme. Onboarding, trust and key approvals are the worker's to set (claude-home.ts).
 */
export const SHARED_KEYS = ["oauthAccount", "userID", "primaryApiKey", "mcpServers", "theme"] as const;

const COPIED_FILES = ["settings.json", "CLAUDE.md"];
const COPIED_DIRS = ["agents", "commands", "skills", "output-styles"];
const LOGIN = ".credentials.json";

type Env = Record<string, string | undefined>;

/** Where the embedded claude's config directory lives. */
export function embeddedClaudeConfigDir(env: Env): string {
  const state = env["XDG_STATE_HOME"] || join(env["HOME"] || homedir(), ".local", "state");
  return join(state, "claudecluster", "claude");
}

/** The user's own Claude config: the folder (~/.claude or $CLAUDE_CONFIG_DIR) and the global file (~/.claude.json). */
export function userClaudeConfig(env: Env): { dir: string; globalFile: string } {
  const own = env["CLAUDE_CONFIG_DIR"];
  const home = env["HOME"] || homedir();
  return { dir: own || join(home, ".claude"), globalFile: join(own || home, ".claude.json") };
}

/** Creates or refreshes `dir` from the user's Claude config (read only), and returns it. */
export function seedEmbeddedClaudeConfig(dir: string, env: Env): string {
  const user = userClaudeConfig(env);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  linkLogin(join(user.dir, LOGIN), join(dir, LOGIN));
  for (const name of COPIED_FILES) replaceWithCopy(join(user.dir, name), join(dir, name));
  for (const name of COPIED_DIRS) replaceWithCopy(join(user.dir, name), join(dir, name));
  mergeSharedKeys(user.globalFile, join(dir, ".claude.json"));
  return dir;
}

function linkLogin(source: string, target: string): void {
  if (!existsSync(source)) {
    // The user logged out (or never logged in): no stale login stays behind.
    if (isLink(target)) rmSync(target);
    return;
  }
  const tmp = `${target}.${process.pid}.tmp`;
  rmSync(tmp, { force: true });
  symlinkSync(source, tmp);
  renameSync(tmp, target);
}

function replaceWithCopy(source: string, target: string): void {
  if (!existsSync(source)) {
    rmSync(target, { recursive: true, force: true });
    return;
  }
  const tmp = `${target}.${process.pid}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  // Links are followed: a dotfiles repository often links these in.
  cpSync(source, tmp, { recursive: true, dereference: true, preserveTimestamps: true });
  if (statSync(source).isDirectory()) rmSync(target, { recursive: true, force: true });
  renameSync(tmp, target);
}

/** The shared keys of the user's file over the embedded file's own state; written only when something changed. */
function mergeSharedKeys(userFile: string, target: string): void {
  const user = readJsonObject(userFile);
  const own = readJsonObject(target) ?? {};
  const before = JSON.stringify(own);
  for (const key of SHARED_KEYS) {
    if (user && key in user) own[key] = user[key];
    else if (user) delete own[key];
  }
  if (JSON.stringify(own) === before && existsSync(target)) return;
  writeAtomic(target, JSON.stringify(own, null, 2));
}

function readJsonObject(file: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(readFileSync(file, "utf8"));
    return value !== null && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function writeAtomic(file: string, text: string): void {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode: 0o600 });
  renameSync(tmp, file);
}

function isLink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}
