// `cc completion`: the scripts (golden files test/fixtures/cli/views/completion.*) are generated from the command
// definitions, and each works in its real shell: bash through COMP_WORDS, fish through `complete -C`, zsh through a
// pseudo-terminal (zpty) with the real completion system. `.ci/run` installs zsh and fish.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { COMMANDS, createCli, runCli } from "../cli.js";
import { Capture, expectGolden, FIXTURES } from "../testing/fixtures.js";
import { commandSpecs, SHELLS, type Shell } from "./completion.js";

const dir = mkdtempSync(join(tmpdir(), "cc-completion-test-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function script(shell: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new Capture();
  const stderr = new Capture();
  const code = await runCli(createCli(), ["completion", shell], { stdout, stderr, env: {} });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

function saved(shell: Shell, text: string): string {
  const path = join(dir, `cc.${shell}`);
  writeFileSync(path, text);
  return path;
}

function run(cmd: string, args: string[], input?: string): string {
  const r = spawnSync(cmd, args, { encoding: "utf8", timeout: 30_000, input, env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin", HOME: dir, TERM: "dumb" } });
  if (r.error) throw r.error;
  expect(r.status, `${cmd}: ${r.stderr}`).toBe(0);
  return r.stdout;
}

describe("cc completion", () => {
  it("prints a script per shell, generated from the commands (golden files)", async () => {
    for (const shell of SHELLS) {
      const r = await script(shell);
      expect(r.code).toBe(0);
      expectGolden(r.stdout, join(FIXTURES, "views", `completion.${shell}`));
    }
    const bad = await script("powershell");
    expect(bad).toMatchObject({ code: 2, stderr: 'cc: cc completion takes one of bash, zsh, fish; got "powershell"\n' });
  });

  it("knows every command and every option, with value names", () => {
    const cli = createCli();
    const specs = commandSpecs(COMMANDS.flatMap((c) => (cli.definition(c) ? [{ paths: c.paths ?? [], definition: cli.definition(c)! }] : [])));
    const run = specs.find((s) => s.path.join(" ") === "run")!;
    expect(run.options.find((o) => o.names.includes("--cwd"))).toMatchObject({ value: "dir" });
    expect(run.options.find((o) => o.names.includes("--count"))).toMatchObject({ names: ["-n", "--count"], value: "n" });
    expect(specs.find((s) => s.path.join(" ") === "batch")?.positional).toBe("file");
    expect(specs.map((s) => s.path.join(" "))).toContain("config");
  });

  it("bash: commands, subcommands, options and their values", async () => {
    const path = saved("bash", (await script("bash")).stdout);
    const complete = (...words: string[]) =>
      run("bash", ["-c", `source ${path}; COMP_WORDS=(${words.map((w) => `'${w}'`).join(" ")}); COMP_CWORD=$(( \${#COMP_WORDS[@]} - 1 )); _cc_complete; printf '%s\\n' "\${COMPREPLY[@]}"`]).trim().split("\n");
    expect(complete("cc", "ba")).toEqual(["batch"]);
    expect(complete("cc", "config", "s")).toEqual(["set", "show"]);
    expect(complete("cc", "run", "--output-format", "")).toEqual(["text", "json", "stream-json"]);
    expect(complete("cc", "run", "--model", "x", "--max-t")).toEqual(["--max-turns"]);
    expect(complete("cc", "ps", "--status", "c")).toEqual(["cancelled"]);
    expect(complete("claudecluster", "completion", "")).toEqual(["bash", "zsh", "fish"]);
    // And it passes shellcheck (installed by .ci/run).
    run("shellcheck", ["-s", "bash", path]);
  });

  it("fish: the same, with descriptions", async () => {
    const path = saved("fish", (await script("fish")).stdout);
    const complete = (line: string) => run("fish", ["-c", `source ${path}; complete -C '${line}'`]).trim().split("\n");
    expect(complete("cc ba")).toEqual(["batch\tRun every task of a file, a few at a time"]);
    expect(complete("cc config s").map((l) => l.split("\t")[0])).toEqual(["set", "show"]);
    expect(complete("cc run --output-format ").map((l) => l.split("\t")[0]).sort()).toEqual(["json", "stream-json", "text"]);
    expect(complete("cc wait --time")).toEqual(["--timeout\tGive up after this long, e.g. 30s, 10m (exit 124)"]);
  });

  it("zsh: through its completion system in a pseudo-terminal", async () => {
    const path = saved("zsh", (await script("zsh")).stdout);
    // zpty drives an interactive zsh; `zpty -r z line PATTERN` blocks until the output matches, so no sleeping.
    const driver = `
      zmodload zsh/zpty
      zpty z 'TERM=dumb zsh -f -i'
      zpty -w z 'PS1="%% "; autoload -U compinit; compinit -u -D; source ${path}; print -r -- READY\${(l:1::_:)}'
      zpty -r z out '*READY_*'
      zpty -w -n z $'cc config s\\t'
      zpty -r z out '*Show the profiles and which router is in use*'
      print -r -- "$out"
      zpty -w -n z $'\\x15cc run --output-format \\t'
      zpty -r z out '*stream-json*text*'
      print -r -- "$out"
      zpty -d z
    `;
    const out = run("timeout", ["30", "zsh", "-f", "-c", driver]);
    expect(out).toMatch(/set\s+-- Add or change a profile/);
    expect(out).toMatch(/show\s+-- Show the profiles and which router is in use/);
    expect(out).toMatch(/json\s+stream-json\s+text/);
  });
});
