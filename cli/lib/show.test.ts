// `cc show` as text (golden file test/fixtures/cli/views/show-*.txt) and as JSON, from records like the router's.
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { durationFromMs, timestampFromMs } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { TaskSchema, TaskStatus } from "../../gen/claudecluster/v1/router_pb.js";
import { ExitReason, RunMode } from "../../gen/claudecluster/v1/run_pb.js";
import { expectGolden, FIXTURES } from "../testing/fixtures.js";
import { showJson, showText } from "./show.js";
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
  it("a finished task: outcome, session, cost, tokens, options, env names and the log's trimmed start", () => {
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
  });
});
