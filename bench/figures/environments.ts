// Figure 11: seconds to the first action on a repository whose environment takes 10 s to set up. Time from spawning
// `cc run --repo URL --output-format stream-json` to the first line it prints (claude's first event), against the
// local HTTPS git server (test/fixtures/git-https), on one sandboxed worker with a warm pool, through a router:
//   cold               --no-cache: the clone, the 10-second setup script, then a new claude (no warm one);
//   snapshot           the clone, a copy of the snapshot and the maintenance script, then a new claude;
//   snapshot + warm    the same into a warm claude's workspace (CC_WARM_POOL), which then gets the prompt;
//   baseline           a warm-pool task on an empty workspace (no repository), the yardstick.
// The variants alternate within each run; before each warm variant the harness waits (untimed) for the pool to refill,
// and the others pass `--env BENCH_COLD=1`, a variable no warm claude has, so they never take one.
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { performance } from "node:perf_hooks";
import { startGitHttpsServer } from "../../test/fixtures/git-https/server.js";
import type { BenchContext, Figure } from "../lib/context.js";
import { cleanEnv, modelEnv, startModel, startRouter, startWorker, workerClient } from "../lib/cluster.js";
import { CLI_MAIN } from "../lib/paths.js";
import { row } from "../lib/results.js";
import { median } from "../lib/stats.js";

const SETUP_SECONDS = 10;
const PROMPT = "Say hello to the benchmark";
const PROFILE = { allowedTools: ["Bash"] };
const ROWS = [
  { key: "env-snapshot-warm", title: "repository with a 10 s setup, snapshot + warm claude vs a warm-pool task on an empty workspace: `cc run` to claude's first event", target: { op: "<=", value: 2, unit: "×" } },
  { key: "env-snapshot", title: "repository with a 10 s setup, snapshot (new claude) vs a warm-pool task on an empty workspace: `cc run` to claude's first event", target: { op: "<=", value: 2, unit: "×" } },
  { key: "env-cold", title: "repository with a 10 s setup, cold (setup runs) vs snapshot + warm claude: `cc run` to claude's first event", target: { op: ">=", value: 5, unit: "×" } },
] as const;

/** Milliseconds from spawning cc to its first line on stdout; the process is then left to finish (and checked). */
function firstLine(args: string[], env: Record<string, string | undefined>, cwd: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [CLI_MAIN, ...args], { env, cwd, stdio: ["ignore", "pipe", "pipe"] });
    let first = Number.NaN;
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => {
      if (Number.isNaN(first) && d.includes(10)) first = performance.now() - t0;
      out += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 180_000);
    child.once("error", reject);
    child.once("close", (code) => {
      clearTimeout(timer);
      if (code !== 0 || Number.isNaN(first)) return reject(new Error(`cc ${args.join(" ")} exited ${code}: ${(err || out).trim().split("\n").slice(-5).join(" | ")}`));
      if (!out.includes('"type":"system"')) return reject(new Error(`cc printed no claude event first: ${out.slice(0, 200)}`));
      resolve(first);
    });
  });
}

