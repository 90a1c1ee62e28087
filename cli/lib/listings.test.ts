// The tables of cc ps and cc workers, and their JSON.
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { TaskSchema, TaskStatus, WorkerHealth, WorkerRecordSchema } from "../../gen/claudecluster/v1/router_pb.js";
import { ChangesSummarySchema, RunMode } from "../../gen/claudecluster/v1/run_pb.js";
import { tasksJson, tasksTable, workersJson, workersTable } from "./listings.js";
import { formatAge, formatTable } from "./table.js";

const now = 1_700_000_100_000;
const tasks = [
  create(TaskSchema, { id: "01abc", status: TaskStatus.RUNNING, workerId: "local-1", createdAt: timestampFromMs(now - 75_000), promptSummary: "fix the\nfailing tests" }),
  create(TaskSchema, { id: "01abd", status: TaskStatus.QUEUED, createdAt: timestampFromMs(now - 5_000), mode: RunMode.INTERACTIVE }),
];

describe("listings", () => {
  it("tasks as a table", () => {
    expect(tasksTable(tasks, now)).toBe(
      ["ID     STATUS   WORKER   AGE  CHANGES  PROMPT", "01abc  running  local-1  1m   -        fix the failing tests", "01abd  queued   -        5s   -        [interactive]", ""].join("\n"),
    );
    expect(tasksTable(tasks, now, 54).split("\n")[1]).toBe("01abc  running  local-1  1m   -        fix the failin…");
  });

  it("a task that waits for approval says so", () => {
    const waiting = create(TaskSchema, { id: "01abe", status: TaskStatus.RUNNING, workerId: "w2", createdAt: timestampFromMs(now - 2_000), promptSummary: "clean", pendingPermissions: [{ requestId: "r1", summary: "Bash(rm -rf build)" }] });
    expect(tasksTable([waiting], now).split("\n")[1]).toBe("01abe  waiting for approval  w2      2s   -        clean");
  });

  it("an ended task's changes: how many files and lines, or none", () => {
    const ended = (n: number, changes: Parameters<typeof create<typeof ChangesSummarySchema>>[1]) =>
      create(TaskSchema, { id: `01ab${n}`, status: TaskStatus.SUCCEEDED, workerId: "w1", createdAt: timestampFromMs(now - 9_000), promptSummary: "edit", exit: { changes } });
    const rows = tasksTable([ended(1, { filesTotal: 3, insertions: 12n, deletions: 4n, branch: "cc/1" }), ended(2, { filesTotal: 1, insertions: 1n, branch: "cc/2" }), ended(3, { baseCommit: "a", finalCommit: "a", branch: "cc/3" })], now).split("\n");
    expect(rows.slice(0, 4)).toEqual(["ID     STATUS     WORKER  AGE  CHANGES         PROMPT", "01ab1  succeeded  w1      9s   3 files +12 -4  edit", "01ab2  succeeded  w1      9s   1 file +1 -0    edit", "01ab3  succeeded  w1      9s   no changes      edit"]);
  });

  it("tasks as JSON: an array of Task records", () => {
    const parsed = JSON.parse(tasksJson(tasks)) as Record<string, unknown>[];
    expect(parsed).toHaveLength(2);
    expect(parsed[0]).toMatchObject({ id: "01abc", status: "TASK_STATUS_RUNNING", workerId: "local-1" });
    expect(JSON.parse(tasksJson([]))).toEqual([]);
  });

  it("workers as a table and as JSON", () => {
    const workers = [
      create(WorkerRecordSchema, {
        id: "local-1",
        url: "http://127.0.0.1:4001",
        health: WorkerHealth.ONLINE,
        assigned: 1,
        lastSeen: timestampFromMs(now - 2000),
        info: { capacity: 4, claudeVersion: "2.1.330", labels: { region: "eu" }, warmPool: { size: 2, ready: 1, starting: 1 } },
      }),
      create(WorkerRecordSchema, { id: "w2", url: "http://w2:8080", health: WorkerHealth.OFFLINE, problem: "connection refused" }),
    ];
    expect(workersTable(workers, now)).toBe(
      [
        "ID       HEALTH   TASKS  CLAUDE   WARM   SEEN  URL",
        "local-1  online   1/4    2.1.330  1/2+1  2s    http://127.0.0.1:4001  region=eu",
        "w2       offline  0/?    -        -      -     http://w2:8080  (connection refused)",
        "",
      ].join("\n"),
    );
    expect((JSON.parse(workersJson(workers)) as { health: string }[]).map((w) => w.health)).toEqual(["WORKER_HEALTH_ONLINE", "WORKER_HEALTH_OFFLINE"]);
  });

  it("ages and plain tables", () => {
    expect([formatAge(0), formatAge(59_999), formatAge(3_600_000), formatAge(200_000_000)]).toEqual(["0s", "59s", "1h", "2d"]);
    expect(formatTable(["A", "B"], [["xx", "y"]])).toBe("A   B\nxx  y\n");
  });
});
