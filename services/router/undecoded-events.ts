// The router forwards a worker's events without decoding them. Of a RunEvent it changes only task_id and seq (and
// `attempt` in `started`), yet decoding each event into typed fields (a `message` event carries claude's JSON line
// and its parsed form) and encoding it again was most of the router's per-event work and garbage
// (docs/benchmarks.md, figures 4 and 5). So the router reads a worker's Run as a stream of google.protobuf.Empty:
// protobuf-es keeps every field of an Empty as an unknown field, raw bytes that it writes back unchanged. The router
// sets its own task_id and seq as real fields beside them. `started` and `exited`, once per task, and the permission
// events are decoded fully: the router reads and changes them.
import { fromBinary, toBinary, type UnknownField } from "@bufbuild/protobuf";
import { BinaryReader } from "@bufbuild/protobuf/wire";
import type { GenService } from "@bufbuild/protobuf/codegenv2";
import { EmptySchema, type Empty } from "@bufbuild/protobuf/wkt";
import { RunEventSchema, type RunEvent, type RunRequestSchema } from "../../gen/claudecluster/v1/run_pb.js";
import { WorkerService, type WorkerServiceAttachRequestSchema } from "../../gen/claudecluster/v1/worker_pb.js";

/** RunEvent field numbers (proto/claudecluster/v1/run.proto). */
const TASK_ID = 1;
const SEQ = 2;
const STARTED = 10;
const EXITED = 14;
const PERMISSION_REQUEST = 50;
const PERMISSION_RESOLVED = 51;
/** Events the router reads: decoded in full. All are rare (a few per task). */
const DECODED = new Set([STARTED, EXITED, PERMISSION_REQUEST, PERMISSION_RESOLVED]);

type UndecodedRun = { methodKind: "server_streaming"; input: typeof RunRequestSchema; output: typeof EmptySchema };
type UndecodedAttach = { methodKind: "server_streaming"; input: typeof WorkerServiceAttachRequestSchema; output: typeof EmptySchema };

const run = { ...WorkerService.method.run, output: EmptySchema };
const attach = { ...WorkerService.method.attach, output: EmptySchema };

/** WorkerService.Run and Attach with their events left undecoded: the same RPCs on the wire. */
export const UndecodedWorkerService = {
  ...WorkerService,
  methods: [run, attach],
  method: { run, attach },
} as unknown as GenService<{ run: UndecodedRun; attach: UndecodedAttach }>;

/** The worker's seq of one of its events, undecoded: where a router re-attaching asks the worker to go on from. */
export function workerSeqOf(raw: Empty): bigint {
  for (const f of raw.$unknown ?? []) if (f.no === SEQ) return BigInt(new BinaryReader(f.data).uint64());
  return 0n;
}

/**
 * A worker's event as the router keeps it: undecoded fields (copied out of the transport's buffer, which a view
 * would keep alive) with task_id and seq left for the router to set. `started` and `exited` come back decoded.
 */
export function adoptWorkerEvent(raw: Empty): RunEvent {
  const fields = raw.$unknown ?? [];
  let bytes = 0;
  for (const f of fields) {
    if (DECODED.has(f.no)) return fromBinary(RunEventSchema, toBinary(EmptySchema, raw));
    if (f.no !== TASK_ID && f.no !== SEQ) bytes += f.data.length;
  }
  const copy = new Uint8Array(bytes);
  const kept: UnknownField[] = [];
  let offset = 0;
  for (const f of fields) {
    if (f.no === TASK_ID || f.no === SEQ) continue;
    copy.set(f.data, offset);
    kept.push({ no: f.no, wireType: f.wireType, data: copy.subarray(offset, offset + f.data.length) });
    offset += f.data.length;
  }
  return { $typeName: RunEventSchema.typeName, taskId: "", seq: 0n, time: undefined, event: { case: undefined }, $unknown: kept };
}

/** The event with every field decoded: for JSON callers, whose encoder does not know undecoded fields. */
export function decoded(event: RunEvent): RunEvent {
  if (event.$unknown === undefined || event.$unknown.length === 0) return event;
  return fromBinary(RunEventSchema, toBinary(RunEventSchema, event));
}

/** Whether a call's messages are JSON (Connect, gRPC or gRPC-Web with a +json codec) rather than binary. */
export function isJsonCall(contentType: string | null): boolean {
  return contentType !== null && /^application\/(?:[\w.-]+\+)?json\b/.test(contentType);
}