export const environments: Figure = {
  id: "environments",
  number: 11,
  rows: ROWS.map((r) => ({ ...r, target: { ...r.target } })),
  async run(ctx: BenchContext) {
    const runs = ctx.runs(3, 1);
    const git = await startGitHttpsServer();
    ctx.defer(() => git.close());
    // The repository: an environment whose setup takes SETUP_SECONDS and writes a marker.
    const work = join(ctx.tmp, "repo");
    mkdirSync(join(work, ".claudecluster"), { recursive: true });
    const bare = join(dirname(git.repoDir("public.git")), "bench-env.git");
    const gitEnv = { PATH: process.env["PATH"], HOME: work, GIT_CONFIG_NOSYSTEM: "1", GIT_AUTHOR_NAME: "B", GIT_AUTHOR_EMAIL: "b@example.com", GIT_COMMITTER_NAME: "B", GIT_COMMITTER_EMAIL: "b@example.com" };
    const g = (...args: string[]) => execFileSync("git", args, { cwd: work, env: gitEnv });
    execFileSync("git", ["init", "--quiet", "--bare", "--initial-branch=main", bare]);
    g("init", "--quiet", "--initial-branch=main");
    writeFileSync(join(work, ".claudecluster", "environment.yaml"), `setup: |\n  sleep ${SETUP_SECONDS}\n  echo ready > .ready\nmaintenance: |\n  test -f .ready\n`);
    g("add", "-A");
    g("commit", "--quiet", "-m", "environment");
    g("push", "--quiet", bare, "main:main");
    const url = `${git.url}/bench-env.git`;

    const model = await startModel(ctx);
    const worker = await startWorker(ctx, "w1", {
      ...modelEnv(model.url),
      GIT_SSL_CAINFO: git.caFile,
      CC_WARM_POOL: "1",
      CC_WARM_PROFILE: JSON.stringify(PROFILE),
      CC_ENV_SETUP_TIMEOUT: "2m",
      SHELL: "/bin/bash",
    });
    const router = await startRouter(ctx, [worker]);
    const client = workerClient(ctx, worker.url);
    const settle = async () => {
      const deadline = Date.now() + 60_000;
      while ((await client.getInfo({})).warmPool!.ready < 1) {
        if (Date.now() > deadline) throw new Error("the warm pool did not refill in 60 s");
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    const env = { ...cleanEnv(), XDG_CONFIG_HOME: join(ctx.tmp, "xdg"), NO_COLOR: "1" };
    const base = ["run", "--no-upload", "--router", router.url, "--allowed-tools", "Bash", "--output-format", "stream-json"];
    // Warm variants wait for a full pool; the others pass a variable of their own (--env), which no warm claude has,
    // so they always get a claude started for them.
    const cold = ["--env", "BENCH_COLD=1"];
    const variant = {
      baseline: async () => (await settle(), firstLine([...base, PROMPT], env, ctx.tmp)),
      warmSnapshot: async () => (await settle(), firstLine([...base, "--repo", url, PROMPT], env, ctx.tmp)),
      snapshot: () => firstLine([...base, ...cold, "--repo", url, PROMPT], env, ctx.tmp),
      cold: () => firstLine([...base, ...cold, "--repo", url, "--no-cache", PROMPT], env, ctx.tmp),
    };
    // Untimed: the first setup (the snapshot exists from here on) and one of each.
    await variant.cold();
    await variant.baseline();
    const ms = { baseline: [] as number[], warmSnapshot: [] as number[], snapshot: [] as number[], cold: [] as number[] };
    for (let i = 0; i < runs; i++) {
      ms.baseline.push(await variant.baseline());
      ms.warmSnapshot.push(await variant.warmSnapshot());
      ms.snapshot.push(await variant.snapshot());
      ms.cold.push(await variant.cold());
      ctx.log(`run ${i + 1}/${runs}: baseline ${ms.baseline.at(-1)!.toFixed(0)} ms, snapshot+warm ${ms.warmSnapshot.at(-1)!.toFixed(0)} ms, snapshot ${ms.snapshot.at(-1)!.toFixed(0)} ms, cold ${ms.cold.at(-1)!.toFixed(0)} ms`);
    }
    const m = { baseline: median(ms.baseline), warmSnapshot: median(ms.warmSnapshot), snapshot: median(ms.snapshot), cold: median(ms.cold) };
    const how = `Wall time from spawning \`node dist/cc/main.js ${base.slice(1, 3).join(" ")} … --output-format stream-json [--repo URL [--no-cache]] PROMPT\` to its first stdout line (claude's init event); one sandboxed worker (CC_SANDBOX=auto) with CC_WARM_POOL=1 behind a router, the repository on the local HTTPS git server, its setup \`sleep ${SETUP_SECONDS}\`. Medians; all variants alternate within each run.`;
    const samples = { baselineMs: ms.baseline, snapshotWarmMs: ms.warmSnapshot, snapshotMs: ms.snapshot, coldMs: ms.cold };
    return [
      row({ figure: 11, ...ROWS[0], target: { ...ROWS[0].target }, measured: { value: m.warmSnapshot, unit: "ms", label: "snapshot + warm" }, baseline: { value: m.baseline, unit: "ms", label: "warm, empty workspace" }, result: m.warmSnapshot / m.baseline, runs, notes: [how], samples }),
      row({ figure: 11, ...ROWS[1], target: { ...ROWS[1].target }, measured: { value: m.snapshot, unit: "ms", label: "snapshot" }, baseline: { value: m.baseline, unit: "ms", label: "warm, empty workspace" }, result: m.snapshot / m.baseline, runs, notes: [how] }),
      row({ figure: 11, ...ROWS[2], target: { ...ROWS[2].target }, measured: { value: m.cold, unit: "ms", label: "cold" }, baseline: { value: m.warmSnapshot, unit: "ms", label: "snapshot + warm" }, result: m.cold / m.warmSnapshot, runs, notes: [how] }),
    ];
  },
};
