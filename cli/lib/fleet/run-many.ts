// Runs many tasks from one command, at most `parallel` at a time, following each to its end and showing them all in
// one view (views.ts). `cc run -n` and `cc batch` are this with different jobs. Ctrl-C cancels every task it started
// and starts no more ("ask" first asks on a terminal); a second Ctrl-C leaves at once.
import type { RunRequest } from "../../../gen/claudecluster/v1/run_pb.js";
import { ExitCode } from "../../exit-codes.js";
import type { RouterClient } from "../client.js";
import { describeError, FollowLostError } from "../errors.js";
import { follow } from "../follow.js";
import { outputWidth, processSignals, type CommandIO, type SignalSource } from "../io.js";
import type { Timers } from "../status-line.js";
import { styleFor } from "../style.js";
import { TaskTracker, type TaskProgress } from "./progress.js";
import { LiveRows, PlainLines, type FleetView } from "./views.js";

export interface Job {
  /** 1-based: the attempt, or the entry's place in the batch file. */
  index: number;
  label: string;
  request: RunRequest;
}

export interface RunManyOptions {
  io: CommandIO;
  client: Pick<RouterClient, "run" | "attach" | "getTask" | "cancelTask">;
  router: string;
  jobs: readonly Job[];
  /** At most this many tasks run (or wait in the router's queue) at once. */
  parallel: number;
  /** Where the view goes: stdout (cc run -n), or stderr when stdout carries JSON. */
  viewOn: "stdout" | "stderr";
  /** Without a terminal, also print each task's text, prefixed with its label (cc run -n), not only its changes. */
  plainOutput: boolean;
  /** On Ctrl-C: cancel at once (cc run -n), or ask first when there is a terminal to ask on (cc batch). */
  interrupt: "cancel" | "ask";
  /** Words for the question and notices: "tasks of this batch", "attempts". */
  noun: string;
  signals?: SignalSource;
  now?: () => number;
  timers?: Timers;
  /** Leaves at once on a second Ctrl-C; tests replace it. */
  exit?: (code: number) => void;
}

export interface RunManyResult {
  tasks: TaskProgress[];
  interrupted: boolean;
}

interface Slot {
  tracker: TaskTracker;
  job: Job;
  /** Cancel it as soon as its id is known (Ctrl-C came before its first event). */
  cancelWanted: boolean;
  cancelSent: boolean;
}

