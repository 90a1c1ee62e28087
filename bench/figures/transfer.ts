// Figure 8: moving a workspace through the router. A checkout holding one file of N MiB of random bytes (200 by
// default; random, so nothing compresses) goes up the way `cc run --upload` sends it — the snapshot, the bundle, the
// UploadWorkspace stream through the router to the worker's staging directory — against `git bundle create` plus a
// local copy of the bundle (what a user would do by hand over scp, without the network). A task then runs on it, and
// the file comes back with `cc cp TASK:FILE` (ReadFile streamed from the worker through the router) against a local
// `cp`. Router and worker RSS are sampled every 50 ms through each transfer, fresh processes each run: the figure is
// the peak over the same process just before. Nothing of the file may be held whole in either.
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, mkdirSync, openSync, writeSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { RunMode } from "../../gen/claudecluster/v1/run_pb.js";
import { prepareUpload, sendUpload } from "../../cli/lib/checkout/index.js";
import type { Figure } from "../lib/context.js";
import { cleanEnv, fakeClaude, routerClient, startRouter, startWorker } from "../lib/cluster.js";
import { CLI_MAIN } from "../lib/paths.js";
import { expectSuccess, timedRun } from "../lib/processes.js";
import { row } from "../lib/results.js";
import { rssBytes } from "../lib/rss.js";
import { followRouterRun } from "../lib/streams.js";
import { max, median, MiB } from "../lib/stats.js";

const THROUGHPUT = { op: ">=", value: 0.5, unit: "×" } as const;
const RSS = { op: "<=", value: 64, unit: "MiB" } as const;

/** Peak RSS of each pid while `fn` runs, sampled every 50 ms. */
async function peaksDuring<T>(pids: number[], fn: () => Promise<T>): Promise<{ value: T; peaks: number[] }> {
  const peaks = pids.map((pid) => rssBytes(pid));
  const timer = setInterval(() => pids.forEach((pid, i) => (peaks[i] = Math.max(peaks[i]!, rssBytes(pid)))), 50);
  try {
    const value = await fn();
    pids.forEach((pid, i) => (peaks[i] = Math.max(peaks[i]!, rssBytes(pid))));
    return { value, peaks };
  } finally {
    clearInterval(timer);
  }
}

/** A file of `bytes` random bytes, written in 4 MiB pieces. */
function randomFile(path: string, bytes: number): void {
  const fd = openSync(path, "w");
  try {
    for (let left = bytes; left > 0; left -= 4 * MiB) writeSync(fd, randomBytes(Math.min(4 * MiB, left)));
  } finally {
    closeSync(fd);
  }
}

