// `cc watch`'s loop, apart from the file system and the router so it can be tested with a manual clock: changes
// gather until none has come for the debounce, then one run starts with every path changed; at most one run at a
// time: changes during a run gather for one more run after it.
import type { Clock } from "../../../services/router/routines/clock.js";

export interface WatchLoopOptions {
  debounceMs: number;
  clock: Clock;
  /** Drops the paths not to act on (ignored); may be async (git check-ignore). */
  filter: (paths: string[]) => Promise<string[]>;
  /** Runs a task for these paths (sorted) and resolves once it has ended. */
  run: (paths: string[]) => Promise<void>;
  /** Told when a run failed to start or ended with an error; the loop goes on. */
  onError: (err: unknown) => void;
}

export class WatchLoop {
  private readonly changed = new Set<string>();
  private cancelTimer: (() => void) | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  /** Runs started, for tests and the summary line. */
  runs = 0;

  constructor(private readonly o: WatchLoopOptions) {}

  /** A path changed (relative to where cc watch runs). */
  change(path: string): void {
    if (this.stopped) return;
    this.changed.add(path);
    // While a run goes, changes wait for it to end (then the debounce starts again).
    if (this.running) return;
    this.arm();
  }

  private arm(): void {
    this.cancelTimer?.();
    this.cancelTimer = this.o.clock.after(this.o.debounceMs, () => {
      this.cancelTimer = undefined;
      void this.flush();
    });
  }

  private async flush(): Promise<void> {
    if (this.running || this.stopped || this.changed.size === 0) return;
    const paths = [...this.changed].sort();
    this.changed.clear();
    const run = (async () => {
      const kept = await this.o.filter(paths);
      if (kept.length === 0 || this.stopped) return;
      this.runs += 1;
      await this.o.run(kept);
    })().catch((err) => this.o.onError(err));
    this.running = run;
    await run;
    this.running = undefined;
    if (this.changed.size > 0 && !this.stopped) this.arm();
  }

  /** Resolves once the current run (if any) has ended. */
  async settled(): Promise<void> {
    await this.running;
  }

  stop(): void {
    this.stopped = true;
    this.cancelTimer?.();
  }
}
