import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { RunMode, RunRequestSchema } from "../../gen/claudecluster/v1/run_pb.js";
import { MAX_INTERACTIVE_PROMPT_BYTES, PERMISSION_MODES, validateRunRequest, type RunLimits } from "./validate-run.js";

type Init = MessageInitShape<typeof RunRequestSchema>;

const LIMITS: RunLimits = { maxPromptBytes: 200 * 1024, maxTimeoutMs: 3_600_000 };

function check(init: Init, limits: RunLimits = LIMITS): unknown {
  try {
    validateRunRequest(create(RunRequestSchema, init), limits);
    return undefined;
  } catch (err) {
    return err;
  }
}

const dir = (value: string): Init["workspace"] => ({ source: { case: "directory", value } });
const manyLabels = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, "v"]));

/** [what, request, exact message prefix]. Every one is INVALID_ARGUMENT naming the field. */
const DIR_RULE = 'workspace.directory: must be "." or a relative path under the workspace root whose parts do not start with ".", got';

const BAD: [string, Init, string][] = [
  ["unknown mode", { prompt: "x", mode: 7 as RunMode }, "mode: unknown value 7; use RUN_MODE_HEADLESS or RUN_MODE_INTERACTIVE"],
  ["empty headless prompt", { prompt: "" }, "prompt: is empty; a headless task needs a prompt"],
  ["blank headless prompt", { prompt: " \n\t " }, "prompt: is empty; a headless task needs a prompt"],
  [
    "prompt over the limit",
    { prompt: "x".repeat(LIMITS.maxPromptBytes + 1) },
    `prompt: is ${LIMITS.maxPromptBytes + 1} bytes, over the limit of ${LIMITS.maxPromptBytes}; shorten it or put the material in the workspace`,
  ],
  [
    "prompt over the limit counted in UTF-8 bytes, not characters",
    { prompt: "é".repeat(LIMITS.maxPromptBytes / 2 + 1) },
    `prompt: is ${LIMITS.maxPromptBytes + 2} bytes, over the limit of ${LIMITS.maxPromptBytes}`,
  ],
  [
    "interactive prompt over 100 KiB",
    { prompt: "x".repeat(MAX_INTERACTIVE_PROMPT_BYTES + 1), mode: RunMode.INTERACTIVE },
    "prompt: is 102401 bytes; interactive prompts are limited to 102400 bytes (send more with SendInput)",
  ],
  ["NUL in the prompt", { prompt: "a\0b" }, "prompt: contains a NUL character"],
  ["task id with a space", { prompt: "x", taskId: "bad id" }, "task_id: must be 1-64 letters, digits, '-' or '_'"],
  ["task id of 65 characters", { prompt: "x", taskId: "a".repeat(65) }, "task_id: must be 1-64 letters, digits, '-' or '_'"],
  ["task id with a path", { prompt: "x", taskId: "../etc" }, "task_id: must be 1-64 letters, digits, '-' or '_'"],
  ["request id of 129 characters", { prompt: "x", requestId: "r".repeat(129) }, "request_id: is longer than 128 characters"],
  ["zero terminal columns", { prompt: "x", terminal: { cols: 0, rows: 10 } }, "terminal.cols: must be from 1 to 1000, got 0"],
  ["too many terminal rows", { prompt: "x", terminal: { cols: 80, rows: 1001 } }, "terminal.rows: must be from 1 to 1000, got 1001"],
  ["zero timeout", { prompt: "x", timeout: { seconds: 0n, nanos: 0 } }, "timeout: must be positive and at most 3600s"],
  ["negative timeout", { prompt: "x", timeout: { seconds: -5n } }, "timeout: must be positive and at most 3600s"],
  ["timeout over the maximum", { prompt: "x", timeout: { seconds: 3600n, nanos: 1_000_000 } }, "timeout: must be positive and at most 3600s"],
  ["65 labels", { prompt: "x", labels: manyLabels }, "labels: more than 64 labels"],
  ["label key with a space", { prompt: "x", labels: { "bad key": "v" } }, `labels: key "bad key" must be 1-63 letters, digits, '.', '_', '/' or '-'`],
  ["empty label key", { prompt: "x", labels: { "": "v" } }, `labels: key "" must be 1-63 letters`],
  ["label key of 64 characters", { prompt: "x", labels: { ["k".repeat(64)]: "v" } }, `labels: key "${"k".repeat(64)}" must be 1-63`],
  ["label value of 257 characters", { prompt: "x", labels: { region: "v".repeat(257) } }, "labels.region: value is longer than 256 characters"],
  ["worker id with a slash", { prompt: "x", workerId: "a/b" }, "worker_id: must be 1-64 letters, digits, '-' or '_'"],
  ["env name with a dash", { prompt: "x", env: { "MY-VAR": "v" } }, 'env: "MY-VAR" is not a variable name: use letters, digits and _, not starting with a digit (at most 128)'],
  ["env name starting with a digit", { prompt: "x", env: { "1X": "v" } }, 'env: "1X" is not a variable name'],
  ["env name with a newline", { prompt: "x", env: { "A\nB": "v" } }, 'env: "A\\nB" is not a variable name'],
  ["env HOME", { prompt: "x", env: { HOME: "/tmp" } }, "env: HOME is reserved by the worker; tasks cannot set it"],
  ["env PATH", { prompt: "x", env: { PATH: "/tmp" } }, "env: PATH is reserved by the worker; tasks cannot set it"],
  ["env ANTHROPIC_BASE_URL", { prompt: "x", env: { ANTHROPIC_BASE_URL: "http://evil" } }, "env: ANTHROPIC_BASE_URL is reserved by the worker (every ANTHROPIC_* name is); tasks cannot set it"],
  ["env CC_TASK_ID", { prompt: "x", env: { CC_TASK_ID: "other" } }, "env: CC_TASK_ID is reserved by the worker (every CC_* name is)"],
  ["env LD_PRELOAD", { prompt: "x", env: { LD_PRELOAD: "/x.so" } }, "env: LD_PRELOAD is reserved by the worker (every LD_* name is)"],
  ["env NODE_OPTIONS", { prompt: "x", env: { NODE_OPTIONS: "--require x" } }, "env: NODE_OPTIONS is reserved by the worker (every NODE_* name is)"],
  ["env https_proxy", { prompt: "x", env: { https_proxy: "http://p" } }, "env: https_proxy is reserved by the worker"],
  ["65 env variables", { prompt: "x", env: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`V${i}`, "1"])) }, "env: more than 64 variables"],
  ["env value over 32 KiB", { prompt: "x", env: { BIG: "x".repeat(32 * 1024 + 1) } }, "env: the value of BIG is over 32 KiB"],
  ["env values over 64 KiB in all", { prompt: "x", env: { A: "x".repeat(32 * 1024), B: "x".repeat(32 * 1024), C: "x" } }, "env: the variables are over 64 KiB in all"],
  ["env value with a NUL", { prompt: "x", env: { A: "a\0b" } }, "env: the value of A contains a NUL character"],
  ["spread group with a space", { prompt: "x", spreadGroup: "a b" }, "spread_group: must be at most 128 characters, without whitespace or control characters"],
  ["add-dir going up", { prompt: "x", agent: { addDirs: ["ok", "../up"] } }, 'agent.add_dirs[1]: must be "." or a relative path under the workspace root whose parts do not start with ".", got "../up"'],
  ["add-dir absolute", { prompt: "x", agent: { addDirs: ["/etc"] } }, "agent.add_dirs[0]: must be"],
  ["33 add-dirs", { prompt: "x", agent: { addDirs: Array.from({ length: 33 }, (_, i) => `d${i}`) } }, "agent.add_dirs: more than 32 entries"],
  ["settings that are not JSON", { prompt: "x", agent: { settingsJson: "{nope" } }, "agent.settings_json: is not valid JSON"],
  ["settings that are an array", { prompt: "x", agent: { settingsJson: "[]" } }, 'agent.settings_json: must be a JSON object such as {"permissions": {...}}'],
  ["agents over 100 KiB", { prompt: "x", agent: { agentsJson: `{"a":"${"x".repeat(MAX_INTERACTIVE_PROMPT_BYTES)}"}` } }, "agent.agents_json: is over 102400 bytes"],
  ["a JSON schema that is a string", { prompt: "x", agent: { jsonSchema: '"object"' } }, "agent.json_schema: must be a JSON object"],
  ["a JSON schema for an interactive task", { prompt: "x", mode: RunMode.INTERACTIVE, agent: { jsonSchema: "{}" } }, "agent.json_schema: applies to headless tasks only (claude takes it with --print)"],
  ["a fallback model that is a flag", { prompt: "x", agent: { fallbackModel: "--verbose" } }, 'agent.fallback_model: must not start with "-"'],
  ["a fallback model list with a space", { prompt: "x", agent: { fallbackModel: "sonnet, haiku" } }, "agent.fallback_model: must be model names separated by commas"],
  ["model that is a flag", { prompt: "x", agent: { model: "--dangerously-skip-permissions" } }, 'agent.model: must not start with "-" (got "--dangerously-skip-permissions")'],
  ["model of 1025 characters", { prompt: "x", agent: { model: "m".repeat(1025) } }, "agent.model: is longer than 1024 characters"],
  ["model with a newline", { prompt: "x", agent: { model: "opus\n--verbose" } }, "agent.model: contains a NUL or newline"],
  ["model with a NUL", { prompt: "x", agent: { model: "opus\0" } }, "agent.model: contains a NUL or newline"],
  ["201 allowed tools", { prompt: "x", agent: { allowedTools: Array.from({ length: 201 }, () => "Read") } }, "agent.allowed_tools: more than 200 entries"],
  ["blank allowed tool", { prompt: "x", agent: { allowedTools: ["Bash", "  "] } }, "agent.allowed_tools[1]: is empty"],
  ["allowed tool that is a flag", { prompt: "x", agent: { allowedTools: ["Read", "Edit", "-p"] } }, 'agent.allowed_tools[2]: must not start with "-" (got "-p")'],
  ["201 disallowed tools", { prompt: "x", agent: { disallowedTools: Array.from({ length: 201 }, () => "Read") } }, "agent.disallowed_tools: more than 200 entries"],
  ["disallowed tool that is a flag", { prompt: "x", agent: { disallowedTools: ["--help"] } }, 'agent.disallowed_tools[0]: must not start with "-" (got "--help")'],
  ["disallowed tool with a newline", { prompt: "x", agent: { disallowedTools: ["Bash\n"] } }, "agent.disallowed_tools[0]: contains a NUL or newline"],
  [
    "unknown permission mode",
    { prompt: "x", agent: { permissionMode: "yolo" } },
    'agent.permission_mode: unknown mode "yolo"; use one of acceptEdits, auto, bypassPermissions, manual, dontAsk, plan',
  ],
  ["permission mode in the wrong case", { prompt: "x", agent: { permissionMode: "PLAN" } }, 'agent.permission_mode: unknown mode "PLAN"'],
  ["10001 max turns", { prompt: "x", agent: { maxTurns: 10_001 } }, "agent.max_turns: must be at most 10000"],
  ["NUL in the system prompt", { prompt: "x", agent: { systemPrompt: "be\0nice" } }, "agent.system_prompt: contains a NUL character"],
  ["NUL in the appended system prompt", { prompt: "x", agent: { appendSystemPrompt: "\0" } }, "agent.append_system_prompt: contains a NUL character"],
  ["system prompt over 100 KiB", { prompt: "x", agent: { systemPrompt: "s".repeat(102_401) } }, "agent.system_prompt: is over 102400 bytes"],
  ["appended system prompt over 100 KiB in bytes", { prompt: "x", agent: { appendSystemPrompt: "€".repeat(34_134) } }, "agent.append_system_prompt: is over 102400 bytes"],
  ["MCP config that is not JSON", { prompt: "x", agent: { mcpConfigJson: "{mcpServers:" } }, "agent.mcp_config_json: is not valid JSON"],
  ["MCP config that is an array", { prompt: "x", agent: { mcpConfigJson: "[]" } }, 'agent.mcp_config_json: must be a JSON object such as {"mcpServers": {...}}'],
  ["MCP config that is null", { prompt: "x", agent: { mcpConfigJson: "null" } }, 'agent.mcp_config_json: must be a JSON object such as {"mcpServers": {...}}'],
  ["MCP config that is a string", { prompt: "x", agent: { mcpConfigJson: '"servers.json"' } }, 'agent.mcp_config_json: must be a JSON object'],
  ["resume id with a path", { prompt: "x", agent: { resumeSessionId: "../../x" } }, "agent.resume_session_id: must be a claude session id (letters, digits and '-')"],
  ["resume id of 65 characters", { prompt: "x", agent: { resumeSessionId: "a".repeat(65) } }, "agent.resume_session_id: must be a claude session id"],
  ["negative budget", { prompt: "x", agent: { maxBudgetUsd: -1 } }, "agent.max_budget_usd: must be zero or a positive amount"],
  ["NaN budget", { prompt: "x", agent: { maxBudgetUsd: Number.NaN } }, "agent.max_budget_usd: must be zero or a positive amount"],
  ["infinite budget", { prompt: "x", agent: { maxBudgetUsd: Number.POSITIVE_INFINITY } }, "agent.max_budget_usd: must be zero or a positive amount"],
  ["empty workspace directory", { prompt: "x", workspace: dir("") }, "workspace.directory: must be 1-255 characters"],
  ["workspace directory of 256 characters", { prompt: "x", workspace: dir("d".repeat(256)) }, "workspace.directory: must be 1-255 characters"],
  ["absolute workspace directory", { prompt: "x", workspace: dir("/etc") }, `${DIR_RULE} "/etc"`],
  ["workspace directory with ..", { prompt: "x", workspace: dir("a/../../b") }, `${DIR_RULE} "a/../../b"`],
  ["workspace directory with a backslash ..", { prompt: "x", workspace: dir("a\\..\\b") }, DIR_RULE],
  ["workspace directory with an empty part", { prompt: "x", workspace: dir("a//b") }, `${DIR_RULE} "a//b"`],
  ["a hidden workspace directory", { prompt: "x", workspace: dir("a/.hidden") }, `${DIR_RULE} "a/.hidden"`],
  ["another task's fresh workspace", { prompt: "x", workspace: dir(".tasks/01abc") }, `${DIR_RULE} ".tasks/01abc"`],
  ["workspace directory with a space", { prompt: "x", workspace: dir("my project") }, "workspace.directory: may contain only letters, digits, '.', '_', '-' and '/'"],
  ["workspace directory with a shell character", { prompt: "x", workspace: dir("a;rm") }, "workspace.directory: may contain only letters, digits"],
];

