// Which worker holds which upload, so that a Run naming an upload goes to that worker: the upload is on its disk and
// nowhere else. The router only keeps the pairing (bounded, until the upload's own expiry), never the bytes.
import type { RunRequest } from "../../gen/claudecluster/v1/run_pb.js";
import { WorkerHealth } from "../../gen/claudecluster/v1/router_pb.js";
import { invalidArgument, notFound, unavailable } from "../common/errors.js";
import { isValidTaskId } from "../common/ids.js";
import { type Identity, visibleTo } from "./identity/index.js";
import type { Registry } from "./registry.js";

const MAX_UPLOADS = 10_000;

export class UploadPlacements {
  private readonly workers = new Map<string, { workerId: string; expiresAt: number; owner: string }>();

  constructor(
    private readonly registry: Registry,
    private readonly now: () => number = Date.now,
  ) {}

  /** `owner`: the name of the caller that uploaded it; only it (or an admin) may run a task on it. */
  remember(uploadId: string, workerId: string, expiresAt: number, owner = ""): void {
    this.sweep();
    this.workers.set(uploadId, { workerId, expiresAt, owner });
    if (this.workers.size > MAX_UPLOADS) this.workers.delete(this.workers.keys().next().value!);
  }

  /**
   * A Run whose workspace is an upload is for the worker that holds it: `worker_id` is set to it (a different one
   * is refused), so the dispatcher places the task there or queues it until that worker has a free slot.
   */
  place(req: RunRequest, caller?: Identity): void {
    const source = req.workspace?.source;
    if (source?.case !== "upload") return;
    const uploadId = source.value.uploadId;
    // Validation names a missing or malformed id (and never echoes a malformed one).
    if (!isValidTaskId(uploadId)) return;
    const known = this.workers.get(uploadId);
    // Another's upload is NOT_FOUND, as an unknown one, so that upload ids do not leak.
    if (!known || known.expiresAt <= this.now() || (caller && !visibleTo(caller, { owner: known.owner }))) {
      throw notFound(`upload ${uploadId} on this router`, "uploads serve one task and expire unused (CC_UPLOAD_TTL); upload the workspace again (cc run --upload does)");
    }
    if (req.workerId !== "" && req.workerId !== known.workerId) {
      throw invalidArgument("worker_id", `is ${req.workerId}, but upload ${uploadId} is on worker ${known.workerId}; leave worker_id empty or upload to that worker`);
    }
    const worker = this.registry.byId(known.workerId);
    const health = worker ? this.registry.health(worker) : WorkerHealth.OFFLINE;
    if (health === WorkerHealth.OFFLINE || health === WorkerHealth.DRAINING) {
      const why = worker ? worker.problem || "draining" : "no longer registered";
      throw unavailable(`worker ${known.workerId}, which holds upload ${uploadId}, is ${why}; upload the workspace again to run the task elsewhere`);
    }
    req.workerId = known.workerId;
  }

  private sweep(): void {
    const now = this.now();
    for (const [id, u] of this.workers) if (u.expiresAt <= now) this.workers.delete(id);
  }
}
