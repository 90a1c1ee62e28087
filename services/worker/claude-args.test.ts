import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { RunMode, RunRequestSchema } from "../../gen/claudecluster/v1/run_pb.js";
import { claudeInvocation, mergeSettings } from "./claude-args.js";

const HEADLESS_BASE = ["-p", "--output-format=stream-json", "--verbose", "--include-partial-messages"];

function req(init: MessageInitShape<typeof RunRequestSchema>) {
  return create(RunRequestSchema, init);
}

/** Every AgentOptions field set, list fields with more than one entry. */
const FULL_AGENT = {
  model: "opus",
  allowedTools: ["Bash(git *)", "Edit"],
  disallowedTools: ["WebFetch", "WebSearch"],
  permissionMode: "acceptEdits",
  maxTurns: 7,
  systemPrompt: "You are terse.\nVery terse.",
  appendSystemPrompt: "Answer in French.",
  mcpConfigJson: '{"mcpServers":{"x":{"command":"y"}}}',
  resumeSessionId: "0d5e6f1c-1234-4abc-8def-0123456789ab",
  maxBudgetUsd: 0.25,
};

const MCP_FILE = "/private/t1/mcp-config.json";

const FULL_AGENT_FLAGS = [
  "--model=opus",
  "--allowedTools=Bash(git *)",
  "--allowedTools=Edit",
  "--disallowedTools=WebFetch",
  "--disallowedTools=WebSearch",
  "--permission-mode=acceptEdits",
  "--system-prompt=You are terse.\nVery terse.",
  "--append-system-prompt=Answer in French.",
  "--mcp-config=/private/t1/mcp-config.json",
  "--resume=0d5e6f1c-1234-4abc-8def-0123456789ab",
];

describe("claudeInvocation, headless", () => {
  it("with ask_permissions, speaks the control protocol: stream-json input, the stdio prompt tool, the prompt as a user message, stdin held open", () => {
    const inv = claudeInvocation(req({ prompt: "rm it", agent: { askPermissions: true, allowedTools: ["Read"] } }));
    expect(inv.args).toEqual([...HEADLESS_BASE, "--allowedTools=Read", "--input-format=stream-json", "--permission-prompt-tool=stdio"]);
    expect(inv.holdStdin).toBe(true);
    expect(JSON.parse(inv.stdin!)).toEqual({ type: "user", message: { role: "user", content: [{ type: "text", text: "rm it" }] } });
    expect(inv.stdin!.endsWith("\n")).toBe(true);
  });

  it("runs claude -p with stream-json and partial messages, and writes the prompt to stdin", () => {
    expect(claudeInvocation(req({ prompt: "hello there" }))).toEqual({ args: HEADLESS_BASE, stdin: "hello there" });
  });

  it("treats RUN_MODE_UNSPECIFIED and RUN_MODE_HEADLESS alike", () => {
    const unspecified = claudeInvocation(req({ prompt: "p", mode: RunMode.UNSPECIFIED }));
    const headless = claudeInvocation(req({ prompt: "p", mode: RunMode.HEADLESS }));
    expect(unspecified).toEqual(headless);
    expect(headless.args).toEqual(HEADLESS_BASE);
  });

  it("never puts the prompt in argv, even one that looks like a flag", () => {
    const prompt = "--dangerously-skip-permissions and more";
    const inv = claudeInvocation(req({ prompt, agent: FULL_AGENT }), { mcpConfigFile: MCP_FILE });
    expect(inv.stdin).toBe(prompt);
    expect(inv.args).not.toContain(prompt);
    expect(inv.args.some((a) => a.includes("dangerously"))).toBe(false);
    expect(inv.args).not.toContain("--");
  });

  it("maps every AgentOptions field to its flag in --flag=value form, max turns and budget last", () => {
    const inv = claudeInvocation(req({ prompt: "go", agent: FULL_AGENT }), { mcpConfigFile: MCP_FILE });
    expect(inv.args).toEqual([...HEADLESS_BASE, ...FULL_AGENT_FLAGS, "--max-turns=7", "--max-budget-usd=0.25"]);
    expect(inv.stdin).toBe("go");
  });

  it("repeats list flags once per entry", () => {
    const inv = claudeInvocation(req({ prompt: "go", agent: { allowedTools: ["Read", "Write", "Bash(npm test)"] } }));
    expect(inv.args.filter((a) => a.startsWith("--allowedTools"))).toEqual([
      "--allowedTools=Read",
      "--allowedTools=Write",
      "--allowedTools=Bash(npm test)",
    ]);
  });

  it("leaves out flags for empty fields (zero turns and budget mean claude's defaults)", () => {
    const inv = claudeInvocation(req({ prompt: "go", agent: { maxTurns: 0, maxBudgetUsd: 0, model: "" } }));
    expect(inv.args).toEqual(HEADLESS_BASE);
  });

  it("ignores hook settings (they are for the interactive TUI)", () => {
    const inv = claudeInvocation(req({ prompt: "go" }), { hookSettings: '{"hooks":{}}' });
    expect(inv.args).toEqual(HEADLESS_BASE);
  });

  it("maps the newer flags: --fallback-model, --agents, --add-dir (resolved on the worker), --settings, --json-schema", () => {
    const agent = {
      model: "opus",
      fallbackModel: "sonnet,haiku",
      agentsJson: '{"reviewer":{"description":"Reviews","prompt":"Review"}}',
      addDirs: ["shared", "data/in"],
      settingsJson: '{"permissions":{"allow":["Read"]}}',
      jsonSchema: '{"type":"object"}',
    };
    const inv = claudeInvocation(req({ prompt: "go", agent }), { addDirs: ["/ws/shared", "/ws/data/in"] });
    expect(inv.args).toEqual([
      ...HEADLESS_BASE,
      "--model=opus",
      "--fallback-model=sonnet,haiku",
      '--agents={"reviewer":{"description":"Reviews","prompt":"Review"}}',
      "--add-dir=/ws/shared",
      "--add-dir=/ws/data/in",
      '--settings={"permissions":{"allow":["Read"]}}',
      '--json-schema={"type":"object"}',
    ]);
  });

  it("keeps a multi-line system prompt as one argv entry", () => {
    const inv = claudeInvocation(req({ prompt: "go", agent: { systemPrompt: "line 1\nline 2 with spaces" } }));
    expect(inv.args).toContain("--system-prompt=line 1\nline 2 with spaces");
    expect(inv.args).toHaveLength(HEADLESS_BASE.length + 1);
  });
});

