// Finding claude and learning its version. The default is the pinned @anthropic-ai/claude-code dependency, so a
// worker runs the version its tests ran; CC_CLAUDE_BIN overrides.
import { execFile } from "node:child_process";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

export function bundledClaudePath(): string | undefined {
  try {
    const pkg = createRequire(import.meta.url).resolve("@anthropic-ai/claude-code/package.json");
    return join(dirname(pkg), "bin", "claude.exe");
  } catch {
    return undefined;
  }
}

export interface ClaudeProbe {
  bin: string;
  /** e.g. "2.1.330 (Claude Code)"; empty when claude could not run. */
  version: string;
  /** What is wrong and how to fix it, when claude could not run. */
  problem: string;
}

/** Runs `claude --version` (10 s at most). Never throws: a broken claude is reported in `problem`. */
export function probeClaude(configured: string): Promise<ClaudeProbe> {
  const bin = configured || bundledClaudePath() || "claude";
  return new Promise((resolve) => {
    execFile(bin, ["--version"], { timeout: 10_000, env: { PATH: process.env["PATH"] ?? "", HOME: process.env["HOME"] ?? "/tmp", DISABLE_AUTOUPDATER: "1" } }, (err, stdout) => {
      if (!err) return resolve({ bin, version: stdout.trim(), problem: "" });
      const code = (err as NodeJS.ErrnoException).code;
      const fix = configured
        ? "check CC_CLAUDE_BIN"
        : "run `npm ci` to install the pinned @anthropic-ai/claude-code, or set CC_CLAUDE_BIN";
      const what = code === "ENOENT" ? "not found" : code === "EACCES" ? "not executable" : `failed (${err.message.split("\n")[0]})`;
      resolve({ bin, version: "", problem: `claude ${what} at ${bin}: ${fix}` });
    });
  });
}
