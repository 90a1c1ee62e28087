import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { RunRequestSchema } from "../../gen/claudecluster/v1/run_pb.js";
import { WorkerInfoSchema, WorkerState } from "../../gen/claudecluster/v1/worker_pb.js";
import { silentLogger } from "../common/logger.js";
import { Registry } from "./registry.js";
import { UploadPlacements } from "./uploads.js";

describe("UploadPlacements", () => {
  it("runs a task on an upload only for its uploader (or an admin); another user gets NOT_FOUND, as for an unknown upload", () => {
    const registry = new Registry({ staticWorkers: [], workerToken: undefined, heartbeatMs: 1000, offlineAfterMs: 3_600_000, removeAfterMs: 3_600_000, logger: silentLogger(), onCapacity: () => {} });
    registry.register("http://127.0.0.1:9", create(WorkerInfoSchema, { workerId: "w1", capacity: 1, state: WorkerState.SERVING }));
    const uploads = new UploadPlacements(registry);
    uploads.remember("up1", "w1", Date.now() + 60_000, "alice");
    const run = () => create(RunRequestSchema, { prompt: "x", workspace: { source: { case: "upload", value: { uploadId: "up1" } } } });
    const alice = { name: "alice", role: "user" as const, quotas: {} };
    const bob = { name: "bob", role: "user" as const, quotas: {} };
    const root = { name: "root", role: "admin" as const, quotas: {} };
    const mine = run();
    uploads.place(mine, alice);
    expect(mine.workerId).toBe("w1");
    const admins = run();
    uploads.place(admins, root);
    expect(admins.workerId).toBe("w1");
    const message = (f: () => void) => {
      try {
        f();
      } catch (err) {
        return (err as Error).message;
      }
      return "";
    };
    const unknown = create(RunRequestSchema, { prompt: "x", workspace: { source: { case: "upload", value: { uploadId: "up2" } } } });
    expect(message(() => uploads.place(run(), bob))).toBe(message(() => uploads.place(unknown, bob)).replace("up2", "up1"));
    expect(message(() => uploads.place(run(), bob))).toMatch(/^\[not_found\] upload up1 on this router not found/);
  });
});
