// cc run's flags become the RunRequest the router receives.
import { describe, expect, it } from "vitest";
import { EgressMode, RunMode } from "../../gen/claudecluster/v1/run_pb.js";
import { buildRunRequest, mcpConfigJson, parseEnv, parseLabels, parseSetupSecrets, splitToolList } from "./run-request.js";

describe("buildRunRequest", () => {
  it("maps claude's flags to AgentOptions", () => {
    const req = buildRunRequest(
      "fix it",
      {
        model: "sonnet",
        allowedTools: ["Bash,Edit", "Read"],
        disallowedTools: ["WebFetch"],
        permissionMode: "acceptEdits",
        maxTurns: "3",
        systemPrompt: "s",
        appendSystemPrompt: "a",
        mcpConfig: ' {"mcpServers": {"x": {"command": "y"}}} ',
        resume: "sess-1",
        maxBudgetUsd: "0.25",
      },
      { requestId: "r1" },
    );
    expect(req.prompt).toBe("fix it");
    expect(req.mode).toBe(RunMode.HEADLESS);
    expect(req.requestId).toBe("r1");
    expect(req.agent).toMatchObject({
      model: "sonnet",
      allowedTools: ["Bash", "Edit", "Read"],
      disallowedTools: ["WebFetch"],
      permissionMode: "acceptEdits",
      maxTurns: 3,
      systemPrompt: "s",
      appendSystemPrompt: "a",
      mcpConfigJson: '{"mcpServers":{"x":{"command":"y"}}}',
      resumeSessionId: "sess-1",
      maxBudgetUsd: 0.25,
    });
  });

  it("maps the cluster options", () => {
    const req = buildRunRequest("x", { worker: "w1", labels: ["region=eu", "gpu=true,zone=a"], cwd: "proj/sub", timeout: "90s", detach: true });
    expect(req.workerId).toBe("w1");
    expect(req.labels).toEqual({ region: "eu", gpu: "true", zone: "a" });
    expect(req.workspace?.source).toEqual({ case: "directory", value: "proj/sub" });
    expect(req.timeout).toMatchObject({ seconds: 90n, nanos: 0 });
    expect(req.detach).toBe(true);
    expect(req.requestId).toMatch(/^[0-9a-f-]{36}$/);
    const repo = buildRunRequest("x", { repo: "https://github.com/a/b", ref: "v1" });
    expect(repo.workspace?.source).toMatchObject({ case: "repository", value: { url: "https://github.com/a/b", ref: "v1" } });
  });

  it("--egress: none, open, or an allowlist of hosts and presets", () => {
    expect(buildRunRequest("x", { egress: "none" }).egress).toMatchObject({ mode: EgressMode.NONE, allow: [] });
    expect(buildRunRequest("x", { egress: "open" }).egress).toMatchObject({ mode: EgressMode.OPEN });
    expect(buildRunRequest("x", { egress: "@package-registries, github.com" }).egress).toMatchObject({ mode: EgressMode.ALLOWLIST, allow: ["@package-registries", "github.com"] });
    expect(buildRunRequest("x", {}).egress).toBeUndefined();
    expect(() => buildRunRequest("x", { egress: " , " })).toThrow(/--egress takes none, open, or hosts and @presets/);
  });

  it("interactive runs carry the terminal size and are always detachable", () => {
    const req = buildRunRequest("", { interactive: true }, { terminal: { cols: 2000, rows: 50 } });
    expect(req.mode).toBe(RunMode.INTERACTIVE);
    expect(req.terminal).toMatchObject({ cols: 1000, rows: 50 });
    expect(req.detach).toBe(true);
  });

  it("reads --mcp-config from a file when it is not JSON text", () => {
    expect(mcpConfigJson("/etc/mcp.json", (p) => (p === "/etc/mcp.json" ? '{"mcpServers":{}}' : ""))).toBe('{"mcpServers":{}}');
    expect(() => mcpConfigJson("[1]", () => "[1]")).toThrow("--mcp-config: expected a JSON object");
  });

  it("splits tool lists like claude, keeping parenthesised rules whole", () => {
    expect(splitToolList(["Bash(git add:*, git commit:*),Edit", "Read Write"])).toEqual(["Bash(git add:*, git commit:*)", "Edit", "Read", "Write"]);
    expect(splitToolList(undefined)).toEqual([]);
    expect(parseLabels(["a=1", "b = 2"])).toEqual({ a: "1", b: "2" });
  });

  it("--push goes with --repo, and its options with --push", () => {
    const req = buildRunRequest("x", { repo: "https://github.com/a/b", push: true, pushBranch: "claude/fix", pushAuthor: " Bot <bot@example.com> ", pushMessage: "Fix it" });
    expect(req.workspace?.push).toMatchObject({ branch: "claude/fix", author: "Bot <bot@example.com>", message: "Fix it" });
    expect(buildRunRequest("x", { repo: "https://github.com/a/b", push: true }).workspace?.push).toMatchObject({ branch: "", author: "", message: "" });
    expect(() => buildRunRequest("x", { push: true })).toThrow("--push needs --repo URL: the repository the task's branch is pushed to");
    expect(() => buildRunRequest("x", { repo: "https://github.com/a/b", pushBranch: "b" })).toThrow("--push-branch, --push-author and --push-message go with --push");
    expect(() => buildRunRequest("x", { repo: "https://github.com/a/b", push: true, pushAuthor: "nobody" })).toThrow("--push-author expects 'Name <email>', got \"nobody\"");
  });
});

