// list_workers: the cluster's workers, their health and load.
import { z } from "zod";
import { WorkerHealth } from "../../../gen/claudecluster/v1/router_pb.js";
import { defineTool } from "../tool.js";

const MAX_WORKERS = 200;

export const listWorkers = defineTool({
  name: "list_workers",
  title: "List workers",
  description: "Lists the cluster's workers: health (online, full, draining, offline), tasks placed on each and its capacity, labels and claude version. Tasks run on online workers; run_task queues them when all are full.",
  input: {},
  output: {
    workers: z.array(
      z.object({
        worker_id: z.string(),
        health: z.string().describe("online, full, draining or offline."),
        tasks: z.number().describe("Tasks placed on it now."),
        capacity: z.number().describe("Tasks it runs at once."),
        labels: z.record(z.string(), z.string()),
        claude_version: z.string(),
        problem: z.string().describe("Why it is offline, when it is."),
      }),
    ),
    free_slots: z.number().describe("Tasks the online workers can start now."),
    truncated: z.boolean(),
  },
  readOnly: true,
  async run(_args, ctx) {
    const res = await ctx.client.listWorkers({}, { signal: ctx.signal });
    const workers = res.workers.map((w) => {
      const capacity = w.poolCapacity || w.info?.capacity || 0;
      return {
        worker_id: w.id,
        health: (WorkerHealth[w.health] ?? "unspecified").toLowerCase(),
        tasks: w.assigned,
        capacity,
        labels: { ...(w.info?.labels ?? {}) },
        claude_version: w.info?.claudeVersion ?? "",
        problem: w.problem,
      };
    });
    const free = workers.filter((w) => w.health === "online").reduce((n, w) => n + Math.max(0, w.capacity - w.tasks), 0);
    return { structured: { workers: workers.slice(0, MAX_WORKERS), free_slots: free, truncated: workers.length > MAX_WORKERS } };
  },
});
