// Reading Run streams to their end, from a worker or through the router, the way a real client does.
import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, type Client } from "@connectrpc/connect";
import type { RouterService } from "../../gen/claudecluster/v1/router_pb.js";
import type { RunEvent, RunRequest, RunRequestSchema } from "../../gen/claudecluster/v1/run_pb.js";
import type { WorkerService } from "../../gen/claudecluster/v1/worker_pb.js";

export type RunInit = MessageInitShape<typeof RunRequestSchema> | RunRequest;

export interface Followed {
  /** Times the router cut the subscriber off for falling behind and it attached again. */
  reattaches: number;
  events: number;
}

function checkExit(ev: RunEvent): void {
  if (ev.event.case === "exited" && ev.event.value.exitCode !== 0) {
    throw new Error(`the task ended with exit code ${ev.event.value.exitCode}: ${ev.event.value.message || "(no message)"}`);
  }
}

/** A worker's Run, to its `exited` event. */
export async function followWorkerRun(client: Client<typeof WorkerService>, request: RunInit, onEvent: (ev: RunEvent) => void): Promise<Followed> {
  let events = 0;
  for await (const ev of client.run(request)) {
    events += 1;
    onEvent(ev);
    if (ev.event.case === "exited") {
      checkExit(ev);
      return { reattaches: 0, events };
    }
  }
  throw new Error("the worker ended the stream without an exit event");
}

/**
 * A router's Run, to its `exited` event. A subscriber that falls too far behind is cut off with RESOURCE_EXHAUSTED
 * (services/router/task-log.ts); like `cc`, this attaches again from the last seq it saw, and counts it.
 */
export async function followRouterRun(client: Client<typeof RouterService>, request: RunInit, onEvent: (ev: RunEvent) => void): Promise<Followed> {
  let taskId = "";
  let lastSeq = 0n;
  let reattaches = 0;
  let events = 0;
  let stream: AsyncIterable<RunEvent> = client.run(request);
  for (;;) {
    try {
      for await (const ev of stream) {
        taskId = ev.taskId;
        lastSeq = ev.seq;
        events += 1;
        onEvent(ev);
        if (ev.event.case === "exited") {
          checkExit(ev);
          return { reattaches, events };
        }
      }
      throw new Error("the router ended the stream without an exit event");
    } catch (err) {
      if (!(err instanceof ConnectError) || err.code !== Code.ResourceExhausted || !taskId) throw err;
      reattaches += 1;
      stream = client.attach({ taskId, afterSeq: lastSeq });
    }
  }
}
