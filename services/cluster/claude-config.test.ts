// The embedded claude's own config directory, seeded from the user's Claude config without ever writing to it.
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { fingerprint, realisticUserClaude } from "../../test/helpers/claude-state.js";
import { embeddedClaudeConfigDir, seedEmbeddedClaudeConfig, userClaudeConfig } from "./claude-config.js";

describe("the embedded claude's config directory", () => {
  const dirs: string[] = [];
  const tempDir = () => {
    const dir = mkdtempSync(join(tmpdir(), "cc-embedded-config-"));
    dirs.push(dir);
    return dir;
  };
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it("lives under $XDG_STATE_HOME (default ~/.local/state), and the user's config is ~/.claude or CLAUDE_CONFIG_DIR", () => {
    expect(embeddedClaudeConfigDir({ HOME: "/home/me" })).toBe("/home/me/.local/state/claudecluster/claude");
    expect(embeddedClaudeConfigDir({ HOME: "/home/me", XDG_STATE_HOME: "/state" })).toBe("/state/claudecluster/claude");
    expect(userClaudeConfig({ HOME: "/home/me" })).toEqual({ dir: "/home/me/.claude", globalFile: "/home/me/.claude.json" });
    expect(userClaudeConfig({ HOME: "/home/me", CLAUDE_CONFIG_DIR: "/cfg" })).toEqual({ dir: "/cfg", globalFile: "/cfg/.claude.json" });
  });

  it("is seeded from a realistic user config: the login linked, settings and agents copied, the account's keys taken", () => {
    const home = tempDir();
    realisticUserClaude(home);
    const env = { HOME: home };
    const before = fingerprint(join(home, ".claude"), [join(home, ".claude.json")]);
    const dir = seedEmbeddedClaudeConfig(embeddedClaudeConfigDir(env), env);

    expect(fingerprint(join(home, ".claude"), [join(home, ".claude.json")])).toEqual(before);
    expect(readlinkSync(join(dir, ".credentials.json"))).toBe(join(home, ".claude", ".credentials.json"));
    expect(readFileSync(join(dir, "settings.json"), "utf8")).toBe(readFileSync(join(home, ".claude", "settings.json"), "utf8"));
    expect(lstatSync(join(dir, "settings.json")).isSymbolicLink()).toBe(false);
    expect(readFileSync(join(dir, "CLAUDE.md"), "utf8")).toBe("# Always answer in English\n");
    expect(readFileSync(join(dir, "agents", "reviewer.md"), "utf8")).toContain("Review the diff.");
    // Transcripts and the user's projects stay the user's.
    expect(existsSync(join(dir, "projects"))).toBe(false);
    const state = JSON.parse(readFileSync(join(dir, ".claude.json"), "utf8")) as Record<string, unknown>;
    expect(Object.keys(state).sort()).toEqual(["mcpServers", "oauthAccount", "theme", "userID"]);
    expect(state["mcpServers"]).toMatchObject({ github: { command: "github-mcp-server" } });
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, ".claude.json")).mode & 0o777).toBe(0o600);
  });

  it("keeps its own state across starts, and follows what the user changed since", () => {
    const home = tempDir();
    realisticUserClaude(home);
    const env = { HOME: home };
    const dir = seedEmbeddedClaudeConfig(embeddedClaudeConfigDir(env), env);
    // What claude and the worker wrote there last time.
    const own = JSON.parse(readFileSync(join(dir, ".claude.json"), "utf8")) as Record<string, unknown>;
    writeFileSync(join(dir, ".claude.json"), JSON.stringify({ ...own, projects: { "/tmp/ws": { hasTrustDialogAccepted: true } }, numStartups: 3 }));
    // The user removed an MCP server, an agent and their CLAUDE.md, and logged out.
    const user = JSON.parse(readFileSync(join(home, ".claude.json"), "utf8")) as Record<string, unknown>;
    delete user["mcpServers"];
    writeFileSync(join(home, ".claude.json"), JSON.stringify(user));
    rmSync(join(home, ".claude", "agents"), { recursive: true });
    rmSync(join(home, ".claude", "CLAUDE.md"));
    rmSync(join(home, ".claude", ".credentials.json"));

    seedEmbeddedClaudeConfig(dir, env);
    const state = JSON.parse(readFileSync(join(dir, ".claude.json"), "utf8")) as Record<string, unknown>;
    expect(state).toMatchObject({ numStartups: 3, projects: { "/tmp/ws": { hasTrustDialogAccepted: true } }, theme: "dark" });
    expect(state["mcpServers"]).toBeUndefined();
    expect(existsSync(join(dir, "agents"))).toBe(false);
    expect(existsSync(join(dir, "CLAUDE.md"))).toBe(false);
    expect(existsSync(join(dir, ".credentials.json"))).toBe(false);
    expect(readdirSync(dir).filter((n) => n.endsWith(".tmp"))).toEqual([]);
  });

  it("takes nothing from a ~/.claude.json that does not parse, and leaves it byte for byte", () => {
    const home = tempDir();
    realisticUserClaude(home);
    writeFileSync(join(home, ".claude.json"), '{"projects": {"/home/me/app": {"history": [{"display": "half a wri');
    const env = { HOME: home };
    const before = fingerprint(join(home, ".claude"), [join(home, ".claude.json")]);
    const dir = seedEmbeddedClaudeConfig(embeddedClaudeConfigDir(env), env);
    expect(fingerprint(join(home, ".claude"), [join(home, ".claude.json")])).toEqual(before);
    expect(JSON.parse(readFileSync(join(dir, ".claude.json"), "utf8"))).toEqual({});
  });

  it("seeds from CLAUDE_CONFIG_DIR when the user keeps their config there", () => {
    const home = tempDir();
    const cfg = join(home, "elsewhere");
    realisticUserClaude(home);
    mkdirSync(cfg);
    writeFileSync(join(cfg, ".claude.json"), JSON.stringify({ theme: "light" }));
    writeFileSync(join(cfg, "CLAUDE.md"), "from elsewhere\n");
    const env = { HOME: home, CLAUDE_CONFIG_DIR: cfg };
    const dir = seedEmbeddedClaudeConfig(embeddedClaudeConfigDir(env), env);
    expect(JSON.parse(readFileSync(join(dir, ".claude.json"), "utf8"))).toEqual({ theme: "light" });
    expect(readFileSync(join(dir, "CLAUDE.md"), "utf8")).toBe("from elsewhere\n");
    expect(existsSync(join(dir, ".credentials.json"))).toBe(false);
  });
});
