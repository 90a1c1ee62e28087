// The per-task output limit (CC_MAX_OUTPUT_BYTES): a task that keeps printing is stopped with reason OUTPUT_LIMIT,
// in both modes, and leaves nothing running. The source is a fake claude that floods (fixtures/fake-claude).
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ExitReason, RunMode, type RunEvent } from "../../gen/claudecluster/v1/run_pb.js";
import { leftoverProcesses } from "../helpers/processes.js";
import { collect, ofCase, startTestWorker, type TestWorker } from "../helpers/worker.js";

const FLOOD = fileURLToPath(new URL("../fixtures/fake-claude/flood.sh", import.meta.url));
const LIMIT = 2 * 1024 * 1024;

describe("output limit", () => {
  let w: TestWorker;

  beforeAll(async () => {
    w = await startTestWorker({ CC_CLAUDE_BIN: FLOOD, CC_MAX_OUTPUT_BYTES: String(LIMIT), CC_KILL_GRACE: "1s" });
  });

  afterAll(async () => {
    await w?.close();
  });

  for (const mode of [RunMode.HEADLESS, RunMode.INTERACTIVE]) {
    it(`stops a ${RunMode[mode].toLowerCase()} task that prints more than the limit, with reason OUTPUT_LIMIT`, async () => {
      const events: RunEvent[] = await collect(w.client.run({ prompt: "flood", mode }));
      const exited = ofCase(events, "exited")[0]!;
      expect(exited.reason).toBe(ExitReason.OUTPUT_LIMIT);
      expect(exited.message).toContain(`more than ${LIMIT} bytes`);
      expect(exited.message).toContain("CC_MAX_OUTPUT_BYTES");
      const printed = ofCase(events, "output").reduce((n, o) => n + o.data.length, 0);
      // Stopped soon after the limit: what was already in flight, not the 256 MiB the source would print.
      expect(printed).toBeGreaterThan(LIMIT / 2);
      expect(printed).toBeLessThan(LIMIT * 4);
      expect(leftoverProcesses(ofCase(events, "started")[0]!.workspace)).toEqual([]);
    });
  }
});
