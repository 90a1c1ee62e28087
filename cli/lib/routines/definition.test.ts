import { describe, expect, it } from "vitest";
import { MissedRunPolicy, OverlapPolicy } from "../../../gen/claudecluster/v1/routines_pb.js";
import { readRoutineFile } from "./definition.js";

const read = (text: string, env: Record<string, string> = {}) => readRoutineFile("team/nightly.yaml", env, text);
const error = (text: string) => {
  try {
    read(text);
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error("expected an error");
};

describe("routine YAML", () => {
  it("reads every field, task options checked as cc run's, several routines per file", () => {
    const [a, b] = read(`name: nightly
description: The nightly test run
prompt: |
  Run the tests on {{branch}}.
defaults:
  branch: main
schedule:
  cron: "0 3 * * *"
  timeZone: Europe/Paris
  overlap: queue
  missed: run-once
retry:
  maxRetries: 2
  backoff: 30s
webhook:
  url: https://ci.example.com/hook
  secretEnv: HOOK_SECRET
task:
  model: sonnet
  allowedTools: [Bash, Edit]
  maxTurns: 5
  labels:
    region: eu
  repo: https://github.com/org/repo
  ref: main
  timeout: 10m
---
name: other
prompt: hi
`, { HOOK_SECRET: "s3cret" });
    expect(a).toMatchObject({
      name: "nightly",
      description: "The nightly test run",
      prompt: "Run the tests on {{branch}}.\n",
      defaults: { branch: "main" },
      schedule: { cron: "0 3 * * *", timeZone: "Europe/Paris", overlap: OverlapPolicy.QUEUE, missed: MissedRunPolicy.RUN_ONCE },
      retry: { maxRetries: 2, backoff: { seconds: 30n } },
      webhook: { url: "https://ci.example.com/hook", secret: "s3cret" },
    });
    expect(a!.task).toMatchObject({ prompt: "", requestId: "", labels: { region: "eu" }, agent: { model: "sonnet", allowedTools: ["Bash", "Edit"], maxTurns: 5 } });
    expect(a!.task?.timeout?.seconds).toBe(600n);
    expect(b!.name).toBe("other");
  });

  it("names an unknown field, its place and its line", () => {
    expect(error("name: x\nprompt: p\nschedul:\n  cron: '* * * * *'\n")).toBe(
      'team/nightly.yaml:3: unknown field "schedul" (known: name, description, prompt, defaults, schedule, retry, webhook, task)',
    );
    expect(error("name: x\nprompt: p\ntask:\n  model: opus\n  allowed_tools: [Bash]\n")).toMatch(/^team\/nightly\.yaml:5: unknown field "task\.allowed_tools" \(known: model, allowedTools,/);
  });

  it("names a wrong type, a missing prompt, a bad policy and a YAML syntax error with their lines", () => {
    expect(error("name: x\nprompt: p\nretry:\n  maxRetries: two\n")).toBe("team/nightly.yaml:4: retry.maxRetries must be a number");
    expect(error("name: x\n")).toBe('team/nightly.yaml:1: the routine has no "prompt"');
    expect(error("name: x\nprompt: p\nschedule:\n  cron: '* * * * *'\n  overlap: sometimes\n")).toBe('team/nightly.yaml:1: overlap must be skip, queue or allow; got "sometimes"');
    expect(error("name: x\nprompt: [unclosed\n")).toMatch(/^team\/nightly\.yaml:\d+: /);
    expect(error("name: x\nprompt: p\nwebhook:\n  url: https://h\n  secretEnv: NOPE\n")).toBe("team/nightly.yaml:4: webhook.secretEnv names NOPE, which is not set in this environment");
  });
});