const repo = (value: { url: string; ref?: string; token?: string }): Init["workspace"] => ({ source: { case: "repository", value } });
const URL_RULE = "only https://host/path, ssh://[user@]host/path and scp-like user@host:path URLs are accepted";
const bad = (problem: string) => `workspace.repository.url: ${problem}; ${URL_RULE}`;
const CREDENTIALS = bad("must not carry credentials (user:password@host), pass an access token in workspace.repository.token");
const REF_HINT = "give a branch or tag name, a full commit id, or a full ref name such as refs/heads/main";
const badRef = (problem: string) => `workspace.repository.ref: ${problem}; ${REF_HINT}`;
const GOOD_URL = "https://github.com/acme/widgets.git";

/** [what, repository, exact message]. */
const BAD_REPOSITORIES: [string, { url: string; ref?: string; token?: string }, string][] = [
  ["with an empty URL", { url: "" }, bad("is empty")],
  ["with a URL over 2048 characters", { url: `https://example.com/${"r".repeat(2030)}` }, bad("is longer than 2048 characters")],
  ["with a space in the URL", { url: "https://example.com/a b.git" }, bad("contains whitespace or control characters")],
  ["with a newline in the URL", { url: "https://example.com/r.git\n--upload-pack=x" }, bad("contains whitespace or control characters")],
  ["with a NUL in the URL", { url: "https://example.com/r\0.git" }, bad("contains whitespace or control characters")],
  ["with a DEL in the URL", { url: "https://example.com/r\u007f.git" }, bad("contains whitespace or control characters")],
  ["that is an option", { url: "--upload-pack=touch /tmp/x" }, bad("contains whitespace or control characters")],
  ["that is an option without spaces", { url: "--upload-pack=id" }, bad('must not start with "-"')],
  ["ext::", { url: "ext::sh -c touch% /tmp/pwned" }, bad("contains whitespace or control characters")],
  ["ext:: without spaces", { url: "ext::id" }, bad('names a git transport helper ("::")')],
  ["fd::", { url: "fd::3" }, bad('names a git transport helper ("::")')],
  ["a transport helper after a host", { url: "git@host::x" }, bad('names a git transport helper ("::")')],
  ["file://", { url: "file:///etc/passwd" }, bad('uses the scheme "file://"')],
  ["git://", { url: "git://github.com/acme/widgets.git" }, bad('uses the scheme "git://"')],
  ["plain http://", { url: "http://github.com/acme/widgets.git" }, bad('uses the scheme "http://"')],
  ["ftp://", { url: "ftp://example.com/r.git" }, bad('uses the scheme "ftp://"')],
  ["git+ssh://", { url: "git+ssh://git@example.com/r.git" }, bad('uses the scheme "git+ssh://"')],
  ["an upper-case scheme", { url: "HTTPS://example.com/r.git" }, bad('uses the scheme "HTTPS://"')],
  ["an absolute local path", { url: "/srv/git/r.git" }, bad("is a local path, not a URL")],
  ["a relative local path", { url: "../r.git" }, bad("is a local path, not a URL")],
  ["a bare name", { url: "widgets" }, bad("is a local path, not a URL")],
  ["a local path with a colon after a slash", { url: "./a:b" }, bad("is a local path, not a URL")],
  ["https with user and password", { url: "https://user:pass@github.com/acme/widgets.git" }, CREDENTIALS],
  ["https with a token as user", { url: "https://ghp_abc@github.com/acme/widgets.git" }, CREDENTIALS],
  ["ssh with a password", { url: "ssh://git:pw@example.com/r.git" }, CREDENTIALS],
  ["scp-like with a password", { url: "git:pw@example.com:r.git" }, CREDENTIALS],
  ["https without a host", { url: "https:///r.git" }, bad("has no valid host name")],
  ["ssh with an option as host", { url: "ssh://-oProxyCommand=id/r.git" }, bad("has no valid host name")],
  ["ssh with an option as user", { url: "ssh://-oProxyCommand=id@example.com/r.git" }, bad("has a user name that is not letters, digits, '.', '_', '~' and '-', or starts with '-'")],
  ["https without a path", { url: "https://github.com" }, bad("has no repository path")],
  ["https with only /", { url: "https://github.com/" }, bad("has no repository path")],
  ["scp-like with an option as host", { url: "-oProxyCommand=id:r.git" }, bad('must not start with "-"')],
  ["scp-like with an option as user", { url: "-u@example.com:r.git" }, bad('must not start with "-"')],
  ["scp-like with a bad host", { url: "git@exa_mple!:r.git" }, bad("has no valid [user@]host before the colon")],
  ["scp-like with an empty user", { url: "@example.com:r.git" }, bad("has no valid [user@]host before the colon")],
  ["scp-like with an empty path", { url: "git@example.com:" }, bad('has an empty path or one starting with "-"')],
  ["scp-like with a path that is an option", { url: "git@example.com:-x" }, bad('has an empty path or one starting with "-"')],
  ["a ref that is an option", { url: GOOD_URL, ref: "--upload-pack=id" }, badRef('must not start with "-"')],
  ["a ref with ..", { url: GOOD_URL, ref: "main..dev" }, badRef('contains ".."')],
  ["a ref with a space", { url: GOOD_URL, ref: "my branch" }, badRef("contains whitespace or control characters")],
  ["a ref with a control character", { url: GOOD_URL, ref: "main\u0001" }, badRef("contains whitespace or control characters")],
  ["a ref with ~", { url: GOOD_URL, ref: "main~1" }, badRef("contains one of ~ ^ : ? * [ \\")],
  ["a ref with ^", { url: GOOD_URL, ref: "main^" }, badRef("contains one of ~ ^ : ? * [ \\")],
  ["a ref with :", { url: GOOD_URL, ref: "a:b" }, badRef("contains one of ~ ^ : ? * [ \\")],
  ["a ref with a glob", { url: GOOD_URL, ref: "release/*" }, badRef("contains one of ~ ^ : ? * [ \\")],
  ["a ref with a backslash", { url: GOOD_URL, ref: "a\\b" }, badRef("contains one of ~ ^ : ? * [ \\")],
  ["a ref with @{", { url: GOOD_URL, ref: "main@{1}" }, badRef('is "@" or contains "@{"')],
  ["the ref @", { url: GOOD_URL, ref: "@" }, badRef('is "@" or contains "@{"')],
  ["a ref starting with /", { url: GOOD_URL, ref: "/main" }, badRef('starts or ends with "/" or contains "//"')],
  ["a ref ending with /", { url: GOOD_URL, ref: "main/" }, badRef('starts or ends with "/" or contains "//"')],
  ["a ref with //", { url: GOOD_URL, ref: "a//b" }, badRef('starts or ends with "/" or contains "//"')],
  ["a ref ending with .", { url: GOOD_URL, ref: "main." }, badRef('ends with "."')],
  ["a ref ending with .lock", { url: GOOD_URL, ref: "main.lock" }, badRef('has a part that starts with "." or ends with ".lock"')],
  ["a ref with a part ending with .lock", { url: GOOD_URL, ref: "a.lock/b" }, badRef('has a part that starts with "." or ends with ".lock"')],
  ["a ref with a hidden part", { url: GOOD_URL, ref: "a/.b" }, badRef('has a part that starts with "." or ends with ".lock"')],
  ["a ref over 255 characters", { url: GOOD_URL, ref: "r".repeat(256) }, badRef("is longer than 255 characters")],
  ["a token with an ssh URL", { url: "git@github.com:acme/widgets.git", token: "t" }, "workspace.repository.token: is only used with https:// URLs; ssh uses the worker's keys"],
  ["a token with a newline", { url: GOOD_URL, token: "abc\npassword=evil" }, "workspace.repository.token: contains whitespace or control characters"],
  ["a token over 4096 characters", { url: GOOD_URL, token: "t".repeat(4097) }, "workspace.repository.token: is longer than 4096 characters"],
];

