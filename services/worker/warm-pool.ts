// The warm pool: headless claude processes started before their task arrives. claude spends most of a short task
// starting up; a process started with `--input-format stream-json` does that at once and then waits for its first
// message on stdin. A headless task whose flags are exactly the pool's profile takes one (a hit) and skips the
// start-up; any other task starts cold (a miss). Each warm process serves one task, then exits; the pool starts a
// replacement in the background. Every warm process has a slot of its own (a fresh workspace, a process tag, its
// sandbox and private HOME), so nothing of one task is visible to the next and ending a task ends all its processes.
import { create } from "@bufbuild/protobuf";
import { type WarmPoolInfo, WarmPoolInfoSchema } from "../../gen/claudecluster/v1/worker_pb.js";
import type { Logger } from "../common/logger.js";
import { HeadlessClaude, type LaunchOptions } from "./headless.js";
import { signalTask } from "./process-tree.js";

/** Where a warm process runs: a fresh workspace, the tag its processes are found by, and how to start claude there. */
export interface WarmSlot {
  readonly tag: string;
  readonly workspace: string;
  /** How to start claude with `args` in this slot (its sandbox, environment and HOME). */
  launch(args: string[]): LaunchOptions;
  /** Removes what the slot holds (workspace, HOME, proxies) when no task took it. */
  discard(): void;
}

/** A warm process and its slot. */
export interface WarmClaude {
  readonly claude: HeadlessClaude;
  readonly slot: WarmSlot;
  readonly workspace: string;
  /** The tag its processes are found by. */
  readonly tag: string;
}

export interface WarmPoolOptions {
  /** Processes to keep ready. */
  size: number;
  /** claude's flags for a task with the pool's profile, as a cold headless start would use them. */
  profileArgs: string[];
  /** A fresh slot for the next warm process. */
  newSlot(): WarmSlot;
  logger: Logger;
}

/** A process that lived this long before exiting on its own was not failing at start-up. */
const HEALTHY_LIFETIME_MS = 30_000;
const MAX_BACKOFF_MS = 60_000;

export class WarmPool {
  private readonly ready: WarmClaude[] = [];
  private hits = 0n;
  private misses = 0n;
  /** Warm processes in a row that died before a task took them: start-up is failing, so refills back off. */
  private failures = 0;
  private refillTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly args: string[];

  constructor(private readonly options: WarmPoolOptions) {
    // The prompt comes later, as a stream-json message on stdin (a profile with ask_permissions already says so).
    const streamInput = "--input-format=stream-json";
    this.args = options.profileArgs.includes(streamInput) ? [...options.profileArgs] : [...options.profileArgs, streamInput];
  }

  start(): void {
    this.refill();
  }

  /**
   * A warm process for a headless task whose claude flags are `args`, or undefined (the task starts cold). Tasks
   * with other flags, or in a fresh workspace of their own choosing, never take one.
   */
  take(args: string[] | undefined): WarmClaude | undefined {
    // One that has started up first; one still starting is still ahead of a cold start.
    const matches = args !== undefined && sameArgs(args, this.options.profileArgs);
    const startedUp = this.ready.findIndex((w) => w.claude.available && w.claude.warm);
    const index = !matches ? -1 : startedUp !== -1 ? startedUp : this.ready.findIndex((w) => w.claude.available);
    if (index === -1) {
      this.misses += 1n;
      return undefined;
    }
    const [warm] = this.ready.splice(index, 1);
    this.hits += 1n;
    this.refill();
    return warm;
  }

  info(): WarmPoolInfo {
    return create(WarmPoolInfoSchema, {
      size: this.options.size,
      ready: this.ready.filter((w) => w.claude.available && w.claude.warm).length,
      starting: this.ready.filter((w) => w.claude.available && !w.claude.warm).length,
      hits: this.hits,
      misses: this.misses,
      profileArgs: this.options.profileArgs,
    });
  }

  /** Ends every waiting process and removes its workspace. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.refillTimer);
    const waiting = this.ready.splice(0);
    for (const w of waiting) signalTask(w.tag, w.claude.pid, "SIGKILL");
    await Promise.all(waiting.map((w) => w.claude.closed));
    for (const w of waiting) w.slot.discard();
  }

  private refill(): void {
    if (this.closed || this.refillTimer) return;
    while (this.ready.length < this.options.size) {
      const warm = this.spawn();
      if (!warm) break;
    }
  }

  private spawn(): WarmClaude | undefined {
    const { logger } = this.options;
    let slot: WarmSlot;
    try {
      slot = this.options.newSlot();
    } catch (err) {
      logger.error({ err }, "warm pool: cannot prepare a workspace; tasks start cold");
      this.retryLater();
      return undefined;
    }
    const startedAt = Date.now();
    const claude = new HeadlessClaude(slot.launch(this.args));
    claude.warmUp(`warm-${slot.tag}`);
    const warm: WarmClaude = { claude, slot, workspace: slot.workspace, tag: slot.tag };
    this.ready.push(warm);
    void claude.closed.then((exit) => {
      const index = this.ready.indexOf(warm);
      if (index === -1) return; // a task took it: the task's session owns its end
      this.ready.splice(index, 1);
      signalTask(warm.tag, undefined, "SIGKILL");
      warm.slot.discard();
      if (this.closed) return;
      const lived = Date.now() - startedAt;
      this.failures = lived >= HEALTHY_LIFETIME_MS ? 0 : this.failures + 1;
      logger.warn({ exitCode: exit.exitCode, signal: exit.signal, livedMs: lived }, "warm pool: a waiting claude exited; starting another");
      if (this.failures > 0) this.retryLater();
      else this.refill();
    });
    return warm;
  }

  private retryLater(): void {
    if (this.closed || this.refillTimer) return;
    const delay = Math.min(MAX_BACKOFF_MS, 1000 * 2 ** Math.max(0, this.failures - 1));
    this.refillTimer = setTimeout(() => {
      this.refillTimer = undefined;
      this.refill();
    }, delay);
    this.refillTimer.unref();
  }
}

function sameArgs(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
