// How many bytes a RunEvent holds, roughly, for buffer and log accounting on worker and router alike.
import type { RunEvent } from "../../gen/claudecluster/v1/run_pb.js";

export function eventSize(event: RunEvent): number {
  const e = event.event;
  // Forwarded undecoded by the router (services/router/undecoded-events.ts): its fields are raw bytes.
  if (e.case === undefined && event.$unknown !== undefined) {
    let bytes = 64;
    for (const field of event.$unknown) bytes += field.data.length;
    return bytes;
  }
  if (e.case === "output") return e.value.data.length + 64;
  // The raw line is kept and most of it is parsed again into typed fields.
  if (e.case === "message") return e.value.json.length * 2 + 256;
  return 128;
}
