// `cc ps`: which tasks to list (the flags as a ListTasks request, filtered by the router) and reading the pages.
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { UsageError } from "clipanion";
import { ListTasksRequestSchema, Role, TaskStatus, type ListTasksRequest, type Task } from "../../gen/claudecluster/v1/router_pb.js";
import { duration } from "../../services/common/settings.js";
import { ExitCode } from "../exit-codes.js";
import { outputWidth } from "./io.js";
import { tasksJson, tasksTable } from "./listings.js";
import { parseLabels } from "./run-request.js";
import type { TaskCommandContext } from "./task-commands.js";

export interface PsFlags {
  all?: boolean;
  statuses?: string[] | undefined;
  labels?: string[] | undefined;
  worker?: string | undefined;
  since?: string | undefined;
  limit?: string | undefined;
  owner?: string | undefined;
}

const STATUS_NAMES: Record<string, TaskStatus> = {
  queued: TaskStatus.QUEUED,
  running: TaskStatus.RUNNING,
  succeeded: TaskStatus.SUCCEEDED,
  failed: TaskStatus.FAILED,
  cancelled: TaskStatus.CANCELLED,
};

/** The router's largest page. */
const PAGE = 1000;

/** `--since 2h` (that long ago) or `--since 2026-05-01T10:00:00Z` (a time), as ms since the epoch. */
export function parseSince(raw: string, now: number): number {
  try {
    const ms = duration(raw);
    if (ms > 0) return now - ms;
  } catch {
    // Not a duration: maybe a time.
  }
  const t = /\d{4}-\d{2}-\d{2}/.test(raw) ? Date.parse(raw) : NaN;
  if (Number.isNaN(t)) throw new UsageError(`--since expects a duration such as 30m or 2h, or a time such as 2026-05-01T10:00:00Z, got "${raw}"`);
  return t;
}

/** The ListTasks request for these flags (without paging), and at most how many tasks to show. */
export function psQuery(flags: PsFlags, now: number): { request: ListTasksRequest; limit: number } {
  const statuses: TaskStatus[] = [];
  for (const word of (flags.statuses ?? []).flatMap((v) => v.split(",")).map((w) => w.trim().toLowerCase()).filter(Boolean)) {
    const status = STATUS_NAMES[word];
    if (status === undefined) throw new UsageError(`--status must be one of ${Object.keys(STATUS_NAMES).join(", ")}; got "${word}"`);
    if (!statuses.includes(status)) statuses.push(status);
  }
  if (statuses.length === 0 && !flags.all) statuses.push(TaskStatus.QUEUED, TaskStatus.RUNNING);
  let limit = Number.POSITIVE_INFINITY;
  if (flags.limit !== undefined) {
    limit = Number(flags.limit);
    if (!Number.isInteger(limit) || limit < 1) throw new UsageError(`--limit expects a whole number of 1 or more, got "${flags.limit}"`);
  }
  const request = create(ListTasksRequestSchema, {
    statuses,
    labels: parseLabels(flags.labels),
    workerId: flags.worker ?? "",
    owner: flags.owner ?? "",
    ...(flags.since !== undefined ? { createdAfter: timestampFromMs(parseSince(flags.since, now)) } : {}),
  });
  return { request, limit };
}

/** Every task the router lists for `request`, page after page, up to `limit`. */
export async function listAllTasks(client: TaskCommandContext["client"], request: ListTasksRequest, limit: number): Promise<Task[]> {
  const tasks: Task[] = [];
  let pageToken = "";
  do {
    const page = await client.listTasks({ ...request, limit: Math.min(PAGE, limit - tasks.length), pageToken });
    tasks.push(...page.tasks);
    pageToken = page.nextPageToken;
  } while (pageToken !== "" && tasks.length < limit);
  return tasks;
}

/** Lists the tasks for `flags`; `query` is psQuery(flags), worked out before connecting so mistakes exit 2. */
export async function psCommand(c: TaskCommandContext, flags: PsFlags, json: boolean, query = psQuery(flags, (c.now ?? Date.now)())): Promise<number> {
  const now = (c.now ?? Date.now)();
  const { request, limit } = query;
  const tasks = await listAllTasks(c.client, request, limit);
  if (json) {
    c.io.stdout.write(tasksJson(tasks));
    return ExitCode.Ok;
  }
  if (tasks.length === 0) {
    const filtered = flags.statuses?.length || flags.labels?.length || flags.worker || flags.since || flags.owner;
    c.io.stdout.write(filtered ? "no tasks match\n" : flags.all ? "no tasks\n" : "no running or queued tasks (`cc ps --all` lists finished ones too)\n");
    return ExitCode.Ok;
  }
  // Owners are shown to an admin of a router with several identities; a router without WhoAmI shows none.
  const me = await Promise.resolve()
    .then(() => c.client.whoAmI({}))
    .catch(() => undefined);
  const owners = me !== undefined && me.role === Role.ADMIN && me.shared;
  c.io.stdout.write(tasksTable(tasks, now, c.io.stdout.isTTY ? outputWidth(c.io.stdout) : Infinity, owners));
  return ExitCode.Ok;
}
