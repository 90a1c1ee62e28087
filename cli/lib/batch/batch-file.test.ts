// Batch files: JSON Lines and YAML entries become the RunRequests `cc run` would send, and every mistake names its
// line. The entry keys are checked against `cc run`'s own options, so a new option cannot be forgotten here.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createCli } from "../../cli.js";
import { RunCommand } from "../../commands/run.js";
import { batchFormat, ENTRY_KEYS, NOT_IN_BATCH, readBatch } from "./batch-file.js";

const dir = mkdtempSync(join(tmpdir(), "cc-batch-test-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const options = { source: "tasks.jsonl", callerEnv: { FROM_CALLER: "mine" }, baseDir: dir };

const jsonl = (...lines: unknown[]) => lines.map((l) => (typeof l === "string" ? l : JSON.stringify(l))).join("\n");

describe("reading a batch file", () => {
  it("JSON Lines: one task a line, blank lines skipped, a string alone is a prompt", async () => {
    writeFileSync(join(dir, "settings.json"), '{"permissions":{"allow":["Read"]}}');
    const entries = await readBatch(
      jsonl(
        { prompt: "fix the tests", name: "tests", model: "sonnet", "allowed-tools": ["Bash", "Edit"], "max-turns": 3, timeout: "5m" },
        "",
        "\"just a prompt\"",
        { prompt: "with env", env: { A_VAR: "1" }, label: { region: "eu" }, cwd: "proj", settings: "settings.json", "json-schema": { type: "object" } },
        { prompt: "camelCase too", allowedTools: "Read", maxBudgetUsd: "0.5", env: ["FROM_CALLER", "B=2"], "add-dir": "shared" },
      ),
      "jsonl",
      options,
    );
    expect(entries.map((e) => [e.index, e.line, e.name])).toEqual([[1, 1, "tests"], [2, 3, undefined], [3, 4, undefined], [4, 5, undefined]]);
    const [a, b, c, d] = entries.map((e) => e.request);
    expect(a!.agent).toMatchObject({ model: "sonnet", allowedTools: ["Bash", "Edit"], maxTurns: 3 });
    expect(Number(a!.timeout?.seconds)).toBe(300);
    expect(b!.prompt).toBe("just a prompt");
    expect(c!.env).toEqual({ A_VAR: "1" });
    expect(c!.labels).toEqual({ region: "eu" });
    expect(c!.workspace?.source).toEqual({ case: "directory", value: "proj" });
    expect(c!.agent?.settingsJson).toBe('{"permissions":{"allow":["Read"]}}');
    expect(c!.agent?.jsonSchema).toBe('{"type":"object"}');
    expect(d!.agent).toMatchObject({ allowedTools: ["Read"], maxBudgetUsd: 0.5, addDirs: ["shared"] });
    expect(d!.env).toEqual({ FROM_CALLER: "mine", B: "2" });
    expect(new Set(entries.map((e) => e.request.requestId)).size).toBe(4);
  });

  it("an environment's options: no-cache, and setup secrets from the caller's environment", async () => {
    const [entry] = await readBatch(jsonl({ prompt: "set up afresh", repo: "https://example.com/r.git", "no-cache": true, "setup-secret": "FROM_CALLER" }), "jsonl", options);
    expect(entry!.request).toMatchObject({ noCache: true, setupSecrets: { FROM_CALLER: "mine" } });
    await expect(readBatch(jsonl({ prompt: "x", "no-cache": "yes" }), "jsonl", options)).rejects.toThrow('tasks.jsonl line 1: "no-cache" takes true or false, got "yes"');
  });

  it("YAML: a list, or a mapping with tasks, line numbers from the file", async () => {
    const yaml = ["# nightly", "tasks:", "  - prompt: fix lint", "    model: opus", "  - prompt: |", "      add tests", "      for the parser", "    allowed-tools: [Bash, Edit]", "  - just a prompt"].join("\n");
    const entries = await readBatch(yaml, "yaml", { ...options, source: "tasks.yaml" });
    expect(entries.map((e) => [e.line, e.request.prompt])).toEqual([[3, "fix lint"], [5, "add tests\nfor the parser\n"], [9, "just a prompt"]]);
    expect(entries[1]!.request.agent?.allowedTools).toEqual(["Bash", "Edit"]);
    const list = await readBatch("- prompt: one\n- prompt: two\n", "yaml", options);
    expect(list.map((e) => e.line)).toEqual([1, 2]);
  });

  it("names the line of every mistake", async () => {
    const bad = async (text: string, format: "jsonl" | "yaml" = "jsonl") => {
      try {
        await readBatch(text, format, options);
      } catch (err) {
        return (err as Error).message;
      }
      return "no error";
    };
    expect(await bad(jsonl({ prompt: "ok" }, "", '{"prompt": "x",'))).toMatch(/^tasks\.jsonl line 3: not valid JSON \(.+\); each line is one task, e\.g\. \{"prompt": "fix the tests", "model": "sonnet"\}$/);
    expect(await bad(jsonl({ prompt: "ok" }, { model: "opus" }))).toBe('tasks.jsonl line 2: needs a "prompt": the text for claude');
    expect(await bad(jsonl({ prompt: "ok", colour: "red" }))).toMatch(/^tasks\.jsonl line 1: unknown key "colour"; entries take "prompt", "name" and cc run's options without the dashes \(model, /);
    expect(await bad(jsonl({ prompt: "ok", detach: true }))).toBe('tasks.jsonl line 1: "detach" does not go in a batch entry: cc batch follows every task to its end');
    expect(await bad(jsonl({ prompt: "ok", "max-turns": "many" }))).toBe('tasks.jsonl line 1: "max-turns" expects a whole number of 1 or more, got "many"');
    expect(await bad(jsonl({ prompt: "ok", env: { "BAD-NAME": "x" } }))).toBe('tasks.jsonl line 1: "env": "BAD-NAME" is not a variable name: use letters, digits and _, not starting with a digit (at most 128)');
    expect(await bad(jsonl({ prompt: "ok", env: ["NOT_SET_ANYWHERE"] }))).toBe('tasks.jsonl line 1: "env" NOT_SET_ANYWHERE: NOT_SET_ANYWHERE is not set in your environment; give "env" NOT_SET_ANYWHERE=VALUE');
    expect(await bad(jsonl([1, 2]))).toBe('tasks.jsonl line 1: expected a task: an object with a "prompt" (or just the prompt as a string)');
    expect(await bad("tasks:\n  - prompt: ok\n  - prompt: [unclosed\n", "yaml")).toMatch(/^tasks\.jsonl line \d: not valid YAML/);
    expect(await bad("prompt: not a list\n", "yaml")).toBe('tasks.jsonl: expected a list of tasks (each "- prompt: ..."), or a mapping with a "tasks" list');
    expect(await bad("\n\n", "jsonl")).toBe("tasks.jsonl has no tasks: give one entry per task, each with a prompt");
  });

  it("tells the format by the file's name, else by its first line", () => {
    expect(batchFormat("a.yaml", "{}")).toBe("yaml");
    expect(batchFormat("a.jsonl", "- x")).toBe("jsonl");
    expect(batchFormat("", '# comment\n{"prompt": "x"}')).toBe("jsonl");
    expect(batchFormat("", "- prompt: x")).toBe("yaml");
  });

  it("takes every cc run option that makes sense in a batch, and says why about the others", () => {
    const definition = createCli().definition(RunCommand)!;
    const longNames = definition.options.map((o) => o.definition.split(" ")[0]!.split(",").find((n) => n.startsWith("--"))!.slice(2));
    const covered = new Set([...Object.keys(ENTRY_KEYS), ...Object.keys(NOT_IN_BATCH)]);
    // --allowedTools and --disallowedTools are claude's spellings of two options already covered.
    expect(longNames.filter((n) => !covered.has(n) && !/^(allowedTools|disallowedTools)$/.test(n))).toEqual([]);
  });
});
