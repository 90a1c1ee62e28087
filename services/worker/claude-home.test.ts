import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { SettingsError } from "../common/settings.js";
import { claudeConfigHome, prepareClaudeHome, seedClaudeConfig } from "./claude-home.js";

describe("claude home", () => {
  const dirs: string[] = [];
  const tempDir = () => {
    const dir = mkdtempSync(join(tmpdir(), "cc-home-test-"));
    dirs.push(dir);
    return dir;
  };
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it("seeds ~/.claude from a read-only, Kubernetes-style secret mount as a private writable copy", () => {
    // A secret volume: the real files sit in a timestamped directory, reached through ..data symlinks.
    const mount = tempDir();
    mkdirSync(join(mount, "..2026_11_21"));
    mkdirSync(join(mount, "..2026_11_21", "agents"));
    writeFileSync(join(mount, "..2026_11_21", ".credentials.json"), '{"claudeAiOauth":{}}');
    writeFileSync(join(mount, "..2026_11_21", "agents", "reviewer.md"), "# reviewer");
    chmodSync(join(mount, "..2026_11_21", ".credentials.json"), 0o444);
    symlinkSync("..2026_11_21", join(mount, "..data"));
    symlinkSync("..data/.credentials.json", join(mount, ".credentials.json"));
    symlinkSync("..data/agents", join(mount, "agents"));
    const home = tempDir();

    seedClaudeConfig(join(home, ".claude"), mount);

    const credentials = join(home, ".claude", ".credentials.json");
    expect(readFileSync(credentials, "utf8")).toBe('{"claudeAiOauth":{}}');
    expect(statSync(credentials).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(home, ".claude", "agents", "reviewer.md"), "utf8")).toBe("# reviewer");
    expect(existsSync(join(home, ".claude", "..data"))).toBe(false);
    expect(existsSync(join(home, ".claude", "..2026_11_21"))).toBe(false);
  });

  it("a config directory that is not there is a settings error naming the variable", () => {
    const home = tempDir();
    expect(() => seedClaudeConfig(join(home, ".claude"), join(home, "missing"))).toThrow(SettingsError);
    expect(() => seedClaudeConfig(join(home, ".claude"), join(home, "missing"))).toThrow(/CC_CLAUDE_CONFIG=.*ENOENT/);
  });

  it("marks onboarding done, trusts the workspace root and approves the key, keeping what was there", () => {
    const home = tempDir();
    writeFileSync(join(home, ".claude.json"), JSON.stringify({ theme: "dark", projects: { "/w": { allowedTools: ["Bash"] } } }));
    expect(prepareClaudeHome(join(home, ".claude.json"), "/w", "sk-ant-test-0123456789abcdefghijKLMN")).toBeUndefined();
    const state = JSON.parse(readFileSync(join(home, ".claude.json"), "utf8"));
    expect(state).toMatchObject({
      theme: "dark",
      hasCompletedOnboarding: true,
      projects: { "/w": { allowedTools: ["Bash"], hasTrustDialogAccepted: true } },
      customApiKeyResponses: { approved: ["3456789abcdefghijKLMN".slice(-20)] },
    });
  });

  it("leaves a file that does not parse byte for byte as it was, and says so", () => {
    const home = tempDir();
    const file = join(home, ".claude.json");
    writeFileSync(file, '{"projects": {"/home/me/app": {"allowedTools": []}}, "oauthAccount": {');
    const before = readFileSync(file);
    const problem = prepareClaudeHome(file, "/w", "sk-ant-test-0123456789abcdefghijKLMN");
    expect(problem).toMatch(/\.claude\.json is not a JSON object .*left as it is/);
    expect(readFileSync(file).equals(before)).toBe(true);
    expect(readdirSync(home)).toEqual([".claude.json"]);
  });

  it("does not rewrite a file that already says what it needs to", () => {
    const home = tempDir();
    const file = join(home, ".claude.json");
    prepareClaudeHome(file, "/w", "sk-ant-test-0123456789abcdefghijKLMN");
    const first = statSync(file);
    prepareClaudeHome(file, "/w", "sk-ant-test-0123456789abcdefghijKLMN");
    // Same inode: not replaced by a rename.
    expect(statSync(file).ino).toBe(first.ino);
    expect(first.mode & 0o777).toBe(0o600);
  });

  it("finds .claude.json and the config folder under CLAUDE_CONFIG_DIR when it is set", () => {
    expect(claudeConfigHome("/home/me", {})).toEqual({ file: "/home/me/.claude.json", dir: "/home/me/.claude" });
    expect(claudeConfigHome("/home/me", { CLAUDE_CONFIG_DIR: "/state/claude" })).toEqual({ file: "/state/claude/.claude.json", dir: "/state/claude" });
  });
});
