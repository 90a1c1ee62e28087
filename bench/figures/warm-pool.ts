// Figure 2: figure 1 with the worker's warm pool (CC_WARM_POOL=<n>): claude processes started ahead of the task.
// Measured only when this build's worker has the setting; otherwise reported as not available.
import type { Figure } from "../lib/context.js";
import { hasWarmPool, measureOneTurn } from "./one-turn.js";

const TARGET = { op: "<=", value: 0.45, unit: "×" } as const;
const TITLE = "one-turn task, `cc run` → router → worker (warm pool) vs `claude -p`";

export const warmPool: Figure = {
  id: "warm-pool",
  number: 2,
  rows: [{ key: "one-turn-warm", title: TITLE, target: TARGET }],
  async run(ctx) {
    if (!hasWarmPool()) {
      return [
        {
          figure: 2,
          key: "one-turn-warm",
          title: TITLE,
          target: TARGET,
          status: "not available",
          runs: 0,
          notes: ["This build's worker has no CC_WARM_POOL setting (services/worker/settings.ts), so there is no warm pool to measure."],
        },
      ];
    }
    const size = Math.round(ctx.param("WARM_POOL", 2));
    return [
      await measureOneTurn(ctx, {
        figure: 2,
        key: "one-turn-warm",
        title: TITLE,
        target: TARGET,
        workerEnv: { CC_WARM_POOL: String(size) },
        warm: true,
        notes: [`As figure 1 with CC_WARM_POOL=${size} on the worker; before each timed task the harness waits (untimed) until GetInfo shows the pool full, as on a worker whose tasks arrive less often than claude starts; the replacement the pool starts for each task it hands out runs during the timed task.`],
      }),
    ];
  },
};
