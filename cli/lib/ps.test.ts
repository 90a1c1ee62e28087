// `cc ps` filters as the ListTasks request the router filters by, and reading every page.
import { Readable } from "node:stream";
import { create } from "@bufbuild/protobuf";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { ListTasksResponseSchema, TaskSchema, TaskStatus, type ListTasksRequest } from "../../gen/claudecluster/v1/router_pb.js";
import { Capture } from "../testing/fixtures.js";
import type { RouterClient } from "./client.js";
import { listAllTasks, parseSince, psCommand, psQuery } from "./ps.js";

const now = Date.parse("2026-05-01T12:00:00Z");

describe("cc ps filters", () => {
  it("default: running and queued; --all: everything; --status names them", () => {
    expect(psQuery({}, now).request.statuses).toEqual([TaskStatus.QUEUED, TaskStatus.RUNNING]);
    expect(psQuery({ all: true }, now).request.statuses).toEqual([]);
    expect(psQuery({ statuses: ["failed,cancelled", "FAILED"] }, now).request.statuses).toEqual([TaskStatus.FAILED, TaskStatus.CANCELLED]);
    expect(() => psQuery({ statuses: ["done"] }, now)).toThrow('--status must be one of queued, running, succeeded, failed, cancelled; got "done"');
  });

  it("--label, --worker, --since and --limit", () => {
    const { request, limit } = psQuery({ all: true, labels: ["team=a", "region=eu"], worker: "local-1", since: "2h", limit: "25" }, now);
    expect(request.labels).toEqual({ team: "a", region: "eu" });
    expect(request.workerId).toBe("local-1");
    expect(timestampMs(request.createdAfter!)).toBe(now - 2 * 3600_000);
    expect(limit).toBe(25);
    expect(psQuery({}, now).limit).toBe(Infinity);
    expect(() => psQuery({ limit: "0" }, now)).toThrow('--limit expects a whole number of 1 or more, got "0"');
  });

  it("--since takes a duration ago or a time", () => {
    expect(parseSince("30m", now)).toBe(now - 1800_000);
    expect(parseSince("2026-04-30T10:00:00Z", now)).toBe(Date.parse("2026-04-30T10:00:00Z"));
    expect(() => parseSince("yesterday", now)).toThrow('--since expects a duration such as 30m or 2h, or a time such as 2026-05-01T10:00:00Z, got "yesterday"');
  });
});

describe("reading the pages", () => {
  /** A router of `n` tasks that answers pages of at most `page`. */
  function pagedClient(n: number) {
    const calls: ListTasksRequest[] = [];
    const all = Array.from({ length: n }, (_, i) => create(TaskSchema, { id: `t${String(n - i).padStart(5, "0")}`, status: TaskStatus.SUCCEEDED }));
    const client = {
      listTasks: async (req: ListTasksRequest) => {
        calls.push(req);
        const start = req.pageToken ? Number(req.pageToken) : 0;
        const tasks = all.slice(start, start + req.limit);
        return create(ListTasksResponseSchema, { tasks, nextPageToken: start + req.limit < n ? String(start + req.limit) : "" });
      },
    } as unknown as RouterClient;
    return { client, calls };
  }

  it("follows the page token to the end, or stops at --limit", async () => {
    const { client, calls } = pagedClient(2500);
    expect(await listAllTasks(client, psQuery({ all: true }, now).request, Infinity)).toHaveLength(2500);
    expect(calls.map((c) => [c.limit, c.pageToken])).toEqual([[1000, ""], [1000, "1000"], [1000, "2000"]]);
    const limited = pagedClient(2500);
    expect(await listAllTasks(limited.client, psQuery({ all: true }, now).request, 1200)).toHaveLength(1200);
    expect(limited.calls.map((c) => c.limit)).toEqual([1000, 200]);
  });

  it("says when no task matches the filters", async () => {
    const { client } = pagedClient(0);
    const stdout = new Capture();
    await psCommand({ io: { env: {}, stdin: Readable.from([]), stdout, stderr: new Capture() }, client, router: "http://r", now: () => now }, { statuses: ["failed"] }, false);
    expect(stdout.text).toBe("no tasks match\n");
  });
});
