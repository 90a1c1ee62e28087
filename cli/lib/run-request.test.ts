// cc run's flags become the RunRequest the router receives.
import { describe, expect, it } from "vitest";
import { EgressMode, RunMode } from "../../gen/claudecluster/v1/run_pb.js";
import { buildRunRequest, mcpConfigJson, parseLabels, splitToolList } from "./run-request.js";

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
});