describe("the newer flags", () => {
  const files: Record<string, string> = { "settings.json": '{"permissions": {"allow": ["Read"]}}', "schema.json": '{"type": "object"}', "agents.json": "[]" };
  const readFile = (path: string) => {
    const text = files[path];
    if (text === undefined) throw Object.assign(new Error("missing"), { code: "ENOENT" });
    return text;
  };

  it("--env NAME=VALUE and --env NAME (the caller's value) reach RunRequest.env", () => {
    const req = buildRunRequest("x", { env: ["A=1", "B=with=equals", "EMPTY=", "MINE"] }, { callerEnv: { MINE: "from caller" } });
    expect(req.env).toEqual({ A: "1", B: "with=equals", EMPTY: "", MINE: "from caller" });
    expect(parseEnv([], {})).toEqual({});
  });

  it("refuses invalid and reserved names, and names that are not set, without echoing values", () => {
    expect(() => parseEnv(["1BAD=secret"], {})).toThrow('--env: "1BAD" is not a variable name: use letters, digits and _, not starting with a digit (at most 128)');
    expect(() => parseEnv(["HOME=/tmp"], {})).toThrow("--env: HOME is reserved by the worker; tasks cannot set it");
    expect(() => parseEnv(["ANTHROPIC_API_KEY=sk-secret"], {})).toThrow("--env: ANTHROPIC_API_KEY is reserved by the worker (every ANTHROPIC_* name is); tasks cannot set it");
    expect(() => parseEnv(["NOPE"], {})).toThrow("--env NOPE: NOPE is not set in your environment; give --env NOPE=VALUE");
    for (const value of ["1BAD=secret", "ANTHROPIC_API_KEY=sk-secret"]) {
      try {
        parseEnv([value], {});
      } catch (err) {
        expect((err as Error).message).not.toContain("secret");
      }
    }
  });

  it("--settings, --agents and --json-schema take JSON or a file; --add-dir and --fallback-model pass on", () => {
    const req = buildRunRequest("x", { settings: "settings.json", agents: '{"r": {"description": "d", "prompt": "p"}}', jsonSchema: "schema.json", addDirs: ["shared", "data/in"], fallbackModel: "sonnet,haiku" }, { readFile });
    expect(req.agent).toMatchObject({
      settingsJson: '{"permissions":{"allow":["Read"]}}',
      agentsJson: '{"r":{"description":"d","prompt":"p"}}',
      jsonSchema: '{"type":"object"}',
      addDirs: ["shared", "data/in"],
      fallbackModel: "sonnet,haiku",
    });
    expect(() => buildRunRequest("x", { agents: "agents.json" }, { readFile })).toThrow('--agents: expected a JSON object such as {"reviewer": {"description": "...", "prompt": "..."}}');
    expect(() => buildRunRequest("x", { settings: "missing.json" }, { readFile })).toThrow("--settings: cannot read missing.json: ENOENT; give a JSON file or a JSON string");
    expect(() => buildRunRequest("x", { addDirs: ["../up"] })).toThrow('--add-dir is a directory name under the worker\'s workspace root, without "/" at the start or "..", got "../up"');
    expect(() => buildRunRequest("", { interactive: true, jsonSchema: "{}" })).toThrow("--json-schema applies to headless runs, not to -i");
  });
});

describe("environment flags", () => {
  it("--setup-secret NAME takes the value from the caller's environment; --no-cache sets no_cache", () => {
    const req = buildRunRequest("go", { setupSecrets: ["NPM_TOKEN"], noCache: true, repo: "https://example.com/r.git" }, { requestId: "r", callerEnv: { NPM_TOKEN: "tok" } });
    expect(req.setupSecrets).toEqual({ NPM_TOKEN: "tok" });
    expect(req.noCache).toBe(true);
    expect(buildRunRequest("go", {}, { requestId: "r" })).toMatchObject({ setupSecrets: {}, noCache: false });
  });

  it("refuses NAME=VALUE, an unset name and a reserved one", () => {
    expect(() => parseSetupSecrets(["NPM_TOKEN=abc"], {})).toThrow("--setup-secret takes a name, not NAME=VALUE: export NPM_TOKEN and pass --setup-secret NPM_TOKEN");
    expect(() => parseSetupSecrets(["NPM_TOKEN"], {})).toThrow("--setup-secret NPM_TOKEN: NPM_TOKEN is not set in your environment; export it first");
    expect(() => parseSetupSecrets(["LD_PRELOAD"], { LD_PRELOAD: "x" })).toThrow("--setup-secret: LD_PRELOAD is reserved by the worker (every LD_* name is); tasks cannot set it");
  });
});
