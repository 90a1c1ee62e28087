// How a stored event is written and read back. A stored event is its RunEvent bytes without task_id and seq (the
// store keys it by both), so a log holds each event's bytes once. Read back, it is a RunEvent with task_id and seq
// set and every other field left undecoded (protobuf-es keeps them as unknown fields and writes them back as they
// are), the form the router forwards worker events in (undecoded-events.ts): a binary caller gets the bytes as they
// were stored, and `decoded()` makes them typed fields for JSON callers.
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { EmptySchema } from "@bufbuild/protobuf/wkt";
import { RunEventSchema, type RunEvent } from "../../../gen/claudecluster/v1/run_pb.js";

/** RunEvent's `exited` field number (run.proto). */
const EXITED = 14;

/** The bytes a store keeps for `event`. */
export function encodeEvent(event: RunEvent): Uint8Array {
  return toBinary(RunEventSchema, { ...event, taskId: "", seq: 0n });
}

/** A stored event as the router serves it. */
export function decodeEvent(bytes: Uint8Array, taskId: string, seq: bigint): RunEvent {
  const unknown = fromBinary(EmptySchema, bytes).$unknown ?? [];
  return { $typeName: RunEventSchema.typeName, taskId, seq, time: undefined, event: { case: undefined }, $unknown: unknown };
}

/** Whether an event, decoded or not, is the task's `exited`: its last. */
export function isExited(event: RunEvent): boolean {
  if (event.event.case !== undefined) return event.event.case === "exited";
  return (event.$unknown ?? []).some((f) => f.no === EXITED);
}
