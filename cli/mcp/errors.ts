// How a tool's failure reads to a model: the router's code, then its words (which say what to do next).
import { ConnectError } from "@connectrpc/connect";

/** A router error as a model can act on it: the code, then the router's words (which say what to do). */
export function errorText(err: unknown): string {
  if (err instanceof ConnectError) return `${codeName(err)}: ${err.rawMessage}`;
  return err instanceof Error ? err.message : String(err);
}

function codeName(err: ConnectError): string {
  const names: Record<number, string> = {
    1: "cancelled",
    2: "unknown",
    3: "invalid_argument",
    4: "deadline_exceeded",
    5: "not_found",
    6: "already_exists",
    7: "permission_denied",
    8: "resource_exhausted",
    9: "failed_precondition",
    10: "aborted",
    11: "out_of_range",
    12: "unimplemented",
    13: "internal",
    14: "unavailable",
    15: "data_loss",
    16: "unauthenticated",
  };
  return names[err.code] ?? "error";
}
