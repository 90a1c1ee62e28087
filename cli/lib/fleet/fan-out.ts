// `cc run -n N`: the same task N times at once ("best of N"), each attempt a task of its own (its own request id)
// and all of them in one spread group, so the router puts them on different workers while it has workers to spare.
// Shown side by side while they run; a table compares them at the end. Exit 0 if any attempt succeeded.
import { randomUUID } from "node:crypto";
import { clone } from "@bufbuild/protobuf";
import { RunRequestSchema, type RunRequest, type Workspace } from "../../../gen/claudecluster/v1/run_pb.js";
import { ExitCode } from "../../exit-codes.js";
import type { RouterClient } from "../client.js";
import { follow } from "../follow.js";
import { outputWidth, type CommandIO, type SignalSource } from "../io.js";
import { styleFor } from "../style.js";
import { manyExitCode, runMany, type Job } from "./run-many.js";
import { countResults, countsLine, summaryTable } from "./rows.js";

export interface FanOutOptions {
  io: CommandIO;
  client: Pick<RouterClient, "run" | "attach" | "getTask" | "cancelTask">;
  router: string;
  request: RunRequest;
  count: number;
  /** One workspace per attempt (an upload serves one task), instead of the request's. */
  workspaces?: Workspace[];
  /** -d: start them all, print their ids, return. */
  detach: boolean;
  signals?: SignalSource;
  now?: () => number;
}

/** The N requests: copies of `request`, each with a request id of its own, sharing one spread group. */
export function attemptJobs(request: RunRequest, count: number, group = `run-${randomUUID()}`, workspaces?: readonly Workspace[]): Job[] {
  return Array.from({ length: count }, (_, i) => {
    const copy = clone(RunRequestSchema, request);
    copy.requestId = randomUUID();
    if (workspaces?.[i]) copy.workspace = workspaces[i];
    copy.spreadGroup = group;
    return { index: i + 1, label: String(i + 1), request: copy };
  });
}

export async function fanOut(o: FanOutOptions): Promise<number> {
  const { io } = o;
  const jobs = attemptJobs(o.request, o.count, undefined, o.workspaces);
  if (o.detach) return startDetached(o, jobs);
  const result = await runMany({
    io,
    client: o.client,
    router: o.router,
    jobs,
    parallel: o.count,
    viewOn: "stdout",
    plainOutput: true,
    interrupt: "cancel",
    noun: "attempts",
    ...(o.signals ? { signals: o.signals } : {}),
    ...(o.now ? { now: o.now } : {}),
  });
  const style = styleFor(io.stdout, io.env);
  io.stdout.write("\n" + summaryTable(result.tasks, "ATTEMPT", io.stdout.isTTY ? outputWidth(io.stdout) : Infinity));
  io.stdout.write(style.dim(`${countsLine(countResults(result.tasks))} of ${o.count} attempts`) + "\n");
  return manyExitCode(result, "any");
}

/** -d -n: each attempt started, its id printed (one a line, in attempt order). */
async function startDetached(o: FanOutOptions, jobs: Job[]): Promise<number> {
  const ids = await Promise.all(
    jobs.map(async (job) => {
      const abort = new AbortController();
      let taskId = "";
      await follow({
        client: o.client,
        start: { run: job.request },
        signal: abort.signal,
        onEvent: (ev) => {
          taskId = ev.taskId;
          abort.abort();
        },
      });
      if (taskId === "") throw new Error("the router ended the call before the task started");
      return taskId;
    }),
  );
  o.io.stdout.write(ids.join("\n") + "\n");
  return ExitCode.Ok;
}
