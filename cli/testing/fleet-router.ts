// A stand-in router for many tasks at once (cc run -n, cc batch): every Run call becomes a task whose events come
// from a plan, and which can be held open until the test releases it or cc cancels it. It counts how many run at
// once, so tests can check a parallel limit from what happened rather than from timing.
import { clone, create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { TaskSchema, TaskStatus } from "../../gen/claudecluster/v1/router_pb.js";
import { ExitedSchema, ExitReason, RunEventSchema, type RunEvent, type RunRequest } from "../../gen/claudecluster/v1/run_pb.js";
import type { RouterClient } from "../lib/client.js";

export interface TaskPlan {
  /** The task's events, exited last (its task id is replaced). */
  events?: RunEvent[];
  /** Keep the stream open before `exited` until released or cancelled. */
  hold?: boolean;
  /** The router refuses the Run with this error. */
  refuse?: ConnectError;
}

export class FleetRouter {
  readonly requests: RunRequest[] = [];
  readonly cancelled: string[] = [];
  running = 0;
  maxRunning = 0;
  private readonly waiting = new Map<string, (how: "release" | "cancel") => void>();
  private count = 0;
  private readonly onRunning: (() => void)[] = [];

  constructor(private readonly plan: (req: RunRequest, index: number) => TaskPlan) {}

  /** Lets a held task end with its planned `exited`. */
  release(taskId: string): void {
    this.end(taskId, "release");
  }

  private end(taskId: string, how: "release" | "cancel"): void {
    const resolve = this.waiting.get(taskId);
    this.waiting.delete(taskId);
    resolve?.(how);
  }

  /** Ids of the tasks held open now. */
  held(): string[] {
    return [...this.waiting.keys()];
  }

  /** Resolves once `n` tasks are held open at the same time. */
  async whenHeld(n: number): Promise<void> {
    while (this.waiting.size < n) await new Promise<void>((resolve) => this.onRunning.push(resolve));
  }

  readonly client = {
    run: (req: RunRequest, opts?: { signal?: AbortSignal }) => this.run(req, opts?.signal),
    attach: () => {
      throw new Error("FleetRouter streams never drop; attach is not expected");
    },
    getTask: async (req: { taskId: string }) => create(TaskSchema, { id: req.taskId, status: TaskStatus.RUNNING }),
    cancelTask: async (req: { taskId: string }) => {
      this.cancelled.push(req.taskId);
      this.end(req.taskId, "cancel");
      return create(TaskSchema, { id: req.taskId, status: TaskStatus.CANCELLED });
    },
  } as unknown as Pick<RouterClient, "run" | "attach" | "getTask" | "cancelTask">;

  private async *run(req: RunRequest, signal: AbortSignal | undefined): AsyncGenerator<RunEvent> {
    const index = this.count++;
    this.requests.push(req);
    const plan = this.plan(req, index);
    if (plan.refuse) throw plan.refuse;
    const taskId = `task-${index + 1}`;
    const events = (plan.events ?? []).map((e) => Object.assign(clone(RunEventSchema, e), { taskId }));
    const exited = events.at(-1)?.event.case === "exited" ? events.pop()! : undefined;
    this.running += 1;
    this.maxRunning = Math.max(this.maxRunning, this.running);
    try {
      for (const e of events) yield e;
      let how: "release" | "cancel" = "release";
      if (plan.hold) {
        how = await new Promise<"release" | "cancel">((resolve) => {
          this.waiting.set(taskId, resolve);
          signal?.addEventListener("abort", () => resolve("cancel"), { once: true });
          for (const wake of this.onRunning.splice(0)) wake();
        });
        this.waiting.delete(taskId);
      }
      if (signal?.aborted) throw new ConnectError("aborted", Code.Canceled);
      const seq = BigInt(events.length + 1);
      if (how === "cancel") {
        yield create(RunEventSchema, { taskId, seq, time: timestampFromMs(1_700_000_000_000 + Number(seq) * 10), event: { case: "exited", value: create(ExitedSchema, { exitCode: -1, reason: ExitReason.CANCELLED, message: "cancelled: interrupted with Ctrl-C in cc" }) } });
      } else if (exited) {
        yield exited;
      }
    } finally {
      this.running -= 1;
    }
  }
}