describe("validateRunRequest rejects", () => {
  it.each(BAD)("%s", (_what, init, message) => {
    const err = check(init);
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as ConnectError).code).toBe(Code.InvalidArgument);
    expect((err as ConnectError).rawMessage.startsWith(message), (err as ConnectError).rawMessage).toBe(true);
  });

  it("has at least 25 distinct cases", () => {
    expect(BAD.length).toBeGreaterThanOrEqual(25);
  });

  it.each(BAD_REPOSITORIES)("repository %s", (_what, repository, message) => {
    const err = check({ prompt: "x", workspace: repo(repository) });
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as ConnectError).code).toBe(Code.InvalidArgument);
    expect((err as ConnectError).rawMessage).toBe(message);
  });

  it("has at least 40 distinct repository cases", () => {
    expect(BAD_REPOSITORIES.length).toBeGreaterThanOrEqual(40);
  });

  it("never echoes a token or a password in its message", () => {
    for (const repository of [{ url: "https://u:hunter2@example.com/r.git" }, { url: "git@example.com:r.git", token: "hunter2" }, { url: "https://example.com/r.git", token: "hunter2\n" }]) {
      expect((check({ prompt: "x", workspace: repo(repository) }) as ConnectError).rawMessage).not.toContain("hunter2");
    }
  });

  it("an MCP config over 100 KiB (one argv entry) with INVALID_ARGUMENT naming agent.mcp_config_json", () => {
    const mcpConfigJson = JSON.stringify({ mcpServers: { big: { command: "x", args: ["y".repeat(200 * 1024)] } } });
    const err = check({ prompt: "x", agent: { mcpConfigJson } });
    expect((err as ConnectError).code).toBe(Code.InvalidArgument);
    expect((err as ConnectError).rawMessage).toBe("agent.mcp_config_json: is over 102400 bytes (it travels as one command-line argument)");
  });

  it("the prompt over the caller's limit before the interactive limit", () => {
    const err = check({ prompt: "x".repeat(2000), mode: RunMode.INTERACTIVE }, { maxPromptBytes: 1000, maxTimeoutMs: 1000 });
    expect((err as ConnectError).rawMessage).toBe("prompt: is 2000 bytes, over the limit of 1000; shorten it or put the material in the workspace");
  });
});

