// The web UI's words and numbers, and its reconnect schedule.
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { TaskStatus } from "../../gen/claudecluster/v1/router_pb.js";
import { Phase } from "../../gen/claudecluster/v1/run_pb.js";
import { BACKOFF_FIRST_MS, BACKOFF_MAX_MS, backoffMs } from "../../web/src/app/backoff.js";
import { cost, count, duration, elapsed, parseLabels, parseTools, taskPhase } from "../../web/src/app/format.js";

describe("the web UI's formats", () => {
  it("says what a task does in a few words", () => {
    expect(taskPhase({ status: TaskStatus.QUEUED, phase: Phase.QUEUED, queuePosition: 2 })).toBe("queued (#2)");
    expect(taskPhase({ status: TaskStatus.RUNNING, phase: Phase.RUNNING, queuePosition: 0 })).toBe("working");
    expect(taskPhase({ status: TaskStatus.RUNNING, phase: Phase.WAITING_FOR_INPUT, queuePosition: 0 })).toBe("waiting for input");
    expect(taskPhase({ status: TaskStatus.RUNNING, phase: Phase.WAITING_FOR_APPROVAL, queuePosition: 0 })).toBe("waiting for approval");
    expect(taskPhase({ status: TaskStatus.RUNNING, phase: Phase.UNSPECIFIED, queuePosition: 0 })).toBe("running");
    expect(taskPhase({ status: TaskStatus.FAILED, phase: Phase.RUNNING, queuePosition: 0 })).toBe("failed");
  });

  it("writes costs, durations and counts as people read them", () => {
    expect(cost(0)).toBe("");
    expect(cost(0.00172)).toBe("$0.0017");
    expect(cost(0.5)).toBe("$0.5");
    expect(cost(12.345)).toBe("$12.35");
    expect(duration(950)).toBe("950 ms");
    expect(duration(3400)).toBe("3.4s");
    expect(duration(61_000)).toBe("1m 1s");
    expect(duration(3_700_000)).toBe("1h 1m");
    expect(duration(3 * 86_400_000)).toBe("3d 0h");
    expect(count(999)).toBe("999");
    expect(count(1234n)).toBe("1.2k");
    expect(count(2_500_000)).toBe("2.5M");
  });

  it("measures a task from its start, or its creation while queued, to its end or now", () => {
    const ts = (ms: number) => timestampFromMs(ms);
    expect(elapsed({ createdAt: ts(1000), startedAt: ts(3000), endedAt: ts(8500) }, 99_000)).toBe(5500);
    expect(elapsed({ createdAt: ts(1000), startedAt: undefined, endedAt: undefined }, 4000)).toBe(3000);
  });

  it("parses labels and tools as the form takes them, naming a bad entry", () => {
    expect(parseLabels("region=eu, gpu=true")).toEqual({ labels: { region: "eu", gpu: "true" } });
    expect(parseLabels("")).toEqual({ labels: {} });
    expect(parseLabels("region")).toEqual({ error: '"region" is not key=value' });
    expect(parseTools("Bash, Edit Write,Bash(git log *)")).toEqual(["Bash", "Edit", "Write", "Bash(git log *)"]);
  });

  it("backs off from half a second to 15 seconds, with jitter below each step", () => {
    expect(backoffMs(1, 0.999)).toBeLessThanOrEqual(BACKOFF_FIRST_MS);
    expect(backoffMs(1, 0)).toBe(BACKOFF_FIRST_MS * 0.75);
    expect(backoffMs(2, 0.999)).toBeLessThanOrEqual(2 * BACKOFF_FIRST_MS);
    expect(backoffMs(2, 0)).toBeGreaterThan(BACKOFF_FIRST_MS);
    expect(backoffMs(50, 0.999)).toBeLessThanOrEqual(BACKOFF_MAX_MS);
    expect(backoffMs(50, 0)).toBe(BACKOFF_MAX_MS * 0.75);
  });
});
