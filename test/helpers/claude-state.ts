// A user's own Claude state as tests see it: a realistic ~/.claude.json and ~/.claude/, and a fingerprint of every
// file (content, mode, mtime) to prove nothing of it changed.
import { createHash } from "node:crypto";
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";

/** Every file and link under `dir` (and `extra` files), with its content hash, mode and mtime: any change shows. */
export function fingerprint(dir: string, extra: string[] = []): Record<string, string> {
  const out: Record<string, string> = {};
  const visit = (path: string) => {
    const st = lstatSync(path);
    const key = relative(dir, path) || ".";
    if (st.isSymbolicLink()) out[key] = `link ${readlinkSync(path)}`;
    else if (st.isDirectory()) {
      out[key] = `dir ${st.mode.toString(8)} ${st.mtimeMs}`;
      for (const name of readdirSync(path)) visit(join(path, name));
    } else out[key] = `file ${st.mode.toString(8)} ${st.mtimeMs} ${createHash("sha256").update(readFileSync(path)).digest("hex")}`;
  };
  if (existsSync(dir)) visit(dir);
  for (const file of extra) if (existsSync(file)) out[file] = createHash("sha256").update(readFileSync(file)).digest("hex") + ` ${statSync(file).mtimeMs}`;
  return out;
}

/** A user's Claude config as a real one looks: projects, an OAuth account, MCP servers, settings, agents. */
export function realisticUserClaude(home: string): void {
  mkdirSync(join(home, ".claude", "agents"), { recursive: true });
  mkdirSync(join(home, ".claude", "projects", "-home-me-app"), { recursive: true });
  writeFileSync(
    join(home, ".claude.json"),
    JSON.stringify(
      {
        numStartups: 212,
        installMethod: "npm-global",
        autoUpdates: true,
        theme: "dark",
        userID: "5f0c1e2d3b4a59687766554433221100ffeeddccbbaa99887766554433221100",
        hasCompletedOnboarding: true,
        lastOnboardingVersion: "2.1.300",
        oauthAccount: { accountUuid: "0b6f7d1e-0000-4000-8000-000000000001", emailAddress: "me@example.com", organizationUuid: "0b6f7d1e-0000-4000-8000-000000000002", organizationName: "Me" },
        // Not installed here: claude tries to start it and carries on without.
        mcpServers: { github: { type: "stdio", command: "github-mcp-server", args: ["stdio"], env: { GITHUB_PERSONAL_ACCESS_TOKEN: "ghp_secret" } } },
        projects: {
          "/home/me/app": { allowedTools: ["Bash(npm test)"], history: [{ display: "fix the build", pastedContents: {} }], hasTrustDialogAccepted: true, lastCost: 0.42 },
        },
        customApiKeyResponses: { approved: ["abcdefghij0123456789"], rejected: [] },
        tipsHistory: { "memory-command": 12 },
      },
      null,
      2,
    ),
  );
  writeFileSync(join(home, ".claude", ".credentials.json"), JSON.stringify({ claudeAiOauth: { accessToken: "sk-ant-oat01-x", refreshToken: "sk-ant-ort01-y", expiresAt: 4102444800000, scopes: ["user:inference"] } }), { mode: 0o600 });
  writeFileSync(join(home, ".claude", "settings.json"), JSON.stringify({ model: "opus", permissions: { allow: ["Bash(git status)"] } }));
  writeFileSync(join(home, ".claude", "CLAUDE.md"), "# Always answer in English\n");
  writeFileSync(join(home, ".claude", "agents", "reviewer.md"), "---\nname: reviewer\n---\nReview the diff.\n");
  writeFileSync(join(home, ".claude", "projects", "-home-me-app", "0b6f7d1e.jsonl"), '{"type":"user"}\n');
}