describe("claudeInvocation, interactive", () => {
  const SETTINGS = '{"hooks":{"Stop":[]}}';

  it("ends with --, prompt and has no stdin", () => {
    const inv = claudeInvocation(req({ prompt: "hello", mode: RunMode.INTERACTIVE }), { hookSettings: SETTINGS });
    expect(inv).toEqual({ args: [`--settings=${SETTINGS}`, "--", "hello"] });
    expect(inv.stdin).toBeUndefined();
  });

  it("puts agent flags first, then --settings=, then -- and the prompt", () => {
    const inv = claudeInvocation(req({ prompt: "do it", mode: RunMode.INTERACTIVE, agent: FULL_AGENT }), { hookSettings: SETTINGS, mcpConfigFile: MCP_FILE });
    expect(inv.args).toEqual([...FULL_AGENT_FLAGS, `--settings=${SETTINGS}`, "--", "do it"]);
  });

  it("passes neither --max-turns nor --max-budget-usd (headless only), and none of the -p flags", () => {
    const inv = claudeInvocation(req({ prompt: "x", mode: RunMode.INTERACTIVE, agent: { maxTurns: 3, maxBudgetUsd: 1 } }), { hookSettings: SETTINGS });
    expect(inv.args).toEqual([`--settings=${SETTINGS}`, "--", "x"]);
    for (const flag of HEADLESS_BASE) expect(inv.args).not.toContain(flag);
  });

  it("an empty prompt adds no -- and no prompt entry", () => {
    const inv = claudeInvocation(req({ prompt: "", mode: RunMode.INTERACTIVE, agent: { model: "sonnet" } }), { hookSettings: SETTINGS });
    expect(inv.args).toEqual(["--model=sonnet", `--settings=${SETTINGS}`]);
  });

  it("a prompt that starts with - stays a prompt after --", () => {
    const inv = claudeInvocation(req({ prompt: "-v please", mode: RunMode.INTERACTIVE }), { hookSettings: SETTINGS });
    expect(inv.args.slice(-2)).toEqual(["--", "-v please"]);
  });

  it("merges the task's --settings with the worker's hooks into one --settings, the task's hooks first", () => {
    const task = '{"permissions":{"allow":["Read"]},"hooks":{"Stop":[{"hooks":[{"type":"command","command":"mine"}]}],"PreToolUse":[]}}';
    const ours = '{"hooks":{"Stop":[{"hooks":[{"type":"command","command":"relay"}]}],"SessionStart":[{"hooks":[]}]}}';
    const inv = claudeInvocation(req({ prompt: "", mode: RunMode.INTERACTIVE, agent: { settingsJson: task } }), { hookSettings: ours });
    expect(inv.args.filter((a) => a.startsWith("--settings="))).toHaveLength(1);
    expect(JSON.parse(inv.args.find((a) => a.startsWith("--settings="))!.slice("--settings=".length))).toEqual({
      permissions: { allow: ["Read"] },
      hooks: {
        Stop: [{ hooks: [{ type: "command", command: "mine" }] }, { hooks: [{ type: "command", command: "relay" }] }],
        PreToolUse: [],
        SessionStart: [{ hooks: [] }],
      },
    });
    expect(mergeSettings('{"hooks":"nonsense"}', '{"hooks":{"Stop":[1]}}')).toBe('{"hooks":{"Stop":[1]}}');
    expect(mergeSettings("", ours)).toBe(ours);
    expect(mergeSettings(task, "")).toBe(task);
  });

  it("without hook settings there is no --settings", () => {
    const inv = claudeInvocation(req({ prompt: "hi", mode: RunMode.INTERACTIVE }));
    expect(inv.args).toEqual(["--", "hi"]);
  });
});

describe("claudeInvocation, MCP config", () => {
  it("names the file holding the config, never the JSON itself (a command line is readable by every process)", () => {
    const agent = { mcpConfigJson: '{"mcpServers":{"gh":{"command":"gh-mcp","env":{"GITHUB_TOKEN":"ghp_secret"}}}}' };
    for (const mode of [RunMode.HEADLESS, RunMode.INTERACTIVE]) {
      const inv = claudeInvocation(req({ prompt: "go", mode, agent }), { mcpConfigFile: MCP_FILE });
      expect(inv.args).toContain(`--mcp-config=${MCP_FILE}`);
      expect(inv.args.join(" ")).not.toContain("ghp_secret");
    }
  });

  it("refuses to build a command line for an MCP config without its file", () => {
    expect(() => claudeInvocation(req({ prompt: "go", agent: { mcpConfigJson: '{"mcpServers":{}}' } }))).toThrow(/as a file/);
  });
});
