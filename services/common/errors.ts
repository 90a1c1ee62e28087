// The one error vocabulary at the service boundary. Expected failures are ConnectErrors whose message tells the
// user what to do next; platform errors (spawn, PTY, network) are mapped to codes here and nowhere else; anything
// else reaches clients as "internal error" while the cause goes to the log.
import { Code, ConnectError } from "@connectrpc/connect";

export { Code, ConnectError };

/** A request field is wrong: the message names the field and what is expected. */
export function invalidArgument(field: string, problem: string): ConnectError {
  return new ConnectError(`${field}: ${problem}`, Code.InvalidArgument);
}

export function notFound(what: string, hint: string): ConnectError {
  return new ConnectError(`${what} not found; ${hint}`, Code.NotFound);
}

export function failedPrecondition(message: string): ConnectError {
  return new ConnectError(message, Code.FailedPrecondition);
}

export function resourceExhausted(message: string): ConnectError {
  return new ConnectError(message, Code.ResourceExhausted);
}

export function unavailable(message: string): ConnectError {
  return new ConnectError(message, Code.Unavailable);
}

interface ErrnoLike {
  code?: string;
  syscall?: string;
  path?: string;
}

/**
 * Maps an operating-system error (from spawn, the PTY, the file system or a socket) to a ConnectError whose message
 * a user can act on. `subject` names what was being done, e.g. "starting claude".
 */
export function fromPlatformError(err: unknown, subject: string): ConnectError {
  if (err instanceof ConnectError) return err;
  const e = (err ?? {}) as ErrnoLike;
  switch (e.code) {
    case "ENOENT":
      return new ConnectError(`${subject}: ${e.path ?? "file"} does not exist`, Code.FailedPrecondition, undefined, undefined, err);
    case "EACCES":
    case "EPERM":
      return new ConnectError(`${subject}: permission denied on ${e.path ?? "a file"}`, Code.FailedPrecondition, undefined, undefined, err);
    case "EMFILE":
    case "ENFILE":
    case "EAGAIN":
    case "ENOMEM":
      return new ConnectError(`${subject}: the worker is out of resources (${e.code}); try again later`, Code.ResourceExhausted, undefined, undefined, err);
    case "ECONNREFUSED":
    case "ECONNRESET":
    case "EHOSTUNREACH":
    case "ETIMEDOUT":
    case "EPIPE":
      return new ConnectError(`${subject}: connection failed (${e.code})`, Code.Unavailable, undefined, undefined, err);
    default:
      return internal(err);
  }
}

const PARSE_BINARY = /^parse binary: ([\s\S]*)$/;
const OVER_READ_MAX = /^message size (?:(\d+) )?is larger than configured readMaxBytes (\d+)$/;

/**
 * Restates connect-es's own errors about a request it could not read, for the caller whose mistake they are:
 * bytes that are not a valid message come as INTERNAL "parse binary: …" (the code gRPC libraries use for a corrupt
 * message) and become INVALID_ARGUMENT naming the message type; a message over readMaxBytes keeps
 * RESOURCE_EXHAUSTED and says which settings set the limit (both services derive it from CC_MAX_PROMPT_BYTES; a
 * worker's Run can also carry a resumed session's transcript, so its limit adds CC_MAX_TRANSCRIPT_BYTES).
 * Only for errors raised while reading the request: a worker's answer the router cannot parse stays INTERNAL.
 */
export function clarifyRequestError(err: ConnectError, inputType: string, limitSettings = "CC_MAX_PROMPT_BYTES"): ConnectError {
  const parse = err.code === Code.Internal ? PARSE_BINARY.exec(err.rawMessage) : null;
  if (parse) {
    return new ConnectError(
      `the request is not a valid ${inputType} message (${parse[1]}); check that the client encodes it with this service's .proto`,
      Code.InvalidArgument,
      undefined,
      undefined,
      err,
    );
  }
  const big = err.code === Code.ResourceExhausted ? OVER_READ_MAX.exec(err.rawMessage) : null;
  if (big) {
    const size = big[1] ? `${big[1]} bytes, ` : "";
    return new ConnectError(
      `the request message is ${size}over this server's limit of ${big[2]} bytes (set by ${limitSettings}); shorten the prompt or put the material in the workspace`,
      Code.ResourceExhausted,
      undefined,
      undefined,
      err,
    );
  }
  return err;
}

/** The only shape an unexpected error takes on the wire; the cause stays on the error for the log. */
export function internal(cause: unknown): ConnectError {
  return new ConnectError("internal error", Code.Internal, undefined, undefined, cause);
}

/** A short description of any thrown value, for logs. */
export function describe(err: unknown): string {
  if (err instanceof ConnectError) return `[${Code[err.code]}] ${err.rawMessage}`;
  if (err instanceof Error) return err.message;
  return String(err);
}
