// Figure 7: `cc --help` from a cold process, against `node -e 0`. cli/main.ts answers a bare help request from
// pre-rendered text without loading clipanion or the RPC stack; this is what keeps it honest.
import type { Figure } from "../lib/context.js";
import { cleanEnv } from "../lib/cluster.js";
import { CLI_MAIN } from "../lib/paths.js";
import { expectSuccess, timedRun } from "../lib/processes.js";
import { row } from "../lib/results.js";
import { median } from "../lib/stats.js";

const TARGET = { op: "<=", value: 1.3, unit: "×" } as const;
const TITLE = "`cc --help` cold start vs `node -e 0`";

export const coldStart: Figure = {
  id: "cold-start",
  number: 7,
  rows: [{ key: "cold-start", title: TITLE, target: TARGET }],
  async run(ctx) {
    const runs = ctx.runs(15, 3);
    const env = { ...cleanEnv(), NO_COLOR: "1" };
    const cc = () => timedRun(process.execPath, [CLI_MAIN, "--help"], { env }).then((r) => expectSuccess("cc --help", r).ms);
    const node = () => timedRun(process.execPath, ["-e", "0"], { env }).then((r) => expectSuccess("node -e 0", r).ms);
    // One untimed run of each fills the OS page cache and node's compile cache, as any second use would.
    await cc();
    await node();
    const ccMs: number[] = [];
    const nodeMs: number[] = [];
    // Interleaved, so drift in the machine's load touches both alike.
    for (let i = 0; i < runs; i++) {
      ccMs.push(await cc());
      nodeMs.push(await node());
    }
    ctx.log(`cc --help ${median(ccMs).toFixed(1)} ms, node -e 0 ${median(nodeMs).toFixed(1)} ms`);
    return [
      row({
        figure: 7,
        key: "cold-start",
        title: TITLE,
        measured: { value: median(ccMs), unit: "ms", label: "cc --help" },
        baseline: { value: median(nodeMs), unit: "ms", label: "node -e 0" },
        result: median(ccMs) / median(nodeMs),
        target: TARGET,
        runs,
        notes: ["Wall time from spawn to exit, each a new node process of the same binary; one untimed run of each first (page cache, node's compile cache)."],
        samples: { ccMs, nodeMs },
      }),
    ];
  },
};
