// WorkerService: the RPC surface over the session manager. Run is an async generator: awaiting each yield is what
// gives backpressure, and ctx.signal tells us when the caller went away.
import type { ServiceImpl } from "@connectrpc/connect";
import { RunMode } from "../../gen/claudecluster/v1/run_pb.js";
import type { WorkerService } from "../../gen/claudecluster/v1/worker_pb.js";
import { failedPrecondition, invalidArgument } from "../common/errors.js";
import type { SessionManager } from "./sessions.js";
import { ExitReason, type Session } from "./session.js";

export function workerService(manager: SessionManager, disconnectGraceMs: number): ServiceImpl<typeof WorkerService> {
  function interactive(taskId: string): Session {
    const session = manager.get(taskId);
    if (session.mode !== RunMode.INTERACTIVE) throw failedPrecondition(`task ${taskId} is headless; only interactive tasks take input and resizes`);
    return session;
  }

  return {
    async *run(req, ctx) {
      const session = manager.start(req);
      try {
        for await (const event of session.events(ctx.signal)) yield event;
      } finally {
        if (!session.ended) session.callerGone(disconnectGraceMs);
      }
    },

    sendInput(req) {
      const session = interactive(req.taskId);
      const input = req.input;
      if (input.case === undefined) throw invalidArgument("input", "set data or text");
      const data = input.case === "data" ? Buffer.from(input.value) : Buffer.from(input.value, "utf8");
      if (data.length > 1024 * 1024) throw invalidArgument("input", "is over 1 MiB; send it in pieces");
      session.write(data);
      return {};
    },

    resize(req) {
      const session = interactive(req.taskId);
      const { cols = 0, rows = 0 } = req.size ?? {};
      if (cols < 1 || cols > 1000 || rows < 1 || rows > 1000) throw invalidArgument("size", "cols and rows must be from 1 to 1000");
      session.resize(cols, rows);
      return {};
    },

    async cancel(req) {
      const session = manager.get(req.taskId);
      session.stop(ExitReason.CANCELLED, req.reason ? `cancelled: ${req.reason}` : "cancelled");
      // Answer once claude and its children are gone, so a caller can rely on it.
      await session.done;
      return {};
    },

    getInfo() {
      return manager.info();
    },
  };
}