export const transfer: Figure = {
  id: "transfer",
  number: 8,
  rows: [
    { key: "upload-throughput", title: "upload of a checkout through the router vs `git bundle` + local copy, throughput", target: THROUGHPUT },
    { key: "upload-router-rss", title: "router RSS growth during the upload", target: RSS },
    { key: "upload-worker-rss", title: "worker RSS growth during the upload", target: RSS },
    { key: "download-throughput", title: "`cc cp TASK:FILE` through the router vs local `cp`, throughput", target: THROUGHPUT },
    { key: "download-router-rss", title: "router RSS growth during the download", target: RSS },
    { key: "download-worker-rss", title: "worker RSS growth during the download", target: RSS },
  ],
  async run(ctx) {
    const runs = ctx.runs(3, 1);
    const mib = Math.round(ctx.param("TRANSFER_MIB", 200, 8));
    const bytes = mib * MiB;
    const limit = String(Math.max(1024 * MiB, 4 * bytes));
    const env = { ...cleanEnv(), GIT_CONFIG_NOSYSTEM: "1", HOME: ctx.tmp, GIT_AUTHOR_NAME: "bench", GIT_AUTHOR_EMAIL: "bench@localhost", GIT_COMMITTER_NAME: "bench", GIT_COMMITTER_EMAIL: "bench@localhost" };
    const git = (cwd: string, ...args: string[]) => execFileSync("git", args, { cwd, env, stdio: ["ignore", "pipe", "pipe"] });

    const repo = join(ctx.tmp, "checkout");
    mkdirSync(repo);
    git(repo, "init", "--quiet");
    randomFile(join(repo, "big.bin"), bytes);
    git(repo, "add", "big.bin");
    git(repo, "commit", "--quiet", "-m", "a big file");

    const claude = fakeClaude(ctx, "slow.sh");

    const up = { ms: [] as number[], base: [] as number[], router: [] as number[], worker: [] as number[] };
    const down = { ms: [] as number[], base: [] as number[], router: [] as number[], worker: [] as number[] };
    const timed = async <T>(fn: () => Promise<T>) => {
      const t0 = performance.now();
      const value = await fn();
      return { value, ms: performance.now() - t0 };
    };
    for (let i = 0; i <= runs; i++) {
      const measuredRun = i > 0; // the first of each side is untimed: page cache, git's first run
      // Fresh processes each run: V8 keeps the heap it grew, so a second transfer through the same process would find
      // room in what the first left and show no growth at all.
      const worker = await startWorker(ctx, `transfer-worker-${i}`, {
        CC_CLAUDE_BIN: claude,
        CC_MAX_UPLOAD_BYTES: limit,
        CC_UPLOAD_STAGING_BYTES: limit,
        CC_MAX_COPY_BYTES: limit,
        CC_MAX_CHANGES_BYTES: limit,
      });
      const router = await startRouter(ctx, [worker], { CC_MAX_UPLOAD_BYTES: limit });
      const client = routerClient(ctx, router.url);
      await new Promise((r) => setTimeout(r, 1000));
      // Baseline: git bundle + a local copy of it.
      const bundle = join(ctx.tmp, `by-hand-${i}.bundle`);
      const copy = join(ctx.tmp, `by-hand-copy-${i}.bundle`);
      const baseline = await timed(async () => {
        expectSuccess("git bundle create", await timedRun("git", ["bundle", "create", "--quiet", bundle, "HEAD"], { env, cwd: repo }));
        expectSuccess("cp", await timedRun("cp", [bundle, copy], { env }));
      });
      await rm(bundle, { force: true });
      await rm(copy, { force: true });

      // Measured: what cc run --upload does, through the router.
      const idleRouter = rssBytes(router.pid);
      const idleWorker = rssBytes(worker.pid);
      const { value: uploaded, peaks } = await peaksDuring([router.pid, worker.pid], () =>
        timed(async () => {
          const prepared = await prepareUpload(repo);
          try {
            return await sendUpload(client, prepared.header, prepared.file);
          } finally {
            await prepared.cleanup();
          }
        }),
      );
      if (measuredRun) {
        up.ms.push(uploaded.ms);
        up.base.push(baseline.ms);
        up.router.push(peaks[0]! - idleRouter);
        up.worker.push(peaks[1]! - idleWorker);
      }
      ctx.log(`run ${i}${measuredRun ? "" : " (untimed)"}: upload ${(uploaded.ms / 1000).toFixed(2)} s, by hand ${(baseline.ms / 1000).toFixed(2)} s; RSS +${((peaks[0]! - idleRouter) / MiB).toFixed(1)} MiB router, +${((peaks[1]! - idleWorker) / MiB).toFixed(1)} MiB worker`);

      // A task on it (a fake claude that ends at once), then the file back.
      let taskId = "";
      let workspace = "";
      await followRouterRun(client, { prompt: "ticks=0 interval=0", mode: RunMode.HEADLESS, workspace: { source: { case: "upload", value: { uploadId: uploaded.value.uploadId } } } }, (ev) => {
        taskId = ev.taskId;
        if (ev.event.case === "started") workspace = ev.event.value.workspace;
      });
      const local = join(ctx.tmp, `local-copy-${i}.bin`);
      const localCopy = await timed(async () => expectSuccess("cp", await timedRun("cp", [join(workspace, "big.bin"), local], { env })));
      await rm(local, { force: true });
      const out = join(ctx.tmp, `downloaded-${i}.bin`);
      const idleRouter2 = rssBytes(router.pid);
      const idleWorker2 = rssBytes(worker.pid);
      const { value: downloaded, peaks: peaks2 } = await peaksDuring([router.pid, worker.pid], () =>
        timedRun(process.execPath, [CLI_MAIN, "cp", "--router", router.url, `${taskId}:big.bin`, out], { env: { ...env, NO_COLOR: "1" }, timeoutMs: 600_000 }).then((r) => expectSuccess("cc cp", r)),
      );
      await rm(out, { force: true });
      if (measuredRun) {
        down.ms.push(downloaded.ms);
        down.base.push(localCopy.ms);
        down.router.push(peaks2[0]! - idleRouter2);
        down.worker.push(peaks2[1]! - idleWorker2);
      }
      ctx.log(`run ${i}${measuredRun ? "" : " (untimed)"}: cc cp ${(downloaded.ms / 1000).toFixed(2)} s, cp ${(localCopy.ms / 1000).toFixed(2)} s; RSS +${((peaks2[0]! - idleRouter2) / MiB).toFixed(1)} MiB router, +${((peaks2[1]! - idleWorker2) / MiB).toFixed(1)} MiB worker`);
      await router.stop();
      await worker.stop();
    }

    const rate = (ms: number) => mib / (ms / 1000);
    const how = `A checkout of one ${mib} MiB file of random bytes, router and worker as processes of their own on loopback; each run times both sides, alternating, after one untimed round.`;
    const rssNote = (what: string) =>
      `Peak VmRSS sampled every 50 ms during the ${what}, minus the same process just before it, with fresh router and worker processes each run (the download follows the upload in the same processes); median over runs. The file is ${mib} MiB.`;
    const rssRow = (key: string, title: string, values: number[], label: string, what: string) =>
      row({
        figure: 8,
        key,
        title,
        measured: { value: median(values) / MiB, unit: "MiB", label },
        baseline: { value: mib, unit: "MiB", label: "the file" },
        result: median(values) / MiB,
        target: RSS,
        runs,
        notes: [rssNote(what), `Largest: ${(max(values) / MiB).toFixed(1)} MiB.`],
        samples: { growthMiB: values.map((v) => v / MiB) },
      });
    return [
      row({
        figure: 8,
        key: "upload-throughput",
        title: `upload of a ${mib} MiB checkout through the router vs \`git bundle\` + local copy, throughput`,
        measured: { value: rate(median(up.ms)), unit: "MiB/s", label: "snapshot, bundle, UploadWorkspace via router" },
        baseline: { value: rate(median(up.base)), unit: "MiB/s", label: "git bundle create + cp" },
        result: median(up.base) / median(up.ms),
        target: THROUGHPUT,
        runs,
        notes: [how, `Measured: cc's own upload code (cli/lib/checkout: the snapshot over a temporary index, the shallow bundle, the stream of 240 KiB chunks), in the harness's process, from the start to UploadWorkspace's answer (the worker has checked the SHA-256 and holds the file). Medians: ${(median(up.ms) / 1000).toFixed(2)} s against ${(median(up.base) / 1000).toFixed(2)} s.`],
        samples: { uploadMs: up.ms, byHandMs: up.base },
      }),
      rssRow("upload-router-rss", "router RSS growth during the upload", up.router, "peak − before", "upload"),
      rssRow("upload-worker-rss", "worker RSS growth during the upload", up.worker, "peak − before", "upload"),
      row({
        figure: 8,
        key: "download-throughput",
        title: `\`cc cp TASK:FILE\` of ${mib} MiB through the router vs local \`cp\`, throughput`,
        measured: { value: rate(median(down.ms)), unit: "MiB/s", label: "cc cp via router" },
        baseline: { value: rate(median(down.base)), unit: "MiB/s", label: "cp" },
        result: median(down.base) / median(down.ms),
        target: THROUGHPUT,
        runs,
        notes: [`\`node dist/cc/main.js cp --router URL TASK:big.bin OUT\` from spawn to exit (ReadFile streamed worker → router → cc, written to disk as it comes), against \`cp\` of the same file in the worker's workspace. Medians: ${(median(down.ms) / 1000).toFixed(2)} s against ${(median(down.base) / 1000).toFixed(2)} s.`],
        samples: { ccCpMs: down.ms, cpMs: down.base },
      }),
      rssRow("download-router-rss", "router RSS growth during the download", down.router, "peak − before", "download"),
      rssRow("download-worker-rss", "worker RSS growth during the download", down.worker, "peak − before", "download"),
    ];
  },
};
