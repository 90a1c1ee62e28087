// Figure 6: what a running session costs the worker process itself, beyond claude's own memory. A fake claude that
// prints its init line and waits (fixtures/wait.sh) runs in N sessions at once, streamed over one connection as the
// router's would be; the worker's RSS with them, minus idle, divided by N.
import { RunMode, type RunEvent } from "../../gen/claudecluster/v1/run_pb.js";
import type { Figure } from "../lib/context.js";
import { fakeClaude, startWorker, workerClient } from "../lib/cluster.js";
import { row } from "../lib/results.js";
import { steadyRss } from "../lib/rss.js";
import { median, MiB } from "../lib/stats.js";

const TARGET = { op: "<=", value: 5, unit: "MiB/session" } as const;
const TITLE = "worker RSS per running session, beyond claude's own";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export const workerMemory: Figure = {
  id: "worker-memory",
  number: 6,
  rows: [{ key: "worker-memory", title: TITLE, target: TARGET }],
  async run(ctx) {
    const runs = ctx.runs(3, 1);
    const sessions = Math.round(ctx.param("SESSIONS", 50, 10));
    const sampleMs = ctx.param("SAMPLE_MS", 3000, 1500);
    const bin = fakeClaude(ctx, "wait.sh");
    const idle: number[] = [];
    const loaded: number[] = [];
    const perSession: number[] = [];
    for (let i = 0; i < runs; i++) {
      // A fresh worker each run: V8 does not give back heap it grew, so a second round on the same process would
      // find room for its sessions in what the first left, and measure nothing.
      const worker = await startWorker(ctx, `w${i + 1}`, { CC_CLAUDE_BIN: bin, CC_MAX_SESSIONS: String(sessions) });
      const client = workerClient(ctx, worker.url);

      /** Starts `n` sessions; resolves once each has printed its init line, with their ids and the streams' ends. */
      const open = async (n: number) => {
        let running = 0;
        const ids: string[] = [];
        const ends = Array.from({ length: n }, async () => {
          let seen = false;
          for await (const ev of client.run({ prompt: "wait", mode: RunMode.HEADLESS }) as AsyncIterable<RunEvent>) {
            if (ev.event.case === "started") ids.push(ev.taskId);
            if (!seen && ev.event.case === "message") {
              seen = true;
              running += 1;
            }
          }
        });
        const done = Promise.all(ends);
        let failure: unknown;
        done.catch((err: unknown) => (failure = err));
        const deadline = Date.now() + 60_000;
        while (running < n) {
          if (failure !== undefined) throw failure;
          if (Date.now() > deadline) throw new Error(`only ${running} of ${n} sessions were running after 60 s`);
          await sleep(50);
        }
        return { ids, done };
      };
      const close = async (s: { ids: string[]; done: Promise<unknown> }) => {
        await Promise.all(s.ids.map((taskId) => client.cancel({ taskId, reason: "benchmark done" })));
        await s.done;
      };

      // One session first: the code paths of running a session are loaded once, not per session.
      await close(await open(1));
      await sleep(1000);
      const before = await steadyRss(worker.pid, sampleMs);
      const s = await open(sessions);
      await sleep(1000);
      const during = await steadyRss(worker.pid, sampleMs);
      await close(s);
      await worker.stop();
      idle.push(before.median);
      loaded.push(during.median);
      perSession.push((during.median - before.median) / sessions);
      ctx.log(`run ${i + 1}/${runs}: worker RSS idle ${(before.median / MiB).toFixed(1)} MiB, with ${sessions} sessions ${(during.median / MiB).toFixed(1)} MiB: ${(perSession.at(-1)! / MiB).toFixed(2)} MiB each`);
    }
    return [
      row({
        figure: 6,
        key: "worker-memory",
        title: TITLE,
        measured: { value: median(loaded) / MiB, unit: "MiB", label: `${sessions} sessions` },
        baseline: { value: median(idle) / MiB, unit: "MiB", label: "idle" },
        result: median(perSession) / MiB,
        target: TARGET,
        runs,
        notes: [
          `${sessions} headless sessions of a fake claude that prints its init line and waits, streamed over one HTTP/2 connection as from a router; worker RSS (/proc VmRSS) median over ${sampleMs / 1000} s with them running minus the same idle just before, ÷ ${sessions}; a fresh worker process each run, which ran and ended one session before its idle measurement; result is the median over runs. claude's own processes are not in the worker's RSS.`,
        ],
        samples: { idleMiB: idle.map((b) => b / MiB), loadedMiB: loaded.map((b) => b / MiB), perSessionMiB: perSession.map((b) => b / MiB) },
      }),
    ];
  },
};
