// A server stream a page follows for as long as it is shown. Browsers give a page about six HTTP/1.1 connections
// per origin, shared by all its tabs, so a stream is open only while its page is visible: hidden (another tab, a
// minimised window), it is closed; visible again, it is opened again right away. A stream that fails is opened
// again after a backoff, unless the error says retrying cannot help. `open` is called for every (re)connection, so
// it resumes from wherever the page got to (the last seq it saw, for Attach).
import { ConnectError } from "@connectrpc/connect";
import { isFinal, isUnreachable } from "./api.js";
import { backoffMs } from "./backoff.js";
import { connection } from "./connection.js";

export type LiveState =
  | { kind: "connecting" }
  | { kind: "live" }
  | { kind: "paused" }
  | { kind: "retrying"; at: number; error: ConnectError; unreachable: boolean }
  | { kind: "ended" }
  | { kind: "failed"; error: ConnectError };

export interface LiveOptions<T> {
  /** Opens the stream; call `opened` once the router has answered (pass it as the call's `onHeader`). */
  open(signal: AbortSignal, opened: () => void): AsyncIterable<T>;
  onMessage(message: T): void;
  onState?(state: LiveState): void;
}

export class LiveStream<T> {
  private abort: AbortController | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private failures = 0;
  /** Bumped by every (re)connect and stop: a loop from an older generation ends quietly. */
  private generation = 0;
  private done = false;

  constructor(private readonly options: LiveOptions<T>) {}

  start(): void {
    document.addEventListener("visibilitychange", this.visibility);
    if (document.hidden) this.state({ kind: "paused" });
    else void this.connect();
  }

  stop(): void {
    this.done = true;
    document.removeEventListener("visibilitychange", this.visibility);
    this.close();
  }

  /** Reconnects now instead of waiting out the backoff. */
  retryNow(): void {
    if (this.done) return;
    this.failures = 0;
    void this.connect();
  }

  private readonly visibility = () => {
    if (this.done) return;
    if (document.hidden) {
      this.close();
      this.state({ kind: "paused" });
    } else {
      this.failures = 0;
      void this.connect();
    }
  };

  private close(): void {
    this.generation += 1;
    clearTimeout(this.timer);
    this.abort?.abort();
    this.abort = undefined;
  }

  private async connect(): Promise<void> {
    this.close();
    if (this.done || document.hidden) return;
    const generation = this.generation;
    const abort = new AbortController();
    this.abort = abort;
    this.state({ kind: "connecting" });
    const opened = () => {
      if (generation !== this.generation) return;
      this.failures = 0;
      connection.reached();
      this.state({ kind: "live" });
    };
    try {
      for await (const message of this.options.open(abort.signal, opened)) {
        if (generation !== this.generation) return;
        this.options.onMessage(message);
      }
      if (generation !== this.generation) return;
      this.done = true;
      this.state({ kind: "ended" });
    } catch (reason) {
      if (generation !== this.generation || abort.signal.aborted) return;
      const error = ConnectError.from(reason);
      const unreachable = isUnreachable(error);
      if (!unreachable) connection.reached();
      if (isFinal(error)) {
        this.done = true;
        this.state({ kind: "failed", error });
        return;
      }
      this.failures += 1;
      const at = Date.now() + backoffMs(this.failures);
      this.timer = setTimeout(() => void this.connect(), at - Date.now());
      if (unreachable) connection.lost(at, () => this.retryNow());
      this.state({ kind: "retrying", at, error, unreachable });
    }
  }

  private state(state: LiveState): void {
    this.options.onState?.(state);
  }
}
