import { describe, expect, it } from "vitest";
import { claudeEnv } from "./claude-env.js";

describe("claudeEnv", () => {
  it("passes the allowlist, never the worker's secrets", () => {
    const env = claudeEnv({ PATH: "/x", ANTHROPIC_BASE_URL: "http://m", CC_WORKER_TOKEN: "t", RANDOM: "r" }, { home: "/h" });
    expect(env).toMatchObject({ PATH: "/x", ANTHROPIC_BASE_URL: "http://m", HOME: "/h" });
    expect(env).not.toHaveProperty("CC_WORKER_TOKEN");
    expect(env).not.toHaveProperty("RANDOM");
  });

  it("gives a task bash when the worker has no SHELL, and keeps the operator's choice when it has", () => {
    expect(claudeEnv({}, { home: "/h" })["SHELL"]).toBe("/bin/bash");
    expect(claudeEnv({ SHELL: "/usr/bin/zsh" }, { home: "/h" })["SHELL"]).toBe("/usr/bin/zsh");
  });
});
