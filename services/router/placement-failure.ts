// What a worker's Run failing before its first event says about the task. A worker acknowledges a task with its
// first event, before it clones or starts claude, so a failure before it is one of:
//   refused    the worker answered with an error status: it did not take the task
//   busy       the same, RESOURCE_EXHAUSTED: every slot taken; the task waits for one rather than failing
//   has-it     ALREADY_EXISTS: an earlier placement of this task on this worker did reach it
//   unreached  the connection never got to the worker (refused, no such host): it cannot have the task
//   unknown    the stream broke after the request may have reached it: the worker may have the task
import { Code, ConnectError } from "@connectrpc/connect";

export type PlacementFailure = "refused" | "busy" | "has-it" | "unreached" | "unknown";

/** Node's codes for a connection that was never made. */
const NOT_CONNECTED = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH", "EADDRNOTAVAIL"]);

/** connect-node's wording for a stream reset (RST_STREAM or GOAWAY) without a status. */
const H2_RESET = /^http\/2 stream closed with error code (\w+)/;

/**
 * connect-node's own errors for a connection it gave up on (http2-session-manager.js): they carry a status code and
 * no cause, like a worker's answer, but a request on that connection may have reached the worker. A PING timeout
 * is what a loaded machine produces, so it must not read as UNAVAILABLE from the worker (placed elsewhere: twice).
 */
const CONNECTION_DROPPED = /^(PING timed out|http\/2 connection closed with error code)/;

export function classifyPlacementFailure(err: ConnectError): PlacementFailure {
  const codes = causeCodes(err);
  if (codes.some((c) => NOT_CONNECTED.has(c))) return "unreached";
  const reset = H2_RESET.exec(err.rawMessage);
  // REFUSED_STREAM: the server says it did not process the stream at all (RFC 9113 §8.7).
  if (reset) return reset[1] === "REFUSED_STREAM" ? "unreached" : "unknown";
  if (CONNECTION_DROPPED.test(err.rawMessage)) return "unknown";
  // An error status the worker sent carries no cause; the transport's own errors wrap what Node threw.
  if (err.cause !== undefined || codes.length > 0) return "unknown";
  switch (err.code) {
    case Code.ResourceExhausted:
      return "busy";
    case Code.AlreadyExists:
      return "has-it";
    case Code.Canceled:
    case Code.DeadlineExceeded:
    case Code.Unknown:
    case Code.Internal:
    case Code.Aborted:
    case Code.DataLoss:
      // What a client reports for a broken call as often as a server sends it.
      return "unknown";
    default:
      return "refused";
  }
}

/** Whether a refusal is about this worker (another may take the task) rather than about the task itself. */
export function workerSideRefusal(err: ConnectError): boolean {
  return err.code === Code.Unavailable || err.code === Code.FailedPrecondition || err.code === Code.Unauthenticated || err.code === Code.PermissionDenied || err.code === Code.Unimplemented;
}

function causeCodes(err: unknown): string[] {
  const codes: string[] = [];
  const seen = new Set<unknown>();
  for (let e = err; e !== undefined && e !== null && typeof e === "object" && !seen.has(e); e = (e as { cause?: unknown }).cause) {
    seen.add(e);
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string") codes.push(code);
  }
  return codes;
}