describe("validateRunRequest accepts", () => {
  const GOOD: [string, Init][] = [
    ["just a prompt", { prompt: "fix the tests" }],
    ["a unicode prompt", { prompt: "Grüße, 世界! 🌍 — explain ∑ and ε" }],
    ["a prompt that starts with -", { prompt: "--help me" }],
    ["a prompt exactly at the byte limit", { prompt: "é".repeat(LIMITS.maxPromptBytes / 2) }],
    ["an interactive task with an empty prompt", { prompt: "", mode: RunMode.INTERACTIVE }],
    ["an interactive prompt of exactly 100 KiB", { prompt: "x".repeat(MAX_INTERACTIVE_PROMPT_BYTES), mode: RunMode.INTERACTIVE }],
    ["an explicit headless mode", { prompt: "x", mode: RunMode.HEADLESS }],
    ["valid ids", { prompt: "x", taskId: "01hx-task_ID", workerId: "worker-1", requestId: "r".repeat(128) }],
    ["terminal at both bounds", { prompt: "x", mode: RunMode.INTERACTIVE, terminal: { cols: 1, rows: 1000 } }],
    ["a timeout at the maximum", { prompt: "x", timeout: { seconds: 3600n } }],
    ["a sub-second timeout", { prompt: "x", timeout: { nanos: 1_000_000 } }],
    ["64 labels with every allowed key character", { prompt: "x", labels: { ...Object.fromEntries(Array.from({ length: 63 }, (_, i) => [`k${i}`, ""])), "a.b_c/d-E9": "v".repeat(256) } }],
    [
      "every agent option",
      {
        prompt: "x",
        agent: {
          model: "claude-opus-4-1",
          allowedTools: ["Bash(git *)", "Edit"],
          disallowedTools: ["WebFetch"],
          permissionMode: "plan",
          maxTurns: 10_000,
          systemPrompt: "multi\nline",
          appendSystemPrompt: "more",
          mcpConfigJson: '{"mcpServers":{}}',
          resumeSessionId: "0d5e6f1c-1234-4abc-8def-0123456789ab",
          maxBudgetUsd: 2.5,
        },
      },
    ],
    ...PERMISSION_MODES.map((mode): [string, Init] => [`permission mode ${mode}`, { prompt: "x", agent: { permissionMode: mode } }]),
    ["task variables", { prompt: "x", env: { MY_TOKEN: "s3cret", _x: "", LANG: "C.UTF-8", API_KEY_2: "x".repeat(32 * 1024) }, spreadGroup: "run-01abc" }],
    [
      "the newer agent options",
      {
        prompt: "x",
        agent: { addDirs: [".", "shared/data"], settingsJson: '{"permissions":{}}', agentsJson: '{"r":{"description":"d","prompt":"p"}}', fallbackModel: "sonnet,claude-haiku-4-5@20251001", jsonSchema: '{"type":"object"}' },
      },
    ],
    ["200 allowed tools", { prompt: "x", agent: { allowedTools: Array.from({ length: 200 }, (_, i) => `Tool${i}`) } }],
    ["a nested workspace directory", { prompt: "x", workspace: dir("team/project-1/v2.0") }],
    ["a workspace directory with dots in names", { prompt: "x", workspace: dir("a..b/c.d") }],
    ["the workspace root itself", { prompt: "x", workspace: dir(".") }],
    ["an empty workspace", { prompt: "x", workspace: {} }],
    ["an https repository", { prompt: "x", workspace: repo({ url: GOOD_URL }) }],
    ["an https repository with a port, a query and a token", { prompt: "x", workspace: repo({ url: "https://git.example.com:8443/a/b?x=1", token: "ghp_" + "a".repeat(4092) }) }],
    ["an https repository on an IPv6 address", { prompt: "x", workspace: repo({ url: "https://[::1]:8443/r.git" }) }],
    ["an ssh:// repository with a user and a port", { prompt: "x", workspace: repo({ url: "ssh://git@github.com:22/acme/widgets.git" }) }],
    ["an ssh:// repository without a user", { prompt: "x", workspace: repo({ url: "ssh://example.com/~me/r.git" }) }],
    ["an scp-like repository", { prompt: "x", workspace: repo({ url: "git@github.com:acme/widgets.git" }) }],
    ["an scp-like repository without a user", { prompt: "x", workspace: repo({ url: "example.com:r.git" }) }],
    ["a URL of exactly 2048 characters", { prompt: "x", workspace: repo({ url: `https://example.com/${"r".repeat(2048 - 20)}` }) }],
    ...["main", "v1.2.3", "feature/x-y_z", "0123456789abcdef0123456789abcdef01234567", "refs/heads/main", "refs/pull/7/head", "HEAD", "a..b".replace("..", "."), "ünïcode", "r".repeat(255)].map(
      (ref): [string, Init] => [`the ref ${ref.slice(0, 40)}`, { prompt: "x", workspace: repo({ url: GOOD_URL, ref }) }],
    ),
  ];

  it.each(GOOD)("%s", (_what, init) => {
    expect(check(init)).toBeUndefined();
  });
});