export async function runMany(o: RunManyOptions): Promise<RunManyResult> {
  const { io } = o;
  const now = o.now ?? Date.now;
  const signals = o.signals ?? processSignals;
  const exit = o.exit ?? ((code: number) => process.exit(code));
  const out = o.viewOn === "stdout" ? io.stdout : io.stderr;
  const style = styleFor(out, io.env);
  const slots: Slot[] = o.jobs.map((job) => ({ tracker: new TaskTracker(job.index, job.label), job, cancelWanted: false, cancelSent: false }));
  const source = { tasks: () => slots.map((s) => s.tracker.progress), now };
  const live = out.isTTY === true;
  const view: FleetView = live
    ? new LiveRows(out, source, style, o.timers)
    : new PlainLines(out, source, style, { output: o.plainOutput, width: outputWidth(out), notes: io.stderr });
  if (view instanceof LiveRows) view.start();

  const abort = new AbortController();
  let next = 0;
  let running = 0;
  let interrupted = false;
  let asking = false;
  let allDone!: () => void;
  const done = new Promise<void>((resolve) => (allDone = resolve));
  const cancels: Promise<unknown>[] = [];

  const cancel = (slot: Slot) => {
    const { taskId } = slot.tracker.progress;
    if (slot.cancelSent || slot.tracker.progress.phase === "ended") return;
    if (taskId === "") {
      slot.cancelWanted = true;
      return;
    }
    slot.cancelSent = true;
    cancels.push(
      o.client.cancelTask({ taskId, reason: "interrupted with Ctrl-C in cc" }).catch((err: unknown) => {
        view.note(`cc: could not cancel task ${taskId}: ${describeError(err, { router: o.router, taskId }).message}`);
      }),
    );
  };

  const cancelAll = () => {
    interrupted = true;
    for (const slot of slots) {
      if (slot.tracker.progress.phase === "waiting") {
        slot.tracker.skip(now());
        view.update(slots.indexOf(slot));
      } else cancel(slot);
    }
    checkDone();
  };

  const checkDone = () => {
    if (running === 0 && (next >= slots.length || interrupted)) allDone();
  };

  const launch = (position: number) => {
    const slot = slots[position]!;
    running += 1;
    slot.tracker.sent(now());
    view.update(position);
    void follow({
      client: o.client,
      start: { run: slot.job.request },
      signal: abort.signal,
      onEvent: (ev) => {
        slot.tracker.event(ev);
        if (slot.cancelWanted && !slot.cancelSent) cancel(slot);
        if (ev.event.case !== "exited") view.update(position, ev);
      },
    })
      .then(
        (result) => {
          if (result.exited) slot.tracker.finish(result.exited, now(), interrupted);
          else slot.tracker.fail("stopped following it", ExitCode.Interrupted, now());
        },
        (err: unknown) => {
          const taskId = err instanceof FollowLostError ? err.taskId : slot.tracker.progress.taskId;
          const d = describeError(err, { router: o.router, ...(taskId ? { taskId } : {}) });
          slot.tracker.fail(d.message, d.exitCode, now());
        },
      )
      .finally(() => {
        running -= 1;
        view.update(position);
        pump();
        checkDone();
      });
  };

  const pump = () => {
    while (!interrupted && running < o.parallel && next < slots.length) launch(next++);
  };

  const stdin = io.stdin as unknown as { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown; resume(): unknown; pause(): unknown; once(e: "data", l: (d: Buffer) => void): unknown };
  const canAsk = o.interrupt === "ask" && live && stdin.isTTY === true && typeof stdin.setRawMode === "function" && io.stderr.isTTY === true;

  const ask = () => {
    asking = true;
    view.pause();
    const started = slots.filter((s) => s.tracker.progress.phase !== "waiting" && s.tracker.progress.phase !== "ended").length;
    io.stderr.write(`cc: cancel the ${started} running ${o.noun} and start no more? [y/N] `);
    stdin.setRawMode!(true);
    stdin.resume();
    stdin.once("data", (data: Buffer) => {
      stdin.setRawMode!(false);
      stdin.pause();
      asking = false;
      // Ctrl-C again (raw mode turns it into a byte) counts as yes.
      const yes = /^[yY\x03]/.test(data.toString("utf8"));
      io.stderr.write("\r\x1b[2K");
      view.resume();
      if (yes) {
        view.note(`cc: cancelling the ${o.noun}… (Ctrl-C again to quit at once)`);
        cancelAll();
      }
    });
  };

  const onInterrupt = () => {
    if (interrupted) {
      view.close();
      io.stderr.write("\n");
      abort.abort();
      exit(ExitCode.Interrupted);
      return;
    }
    if (asking) return;
    if (canAsk) return ask();
    view.note(`cc: cancelling the ${o.noun}… (Ctrl-C again to quit at once)`);
    cancelAll();
  };

  signals.on("SIGINT", onInterrupt);
  try {
    pump();
    checkDone();
    await done;
    await Promise.all(cancels);
  } finally {
    signals.off("SIGINT", onInterrupt);
    if (asking) {
      stdin.setRawMode?.(false);
      stdin.pause();
      io.stderr.write("\r\x1b[2K");
    }
    view.close();
  }
  return { tasks: slots.map((s) => ({ ...s.tracker.progress })), interrupted };
}

/** The exit code for many tasks: `rule` says when it is 0. */
export function manyExitCode(result: RunManyResult, rule: "any" | "all"): number {
  if (result.interrupted) return ExitCode.Interrupted;
  const tasks = result.tasks;
  const ok = tasks.filter((t) => t.outcome?.summary.ok).length;
  if (rule === "any" ? ok > 0 : ok === tasks.length) return ExitCode.Ok;
  // Nothing became a task, all for the same reason (no router, a refused token): that reason's code.
  const codes = new Set(tasks.map((t) => (t.error !== undefined && !t.taskId ? t.errorExitCode : undefined)));
  if (codes.size === 1) {
    const [code] = [...codes];
    if (code !== undefined) return code;
  }
  return ExitCode.AgentError;
}
