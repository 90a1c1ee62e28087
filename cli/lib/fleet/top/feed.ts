// The live part of `cc top`: one WatchTasks stream (the router's snapshot, then each task's latest record as it
// changes; no polling for tasks) applied to a TopState, and the workers from ListWorkers, which has no stream of its
// own: read at start, whenever a task starts, ends or moves, and every `workersEveryMs` for their health and load.
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { WatchTasksRequestSchema, type TaskChange, type WatchTasksRequest } from "../../../../gen/claudecluster/v1/router_pb.js";
import type { RouterClient } from "../../client.js";
import { TopState } from "./state.js";

export interface FleetFeedOptions {
  client: Pick<RouterClient, "watchTasks" | "listWorkers">;
  /** The filters; `limit` is also how many tasks the view holds. */
  request: WatchTasksRequest;
  workersEveryMs: number;
  /** Open the stream again after it fails (the live screen); otherwise `done` rejects with the error. */
  reconnect: boolean;
  /** Waits before opening a failed stream again (injectable so a test needs no clock). */
  retryDelay?(signal: AbortSignal): Promise<void>;
}

const waitASecond = (signal: AbortSignal) => new Promise<void>((resolve) => {
  const timer = setTimeout(resolve, 1000);
  signal.addEventListener("abort", () => (clearTimeout(timer), resolve()), { once: true });
});

/** Who hears of what the feed sees: the screen, or the lines printed without a terminal. */
export interface FeedListener {
  /** After each change the view shows: a task's (`afterSync` once the first snapshot is complete), or the workers'. */
  update(update: { change?: TaskChange; afterSync: boolean }): void;
  /** A failure the feed recovers from (a dropped stream it opens again, a ListWorkers that failed); "" once over. */
  trouble(message: string): void;
}

export class FleetFeed {
  readonly state: TopState;
  listener: FeedListener | undefined;
  /** Ends when the feed is closed; rejects when the stream failed and `reconnect` is off. */
  readonly done: Promise<void>;
  private readonly abort = new AbortController();
  private synced!: () => void;
  private failed!: (err: unknown) => void;
  /** Resolves once the first snapshot and the workers have been read. */
  private readonly firstSync: Promise<void>;
  private workersBusy = false;
  private workersAgain = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly o: FleetFeedOptions) {
    this.state = new TopState(o.request.limit);
    this.firstSync = new Promise((resolve, reject) => ((this.synced = resolve), (this.failed = reject)));
    this.firstSync.catch(() => undefined);
    this.done = this.watch();
    this.done.catch(() => undefined);
  }

  /** Resolves once the first snapshot of tasks and the workers are in; rejects if the router could not be read. */
  async start(): Promise<void> {
    await this.firstSync;
    this.timer = setInterval(() => void this.refreshWorkers(), this.o.workersEveryMs);
    this.timer.unref();
  }

  close(): void {
    clearInterval(this.timer);
    this.abort.abort();
  }

  private async watch(): Promise<void> {
    const signal = this.abort.signal;
    let first = true;
    while (!signal.aborted) {
      try {
        if (!first) this.state.restart();
        for await (const change of this.o.client.watchTasks(this.o.request, { signal })) {
          const before = this.state.synced;
          const moved = this.state.apply(change);
          if (change.change.case === "synced") {
            if (first) {
              await this.refreshWorkers();
              this.synced();
            } else this.listener?.trouble("");
            first = false;
          } else if (moved && before) void this.refreshWorkers();
          this.listener?.update({ change, afterSync: before });
        }
        if (signal.aborted) return;
        throw new ConnectError("the router ended the task stream", Code.Unavailable);
      } catch (err) {
        if (signal.aborted) return;
        if (first || !this.o.reconnect) {
          this.failed(err);
          throw err;
        }
        this.listener?.trouble(`lost the router's task stream (${err instanceof ConnectError ? err.rawMessage : String(err)}); reconnecting…`);
        await (this.o.retryDelay ?? waitASecond)(signal);
      }
    }
  }

  /** Reads the workers again; a call while one is under way asks for one more after it, never a queue of them. */
  async refreshWorkers(): Promise<void> {
    if (this.workersBusy) {
      this.workersAgain = true;
      return;
    }
    this.workersBusy = true;
    try {
      do {
        this.workersAgain = false;
        try {
          this.state.workers = (await this.o.client.listWorkers({}, { signal: this.abort.signal })).workers;
          this.listener?.update({ afterSync: this.state.synced });
        } catch (err) {
          if (this.abort.signal.aborted) return;
          // The first read is part of start(): its failure is the command's.
          if (!this.state.synced) throw err;
          this.listener?.trouble(`could not read the workers: ${err instanceof ConnectError ? err.rawMessage : String(err)}`);
        }
      } while (this.workersAgain && !this.abort.signal.aborted);
    } finally {
      this.workersBusy = false;
    }
  }
}

/** The WatchTasks request for `cc top`'s filters. */
export function watchRequest(r: Pick<WatchTasksRequest, "statuses" | "labels" | "workerId" | "limit">): WatchTasksRequest {
  return create(WatchTasksRequestSchema, r);
}
