// WorkerService: the RPC surface over the runner. Run is an async generator: awaiting each yield is what
// gives backpressure, and ctx.signal tells us when the caller went away.
import type { ServiceImpl } from "@connectrpc/connect";
import { RunMode } from "../../gen/claudecluster/v1/run_pb.js";
import type { WorkerService } from "../../gen/claudecluster/v1/worker_pb.js";
import { failedPrecondition, invalidArgument } from "../common/errors.js";
import { checkAnswer } from "../common/permission-answer.js";
import type { Runner } from "./runner.js";
import { ExitReason, type TaskRun } from "./task-run.js";
import type { TransferMethod } from "./transfer-service.js";
import type { TranscriptMethod } from "./transcript-service.js";
import type { EnvironmentMethod } from "./environments/service.js";

/** The RPCs about running tasks; those that move bytes are in transfer-service.ts. */
export function workerService(runner: Runner): Omit<ServiceImpl<typeof WorkerService>, TransferMethod | TranscriptMethod | EnvironmentMethod> {
  function interactive(taskId: string): TaskRun {
    const task = runner.get(taskId);
    if (task.mode !== RunMode.INTERACTIVE) throw failedPrecondition(`task ${taskId} is headless; only interactive tasks take input and resizes`);
    return task;
  }

  return {
    async *run(req, ctx) {
      const task = runner.start(req);
      let launched = false;
      try {
        for await (const event of task.events(ctx.signal)) {
          yield event;
          // The first event is the acknowledgement (services/worker/runner.ts): handed to the transport, it lets
          // claude start. A caller that never receives it (its stream broke) may place the task again, but only here.
          if (!launched) {
            launched = true;
            runner.proceed(task);
          }
        }
      } finally {
        if (!launched) {
          // Gone before the acknowledgement was sent: nothing is started for a caller that will not see it.
          task.stop(ExitReason.CLIENT_GONE, "the caller went away before the task was launched");
          runner.proceed(task);
        }
        // Otherwise the task's feed starts the caller's grace period (services/worker/reattach.ts).
      }
    },

    async *attach(req, ctx) {
      yield* runner.attach(req.taskId, req.afterSeq, ctx.signal);
    },

    sendInput(req) {
      const task = interactive(req.taskId);
      const input = req.input;
      if (input.case === undefined) throw invalidArgument("input", "set data or text");
      const data = input.case === "data" ? Buffer.from(input.value) : Buffer.from(input.value, "utf8");
      if (data.length > 1024 * 1024) throw invalidArgument("input", "is over 1 MiB; send it in pieces");
      task.write(data);
      return {};
    },

    resize(req) {
      const task = interactive(req.taskId);
      const { cols = 0, rows = 0 } = req.size ?? {};
      if (cols < 1 || cols > 1000 || rows < 1 || rows > 1000) throw invalidArgument("size", "cols and rows must be from 1 to 1000");
      task.resize(cols, rows);
      return {};
    },

    async cancel(req) {
      const task = runner.get(req.taskId);
      task.stop(ExitReason.CANCELLED, req.reason ? `cancelled: ${req.reason}` : "cancelled");
      // Not launched yet: it ends now, without claude.
      runner.proceed(task);
      // Answer once claude and its children are gone, so a caller can rely on it.
      await task.done;
      return {};
    },

    answerPermission(req) {
      // The answer itself first, as the router does, so both say the same about a malformed one.
      checkAnswer(req);
      return { resolved: runner.get(req.taskId).answerPermission(req) };
    },

    getInfo() {
      return runner.info();
    },
  };
}
