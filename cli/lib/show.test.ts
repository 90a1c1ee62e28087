// `cc show` as text (golden file test/fixtures/cli/views/show-*.txt) and as JSON, from records like the router's.
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { durationFromMs, timestampFromMs } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { TaskSchema, TaskStatus } from "../../gen/claudecluster/v1/router_pb.js";
import { ChangesSummarySchema, ExitReason, FileChangeKind, RunMode } from "../../gen/claudecluster/v1/run_pb.js";
import { expectGolden, FIXTURES } from "../testing/fixtures.js";
import { showJson, showText, taskFields } from "./show.js";
import { PLAIN } from "./style.js";

const now = 1_700_000_600_000;
const VIEWS = join(FIXTURES, "views");

const ended = create(TaskSchema, {
  id: "01jb3k5x2q7w9h4r8t6y1m0c3d",
  requestId: "5d0c8c5e-6a51-4e07-9a58-4a3b7d8f1e2a",
  status: TaskStatus.FAILED,
  promptSummary: "fix the failing tests in the parser",
  mode: RunMode.HEADLESS,
  agent: { model: "opus", allowedTools: ["Bash(npm test)", "Edit"], permissionMode: "acceptEdits", maxTurns: 3, mcpConfigJson: '{"mcpServers":{"docs":{"command":"x"}}}', addDirs: ["shared"] },
  labels: { region: "eu" },
  workerId: "local-2",
  requestedWorkerId: "",
  createdAt: timestampFromMs(now - 300_000),
  startedAt: timestampFromMs(now - 298_500),
  endedAt: timestampFromMs(now - 240_000),
  exit: {
    exitCode: 1,
    reason: ExitReason.COMPLETED,
    result: {
      subtype: "error_max_turns",
      isError: true,
      sessionId: "0d5e6f1c-1234-4abc-8def-0123456789ab",
      totalCostUsd: 0.0421,
      durationMs: 58_000n,
      durationApiMs: 31_000n,
      numTurns: 3,
      usage: { inputTokens: 12_000n, outputTokens: 900n, cacheCreationInputTokens: 3000n, cacheReadInputTokens: 8000n },
    },
    changes: {
      baseCommit: "4b825dc642cb6eb9a060e54bf8d69288fbee4904",
      finalCommit: "9f2c1e0d7a3b5c4e6f8091a2b3c4d5e6f7a8b9c0",
      branch: "cc/01jb3k5x2q7w9h4r8t6y1m0c3d",
      files: [
        { path: "src/parser.ts", kind: FileChangeKind.MODIFIED, insertions: 10, deletions: 4 },
        { path: "test/parser.test.ts", kind: FileChangeKind.ADDED, insertions: 2 },
        { path: "docs/logo.png", kind: FileChangeKind.MODIFIED, binary: true, oldSize: 10n, newSize: 12n },
        { path: "lib/old.ts", oldPath: "lib/older.ts", kind: FileChangeKind.RENAMED },
      ],
      filesTotal: 4,
      insertions: 12n,
      deletions: 4n,
      commits: 1,
      push: { url: "https://github.com/acme/widgets.git", branch: "cc/01jb3k5x2q7w9h4r8t6y1m0c3d", error: "! [rejected] (fetch first)" },
    },
  },
  lastSeq: 412n,
  firstSeq: 120n,
  attempts: 1,
  workspace: { source: { case: "repository", value: { url: "https://github.com/acme/widgets.git", ref: "main" } } },
  timeout: durationFromMs(600_000),
  envNames: ["API_TOKEN", "DEBUG"],
  spreadGroup: "run-4f1d",
});

describe("cc show", () => {
  it("a finished task: outcome, session, cost, tokens, its changes and push, options, env names and the log's trimmed start", () => {
    expectGolden(showText(ended, now, PLAIN), join(VIEWS, "show-ended.txt"));
  });

  it("a queued task", () => {
    const queued = create(TaskSchema, { id: "01jb3k5x2q7w9h4r8t6y1m0c3e", status: TaskStatus.QUEUED, promptSummary: "x".repeat(200), createdAt: timestampFromMs(now - 5000), queuePosition: 2, requestedWorkerId: "w9", lastSeq: 1n, firstSeq: 1n, detach: true });
    expectGolden(showText(queued, now, PLAIN), join(VIEWS, "show-queued.txt"));
  });

  it("--json is the protobuf JSON of the record", () => {
    const json = JSON.parse(showJson(ended)) as Record<string, unknown>;
    expect(json).toMatchObject({ id: ended.id, status: "TASK_STATUS_FAILED", envNames: ["API_TOKEN", "DEBUG"], firstSeq: "120", timeout: "600s" });
    expect((json["exit"] as { result: { sessionId: string } }).result.sessionId).toBe("0d5e6f1c-1234-4abc-8def-0123456789ab");
    // The changes summary, as ChangesSummary's JSON (64-bit counts are strings).
    expect((json["exit"] as { changes: unknown }).changes).toMatchObject({ branch: "cc/01jb3k5x2q7w9h4r8t6y1m0c3d", filesTotal: 4, insertions: "12", deletions: "4", commits: 1 });
  });

  it("changes: none, many files, a successful push", () => {
    const withChanges = (changes: NonNullable<NonNullable<typeof ended.exit>["changes"]>) => taskFields(create(TaskSchema, { ...ended, exit: { ...ended.exit!, changes } }), now);
    const field = (rows: [string, string][], label: string) => rows.find(([l]) => l === label)?.[1];
    const none = withChanges(create(ChangesSummarySchema, { baseCommit: "a", finalCommit: "a", branch: "cc/x" }));
    expect(field(none, "Changes")).toBe("no changes on cc/x");
    expect(field(none, "Files")).toBeUndefined();
    const files = Array.from({ length: 12 }, (_, i) => ({ path: `f${i}.txt`, kind: FileChangeKind.ADDED, insertions: 1 }));
    const many = withChanges(create(ChangesSummarySchema, { branch: "cc/x", files, filesTotal: 600, insertions: 600n, push: { url: "https://git.example/r.git", branch: "cc/x", commit: "0123456789abcdef", compareUrl: "https://git.example/r/compare/cc/x" } }));
    expect(field(many, "Changes")).toBe(`600 files +600 -0 on cc/x · \`cc diff ${ended.id}\`, \`cc apply ${ended.id}\``);
    expect(field(many, "Files")).toMatch(/^f0\.txt \(added, \+1 -0\), .*f9\.txt \(added, \+1 -0\) … and 590 more \(`cc diff --stat 01jb3k5x2q7w9h4r8t6y1m0c3d`\)$/);
    expect(field(many, "Pushed")).toBe("cc/x to https://git.example/r.git at 0123456789ab · open a pull request: https://git.example/r/compare/cc/x");
    const failed = withChanges(create(ChangesSummarySchema, { error: "git failed: disk full" }));
    expect(field(failed, "Changes")).toBe("not recorded · note: git failed: disk full");
  });
});
