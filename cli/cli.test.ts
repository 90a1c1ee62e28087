// Command-line parsing: every command's options land where expected, and mistakes are usage errors (exit 2) with a
// message on stderr that says what to do.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { COMMANDS, commandsFor, createCli, runCli } from "./cli.js";
import { AttachCommand } from "./commands/attach.js";
import { CancelCommand } from "./commands/cancel.js";
import { ConfigDeleteCommand } from "./commands/config/delete.js";
import { ConfigSetCommand } from "./commands/config/set.js";
import { ConfigShowCommand } from "./commands/config/show.js";
import { ConfigUseCommand } from "./commands/config/use.js";
import { DemoCommand } from "./commands/demo.js";
import { LogsCommand } from "./commands/logs.js";
import { PsCommand } from "./commands/ps.js";
import { RunCommand } from "./commands/run.js";
import { UpCommand } from "./commands/up.js";
import { WorkersCommand } from "./commands/workers.js";
import { Capture } from "./testing/fixtures.js";

const cli = createCli();
const parse = (...argv: string[]) => cli.process(argv, {});

/**
 * Runs a command line with no router configured and an empty config home, through a cc that registers only the
 * commands the line can mean, as cli/main.ts does; runWith takes the cc to use (createCli(): every command).
 */
const home = mkdtempSync(join(tmpdir(), "cc-cli-test-"));
afterAll(() => rmSync(home, { recursive: true, force: true }));
async function run(...argv: string[]) {
  return runWith(createCli("cc", false, argv), argv);
}
async function runWith(cli: ReturnType<typeof createCli>, argv: string[]) {
  const stdout = new Capture();
  const stderr = new Capture();
  const code = await runCli(cli, argv, { stdout, stderr, env: { XDG_CONFIG_HOME: home, HOME: home } });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

describe("cc run parsing", () => {
  it("joins the prompt words and takes claude's flags by claude's names", () => {
    const c = parse(
      "run", "--model", "sonnet", "--allowed-tools", "Bash,Edit", "--allowedTools", "Read", "--disallowed-tools", "WebFetch",
      "--permission-mode", "acceptEdits", "--max-turns", "3", "--system-prompt", "be brief", "--append-system-prompt", "and kind",
      "--mcp-config", '{"mcpServers":{}}', "--resume", "abc-123", "--max-budget-usd", "0.5", "fix", "the", "tests",
    ) as RunCommand;
    expect(c).toBeInstanceOf(RunCommand);
    expect(c.prompt).toEqual(["fix", "the", "tests"]);
    expect(c.model).toBe("sonnet");
    expect(c.allowedTools).toEqual(["Bash,Edit", "Read"]);
    expect(c.disallowedTools).toEqual(["WebFetch"]);
    expect(c.permissionMode).toBe("acceptEdits");
    expect(c.maxTurns).toBe("3");
    expect(c.systemPrompt).toBe("be brief");
    expect(c.appendSystemPrompt).toBe("and kind");
    expect(c.mcpConfig).toBe('{"mcpServers":{}}');
    expect(c.resume).toBe("abc-123");
    expect(c.maxBudgetUsd).toBe("0.5");
  });

  it("takes the cluster options, the modes and the router options", () => {
    const c = parse(
      "run", "-d", "--worker", "w1", "--label", "region=eu", "--label", "gpu=true", "--cwd", "proj", "--timeout", "5m",
      "--router", "http://r:1", "--token", "t", "--profile", "cloud", "hello",
    ) as RunCommand;
    expect([c.detach, c.interactive, c.worker, c.label, c.cwd, c.timeout]).toEqual([true, false, "w1", ["region=eu", "gpu=true"], "proj", "5m"]);
    expect([c.router, c.token, c.profile]).toEqual(["http://r:1", "t", "cloud"]);
    const i = parse("run", "-i") as RunCommand;
    expect([i.interactive, i.prompt]).toEqual([true, []]);
    const r = parse("run", "--repo", "https://github.com/a/b", "--ref", "main", "--output-format", "json", "go") as RunCommand;
    expect([r.repo, r.ref, r.outputFormat]).toEqual(["https://github.com/a/b", "main", "json"]);
  });

  it("reads options after the prompt too, and treats everything after -- as prompt", () => {
    const c = parse("run", "hello", "there", "--model", "opus") as RunCommand;
    expect([c.prompt, c.model]).toEqual([["hello", "there"], "opus"]);
    const d = parse("run", "--", "-x", "is", "a", "flag") as RunCommand;
    expect(d.prompt).toEqual(["-x", "is", "a", "flag"]);
    const s = parse("run", "-") as RunCommand;
    expect(s.prompt).toEqual(["-"]);
  });

  it("refuses unknown options and wrong values with exit code 2 and a hint", async () => {
    const cases: [string[], RegExp][] = [
      [["run", "--bogus", "x"], /Unsupported option name \("--bogus"\)/],
      [["run"], /give a prompt/],
      [["run", "--output-format", "yaml", "x"], /--output-format must be one of text, json, stream-json/],
      [["run", "-i", "-d"], /-i and -d do not go together/],
      [["run", "-i", "x"], /-i needs a terminal/],
      [["run", "-d", "--output-format", "json", "x"], /-d prints only the task id/],
      [["run", "--include-partial-messages", "x"], /needs --output-format stream-json/],
      [["run", "-d", "x"], /-d needs a router that keeps running after cc returns/],
      [["run", "--max-turns", "many", "x"], /--max-turns expects a whole number/],
      [["run", "--max-budget-usd", "0", "x"], /--max-budget-usd expects an amount/],
      [["run", "--timeout", "soon", "x"], /--timeout expects a duration such as 30s/],
      [["run", "--label", "eu", "x"], /--label expects key=value/],
      [["run", "--ref", "main", "x"], /--ref needs --repo/],
      [["run", "--cwd", "../up", "x"], /--cwd is a directory name/],
      [["run", "--permission-mode", "yolo", "x"], /--permission-mode must be one of acceptEdits/],
      [["run", "--mcp-config", "/nonexistent/mcp.json", "x"], /--mcp-config: cannot read \/nonexistent\/mcp.json: ENOENT/],
      [["run", "--mcp-config", "{not json", "x"], /--mcp-config: the value is not valid JSON/],
      [["run", "--router", "ftp://x", "x"], /--router .*expected an http:\/\/ or https:\/\/ URL/],
      [["ps", "--profile", "nope"], /no profile "nope": there are no profiles yet/],
      [["up", "--workers", "0"], /--workers expects a whole number from 1 to 64/],
      [["run", "-n", "0", "x"], /^cc: -n expects a whole number from 1 to 32, got "0"\n$/],
      [["run", "-n", "two", "x"], /-n expects a whole number from 1 to 32, got "two"/],
      [["run", "-n", "3", "-i", "x"], /-n runs headless attempts side by side; it does not go with -i/],
      [["run", "-n", "3", "--output-format", "json", "x"], /--output-format prints one task's output; with -n, read an attempt with `cc attach --output-format json <task>` or use `cc batch --json`/],
      [["run", "-n", "2", "--resume", "abc", "x"], /-n starts new sessions; --continue and --resume continue one/],
      [["run", "--continue", "--resume", "abc", "x"], /give either --continue \(your latest session\) or --resume SESSION, not both/],
      [["run", "--continue", "x"], /--continue: no earlier `cc run` from .* on a local cluster to continue; run one first, or give --resume SESSION/],
      [["run", "--env", "MY-VAR=1", "x"], /^cc: --env: "MY-VAR" is not a variable name: use letters, digits and _, not starting with a digit \(at most 128\)\n$/],
      [["run", "--env", "ANTHROPIC_BASE_URL=http://evil", "x"], /--env: ANTHROPIC_BASE_URL is reserved by the worker \(every ANTHROPIC_\* name is\); tasks cannot set it/],
      [["run", "--env", "UNSET_IN_TEST", "x"], /--env UNSET_IN_TEST: UNSET_IN_TEST is not set in your environment; give --env UNSET_IN_TEST=VALUE/],
      [["run", "--add-dir", "/etc", "x"], /--add-dir is a directory name under the worker's workspace root/],
      [["run", "--settings", "{nope", "x"], /--settings: the value is not valid JSON/],
      [["batch"], /Not enough positional arguments/],
      [["batch", "/nonexistent/tasks.jsonl"], /^cc: cannot read \/nonexistent\/tasks\.jsonl: ENOENT\n$/],
      [["batch", "--parallel", "0", "x.jsonl"], /--parallel expects a whole number from 1 to 64, got "0"/],
      [["wait"], /Not enough positional arguments/],
      [["wait", "--timeout", "soon", "t1"], /--timeout expects a duration such as 30s/],
      [["logs", "--tail", "many", "t1"], /--tail expects a whole number from 0 to 1000000, got "many"/],
      [["logs", "--since", "yesterday", "t1"], /--since expects a duration such as 30m or 2h, or a time/],
      [["ps", "--status", "done"], /--status must be one of queued, running, succeeded, failed, cancelled; got "done"/],
      [["ps", "--limit", "0"], /--limit expects a whole number of 1 or more/],
      [["send"], /Not enough positional arguments/],
      [["show"], /Not enough positional arguments/],
      [["completion", "tcsh"], /cc completion takes one of bash, zsh, fish; got "tcsh"/],
      [["cancel"], /Not enough positional arguments/],
      [["attach"], /Not enough positional arguments/],
      [["nosuchcommand"], /Command not found/],
    ];
    for (const [argv, message] of cases) {
      const r = await run(...argv);
      expect(r.code, argv.join(" ")).toBe(2);
      expect(r.stderr, argv.join(" ")).toMatch(message);
      expect(r.stdout, argv.join(" ")).toBe("");
    }
  });

  it("names the line of a malformed batch entry, and starts nothing", async () => {
    const file = join(home, "tasks.jsonl");
    writeFileSync(file, ['{"prompt": "one"}', '{"prompt": "two", "max-turns": 2}', '{"prompt": "three",', '{"prompt": "four"}'].join("\n"));
    const r = await run("batch", file);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`^cc: ${file.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")} line 3: not valid JSON \\(.+\\); each line is one task, e\\.g\\. \\{"prompt": "fix the tests", "model": "sonnet"\\}\n$`));
    expect(r.stdout).toBe("");
  });

  it("says how to get a router when none is configured", async () => {
    const r = await run("ps");
    expect(r.code).toBe(3);
    expect(r.stderr).toBe("cc: no router configured — start one with `cc up` and set --router (or CC_ROUTER_URL), or save it with `cc config set local --router URL`\n");
  });

  it("documents the exit codes in cc run --help", async () => {
    const r = await run("run", "--help");
    expect(r.code).toBe(0);
    for (const code of ["`0`", "`1`", "`2`", "`3`", "`4`", "`130`"]) expect(r.stdout).toContain(code);
  });
});

describe("the commands a command line can mean", () => {
  it("are those its first word names, with help and version; all of them when it names none", () => {
    const names = (argv: string[]) => commandsFor(argv).map((c) => c.paths?.[0]?.join(" "));
    expect(names(["run", "hello"])).toEqual(["run", "-h", "-v"]);
    expect(names(["routine", "ls"])).toEqual(["routine save", "routine apply", "routine ls", "routine show", "routine run", "routine rm", "-h", "-v"]);
    expect(commandsFor(["rnu", "hello"])).toBe(COMMANDS);
    expect(commandsFor(["--help"])).toBe(COMMANDS);
    expect(commandsFor([])).toBe(COMMANDS);
  });

  it("parse and fail as they do with every command registered", async () => {
    const lines = [
      ["run", "--bogus", "x"], ["run", "-n"], ["routine"], ["routine", "nope"], ["env"], ["config", "nope"], ["rnu", "x"],
      ["ps", "--all", "--nope"], ["wait", "--timeout"], ["--nope"], ["-h"], ["--version"],
    ];
    for (const argv of lines) expect(await run(...argv), argv.join(" ")).toEqual(await runWith(createCli(), argv));
  });
});

describe("other commands' parsing", () => {
  it("attach, logs, ps, cancel, workers", () => {
    const a = parse("attach", "--output-format", "stream-json", "--include-partial-messages", "t1") as AttachCommand;
    expect(a).toBeInstanceOf(AttachCommand);
    expect([a.task, a.outputFormat, a.includePartialMessages]).toEqual(["t1", "stream-json", true]);
    const l = parse("logs", "-f", "t2") as LogsCommand;
    expect([l.task, l.follow]).toEqual(["t2", true]);
    expect((parse("logs", "t2") as LogsCommand).follow).toBe(false);
    const p = parse("ps", "--all", "--json") as PsCommand;
    expect([p.all, p.json]).toEqual([true, true]);
    expect((parse("ps") as PsCommand).all).toBe(false);
    const c = parse("cancel", "--reason", "done", "t1", "t2") as CancelCommand;
    expect([c.tasks, c.reason]).toEqual([["t1", "t2"], "done"]);
    const w = parse("workers", "--json", "--router", "http://x:1") as WorkersCommand;
    expect([w.json, w.router]).toEqual([true, "http://x:1"]);
  });

  it("config set/use/show/delete", () => {
    const s = parse("config", "set", "cloud", "--router", "https://r", "--token", "t") as ConfigSetCommand;
    expect(s).toBeInstanceOf(ConfigSetCommand);
    expect([s.name, s.routerUrl, s.token]).toEqual(["cloud", "https://r", "t"]);
    expect((parse("config", "use", "local") as ConfigUseCommand).name).toBe("local");
    expect(parse("config", "show", "--json")).toBeInstanceOf(ConfigShowCommand);
    expect(parse("config")).toBeInstanceOf(ConfigShowCommand);
    expect((parse("config", "delete", "cloud") as ConfigDeleteCommand).name).toBe("cloud");
  });

  it("up and demo", () => {
    const u = parse("up", "--workers", "3", "--port", "0", "--max-sessions", "2") as UpCommand;
    expect([u.workers, u.port, u.maxSessions, u.host]).toEqual(["3", "0", "2", "127.0.0.1"]);
    expect((parse("up") as UpCommand).port).toBe("8400");
    expect(parse("demo")).toBeInstanceOf(DemoCommand);
  });

  it("prints the command list for `cc` alone and the version for --version", async () => {
    const r = await run();
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("cc run");
    expect(r.stdout).toContain("cc config set");
    const v = await run("--version");
    expect(v.stdout).toMatch(/^\d+\.\d+\.\d+/);
  });
});
