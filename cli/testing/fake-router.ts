// A scripted stand-in for the router client: each Run/Attach call plays the next scripted stream (events, then
// optionally an error), and every call is recorded. Unit tests of cc's logic use it instead of a network.
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { TaskSchema, TaskStatus, type Task } from "../../gen/claudecluster/v1/router_pb.js";
import { ExitedSchema, ExitReason, RunEventSchema, type RunEvent } from "../../gen/claudecluster/v1/run_pb.js";
import type { RouterClient } from "../lib/client.js";

export interface ScriptedStream {
  events: RunEvent[];
  /** Thrown after the events. */
  error?: unknown;
  /** Keep the stream open after the events until the call is aborted. */
  hang?: boolean;
}

export function ev(seq: number, event: RunEvent["event"], taskId = "t1"): RunEvent {
  return create(RunEventSchema, { taskId, seq: BigInt(seq), time: timestampFromMs(1_700_000_000_000 + seq), event });
}

export function exitedEv(seq: number, exit: Partial<{ exitCode: number; reason: ExitReason; message: string }> = {}, taskId = "t1"): RunEvent {
  return ev(seq, { case: "exited", value: create(ExitedSchema, { exitCode: 0, reason: ExitReason.COMPLETED, ...exit }) }, taskId);
}

export function outputEv(seq: number, text: string, taskId = "t1"): RunEvent {
  return ev(seq, { case: "output", value: { $typeName: "claudecluster.v1.Output", data: Buffer.from(text), stream: 1 } }, taskId);
}

/** What a dropped connection looks like to the client. */
export function networkError(code = "ECONNRESET"): ConnectError {
  return new ConnectError(`read ${code}`, Code.Unavailable, undefined, undefined, Object.assign(new Error(code), { code }));
}

export class FakeRouter {
  readonly calls: { method: string; request: unknown }[] = [];
  readonly streams: ScriptedStream[] = [];
  task: Task = create(TaskSchema, { id: "t1", status: TaskStatus.RUNNING });
  cancelError: unknown;
  answerError: unknown;

  constructor(...streams: ScriptedStream[]) {
    this.streams.push(...streams);
  }

  private play(method: string, request: unknown, signal?: AbortSignal): AsyncIterable<RunEvent> {
    this.calls.push({ method, request });
    const next = this.streams.shift();
    if (!next) throw new Error(`no scripted stream left for ${method}`);
    return (async function* () {
      for (const e of next.events) {
        if (signal?.aborted) throw new ConnectError("aborted", Code.Canceled);
        yield e;
      }
      if (next.error) throw next.error;
      if (next.hang) {
        await new Promise<void>((resolve) => {
          if (signal?.aborted) resolve();
          signal?.addEventListener("abort", () => resolve(), { once: true });
        });
        throw new ConnectError("aborted", Code.Canceled);
      }
    })();
  }

  readonly client = {
    run: (req: unknown, opts?: { signal?: AbortSignal }) => this.play("run", req, opts?.signal),
    attach: (req: unknown, opts?: { signal?: AbortSignal }) => this.play("attach", req, opts?.signal),
    getTask: async (req: unknown) => {
      this.calls.push({ method: "getTask", request: req });
      return this.task;
    },
    cancelTask: async (req: unknown) => {
      this.calls.push({ method: "cancelTask", request: req });
      if (this.cancelError) throw this.cancelError;
      return create(TaskSchema, { id: (req as { taskId: string }).taskId, status: TaskStatus.CANCELLED });
    },
    sendInput: async (req: unknown) => {
      this.calls.push({ method: "sendInput", request: req });
      return {};
    },
    resize: async (req: unknown) => {
      this.calls.push({ method: "resize", request: req });
      return {};
    },
    listTasks: async (req: unknown) => {
      this.calls.push({ method: "listTasks", request: req });
      return { tasks: [this.task] };
    },
    listWorkers: async (req: unknown) => {
      this.calls.push({ method: "listWorkers", request: req });
      return { workers: [] };
    },
    answerPermission: async (req: unknown) => {
      this.calls.push({ method: "answerPermission", request: req });
      if (this.answerError) throw this.answerError;
      return {};
    },
  } as unknown as RouterClient;

  methods(): string[] {
    return this.calls.map((c) => c.method);
  }
}
