import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { TaskStatus } from "../../../gen/claudecluster/v1/router_pb.js";
import { MissedRunPolicy, OverlapPolicy, RoutineSchema } from "../../../gen/claudecluster/v1/routines_pb.js";
import { parsePairs, routineDetails, routinesTable } from "./commands.js";

const routine = create(RoutineSchema, {
  name: "nightly",
  prompt: "Run the tests\non {{branch}}",
  defaults: { branch: "main" },
  schedule: { cron: "0 3 * * *", timeZone: "Europe/Paris", overlap: OverlapPolicy.QUEUE, missed: MissedRunPolicy.RUN_ONCE },
  retry: { maxRetries: 2, backoff: { seconds: 30n } },
  webhook: { url: "https://h.example/hook", hasSecret: true },
  hasFireToken: true,
  nextRunAt: timestampFromMs(Date.parse("2026-01-06T02:00:00Z")),
  lastRun: { firstTaskId: "t1", taskIds: ["t1", "t2"], startedAt: timestampFromMs(Date.parse("2026-01-05T02:00:00Z")), status: TaskStatus.SUCCEEDED, trigger: "schedule", outcome: "succeeded" },
  lastDelivery: { httpStatus: 200, attempts: 2, outcome: "delivered", at: timestampFromMs(Date.parse("2026-01-05T02:10:00Z")) },
});

describe("cc routine output", () => {
  it("ls: one aligned line per routine with its next and last run", () => {
    expect(routinesTable([routine, create(RoutineSchema, { name: "adhoc", prompt: "p" })])).toBe(
      [
        "NAME     SCHEDULE                  NEXT RUN           LAST RUN           OUTCOME    TASK",
        "nightly  0 3 * * * (Europe/Paris)  2026-01-06 02:00Z  2026-01-05 02:00Z  succeeded  t2",
        "adhoc    -                         -                  -                  -          -",
        "",
      ].join("\n"),
    );
  });

  it("show: the definition, the policies, the last run's tasks and the last delivery, never a secret", () => {
    expect(routineDetails(routine)).toBe(
      [
        "name:        nightly",
        "prompt:      Run the tests",
        "             on {{branch}}",
        "default:     branch=main",
        "schedule:    0 3 * * * (Europe/Paris), overlap queue, missed runs run-once",
        "next run:    2026-01-06 02:00Z",
        "retries:     up to 2, backoff 30s doubling",
        "webhook:     https://h.example/hook (signed)",
        "delivery:    delivered (HTTP 200, 2 attempt(s), 2026-01-05 02:10Z)",
        "fire token:  set",
        "last run:    succeeded (schedule, started 2026-01-05 02:00Z)",
        "tasks:       t1, t2",
        "",
      ].join("\n"),
    );
  });

  it("--set takes key=value, and says so otherwise", () => {
    expect(parsePairs("--set", ["a=1", "b=x=y"])).toEqual({ a: "1", b: "x=y" });
    expect(() => parsePairs("--set", ["nokey"])).toThrow('--set expects key=value, got "nokey"');
  });
});
