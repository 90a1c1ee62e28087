import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { silentLogger } from "../../common/logger.js";
import { projectDirName, TaskHomes, TranscriptStore, TranscriptTooLarge } from "./index.js";

describe("task homes", () => {
  let root: string;
  let base: { configDir: string; stateFile: string };
  let homes: TaskHomes;

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), "cc-task-home-test-"));
    base = { configDir: join(root, "worker-home", ".claude"), stateFile: join(root, "worker-home", ".claude.json") };
    mkdirSync(join(base.configDir, "agents"), { recursive: true });
    mkdirSync(join(base.configDir, "projects", "-other"), { recursive: true });
    writeFileSync(join(base.configDir, ".credentials.json"), '{"claudeAiOauth":{"accessToken":"sk-ant-oat01-secret"}}');
    writeFileSync(join(base.configDir, "settings.json"), JSON.stringify({ model: "opus", apiKeyHelper: "/bin/give-key", env: { ANTHROPIC_API_KEY: "sk-ant-x", FOO: "bar" } }));
    writeFileSync(join(base.configDir, "CLAUDE.md"), "# house rules");
    writeFileSync(join(base.configDir, "agents", "reviewer.md"), "# reviewer");
    writeFileSync(join(base.configDir, "history.jsonl"), '{"display":"someone else\'s prompt"}\n');
    writeFileSync(join(base.configDir, "projects", "-other", "s-other.jsonl"), '{"secret":"another session"}\n');
    writeFileSync(base.stateFile, JSON.stringify({ theme: "dark", primaryApiKey: "sk-ant-primary", projects: { "/elsewhere": { history: ["old prompt"] } }, mcpServers: { m: {} } }));
    homes = new TaskHomes(join(root, "state"), base, new TranscriptStore(join(base.configDir, "projects")), silentLogger());
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it("seeds a HOME with the worker's settings and instructions, never its credentials, history or other sessions", () => {
    const home = homes.create("t1", { workspace: "/ws/.tasks/t1", apiKey: "sk-ant-cc-proxy-abcdefghijklmnopqrstuvwxyz" });
    expect(home).toBe(join(root, "state", "tasks", "t1", "home"));
    expect(readFileSync(join(home, ".claude", "CLAUDE.md"), "utf8")).toBe("# house rules");
    expect(readFileSync(join(home, ".claude", "agents", "reviewer.md"), "utf8")).toBe("# reviewer");
    expect(JSON.parse(readFileSync(join(home, ".claude", "settings.json"), "utf8"))).toEqual({ model: "opus", env: { FOO: "bar" } });
    for (const absent of [".credentials.json", "history.jsonl", "projects"]) expect(existsSync(join(home, ".claude", absent)), absent).toBe(false);
    const state = JSON.parse(readFileSync(join(home, ".claude.json"), "utf8"));
    expect(state).toEqual({
      theme: "dark",
      mcpServers: { m: {} },
      hasCompletedOnboarding: true,
      projects: { "/ws/.tasks/t1": { hasTrustDialogAccepted: true } },
      customApiKeyResponses: { approved: ["ghijklmnopqrstuvwxyz"], rejected: [] },
    });
  });

  it("keeps a task's transcripts when it ends and gives one session's back to a task that resumes it", () => {
    const first = homes.create("t1", { workspace: "/ws/a", apiKey: "sk-ant-cc-proxy-aaaaaaaaaaaaaaaaaaaaaaaa" });
    mkdirSync(join(first, ".claude", "projects", projectDirName("/ws/a"), "s1", "subagents"), { recursive: true });
    writeFileSync(join(first, ".claude", "projects", projectDirName("/ws/a"), "s1.jsonl"), '{"turn":1}\n');
    writeFileSync(join(first, ".claude", "projects", projectDirName("/ws/a"), "s1", "subagents", "a.jsonl"), "{}\n");
    homes.release("t1");
    expect(existsSync(join(root, "state", "tasks", "t1"))).toBe(false);
    expect(readFileSync(join(base.configDir, "projects", "-ws-a", "s1.jsonl"), "utf8")).toBe('{"turn":1}\n');

    const second = homes.create("t2", { workspace: "/ws/b", apiKey: "sk-ant-cc-proxy-bbbbbbbbbbbbbbbbbbbbbbbb", resumeSessionId: "s1" });
    const projects = join(second, ".claude", "projects");
    expect(readFileSync(join(projects, "-ws-b", "s1.jsonl"), "utf8")).toBe('{"turn":1}\n');
    expect(existsSync(join(projects, "-ws-b", "s1", "subagents", "a.jsonl"))).toBe(true);
    // Only that session: not the other one the worker keeps.
    expect(readFileSync(join(projects, "-ws-b", "s1.jsonl"), "utf8")).not.toContain("another session");
    expect(existsSync(join(projects, "-other"))).toBe(false);
    expect(homes.transcripts.restore("no-such-session", second, "/ws/b")).toBe(false);
    expect(homes.transcripts.restore("../../etc", second, "/ws/b")).toBe(false);
  });

  it("a transcript sent with the task goes under the task's own project; the worker hands out what it kept, within a bound", () => {
    const first = homes.create("t1", { workspace: "/ws/a", apiKey: "sk-ant-cc-proxy-aaaaaaaaaaaaaaaaaaaaaaaa" });
    mkdirSync(join(first, ".claude", "projects", projectDirName("/ws/a")), { recursive: true });
    writeFileSync(join(first, ".claude", "projects", projectDirName("/ws/a"), "s1.jsonl"), '{"turn":1}\n');
    // Kept at claude's exit, before the HOME goes.
    homes.keepTranscripts("t1");
    expect(homes.transcripts.read("s1", 1024)?.toString()).toBe('{"turn":1}\n');
    expect(() => homes.transcripts.read("s1", 5)).toThrow(TranscriptTooLarge);
    expect(homes.transcripts.read("no-such-session", 1024)).toBeUndefined();
    expect(homes.transcripts.read("../etc/passwd", 1024)).toBeUndefined();
    homes.release("t1");

    // From another worker: placed as sent, not looked up here (the worker's own copy differs).
    const second = homes.create("t2", {
      workspace: "/other/root/proj",
      apiKey: "sk-ant-cc-proxy-bbbbbbbbbbbbbbbbbbbbbbbb",
      resumeSessionId: "s1",
      resumeTranscript: new TextEncoder().encode('{"turn":1}\n{"turn":2}\n'),
    });
    expect(readFileSync(join(second, ".claude", "projects", "-other-root-proj", "s1.jsonl"), "utf8")).toBe('{"turn":1}\n{"turn":2}\n');
  });

  it("a HOME whose worker process is gone is an orphan; one of this process is not", () => {
    homes.create("mine", { workspace: "/ws/m", apiKey: "sk-ant-cc-proxy-mmmmmmmmmmmmmmmmmmmmmmmm" });
    mkdirSync(join(root, "state", "tasks", "dead", "home"), { recursive: true });
    writeFileSync(join(root, "state", "tasks", "dead", "owner"), "999999999 12345");
    mkdirSync(join(root, "state", "tasks", "half-made"), { recursive: true });
    expect(homes.orphans().sort()).toEqual(["dead", "half-made"]);
  });

  it("projectDirName is claude's: every character but letters and digits becomes '-'", () => {
    expect(projectDirName("/tmp/cc-x/ws/.tasks/01ABC")).toBe("-tmp-cc-x-ws--tasks-01ABC");
  });
});
