// How cc turns any failure into one line on stderr that says what to do next, and an exit code from exit-codes.ts.
// Network failures (nothing listening, DNS, a server that does not speak gRPC) are "cannot reach the router";
// errors the router sent back are "refused", with the router's own message.
import { Code, ConnectError } from "@connectrpc/connect";
import { ExitCode } from "../exit-codes.js";

/** A failure whose message and exit code are already decided. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

/** Following a task was given up: the router stayed unreachable through every re-attach attempt. */
export class FollowLostError extends Error {
  constructor(
    readonly taskId: string,
    readonly attempts: number,
    override readonly cause: unknown,
  ) {
    super(`lost the router while following task ${taskId}`);
  }
}

/** Error codes of the socket layer, as Node reports them in `cause.code`. */
const NETWORK_CODES = new Set([
  "ECONNREFUSED", "ECONNRESET", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH", "ETIMEDOUT", "EPIPE",
  "ECONNABORTED", "EPROTO", "CERT_HAS_EXPIRED", "DEPTH_ZERO_SELF_SIGNED_CERT", "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "ERR_SSL_WRONG_VERSION_NUMBER", "ERR_TLS_CERT_ALTNAME_INVALID",
]);

function causeCode(err: ConnectError): string {
  const cause = err.cause as { code?: unknown } | undefined;
  if (typeof cause?.code === "string") return cause.code;
  return HTTP2_STREAM_CLOSED.test(err.rawMessage) ? err.rawMessage : "";
}

/** What connect-node reports when the connection under a stream dies mid-way (e.g. `... CANCEL (0x8)`). */
const HTTP2_STREAM_CLOSED = /^http\/2 stream closed with error code /;

/** The error came from the transport, not from a router's answer. */
export function isNetworkError(err: unknown): boolean {
  if (!(err instanceof ConnectError)) return false;
  const code = causeCode(err);
  return NETWORK_CODES.has(code) || code.startsWith("ERR_HTTP2_") || HTTP2_STREAM_CLOSED.test(err.rawMessage);
}

/**
 * Worth re-attaching after: the connection dropped or the router went away, or the router cut off a slow reader
 * (RESOURCE_EXHAUSTED on a stream already under way). Callers rule out their own aborts (CANCELED) first.
 */
export function isStreamDrop(err: unknown): boolean {
  if (!(err instanceof ConnectError)) return false;
  if (isNetworkError(err)) return true;
  return (
    err.code === Code.Unavailable ||
    err.code === Code.Aborted ||
    err.code === Code.Canceled ||
    err.code === Code.ResourceExhausted ||
    (err.code === Code.Internal && /stream|reset|protocol|goaway/i.test(err.rawMessage))
  );
}

/** A dropped stream in a few words, for the re-attach notice. */
export function dropReason(err: unknown): string {
  if (err instanceof ConnectError) {
    const code = causeCode(err);
    if (code) return `connection lost: ${code}`;
    return err.rawMessage;
  }
  return err instanceof Error ? err.message : String(err);
}

export interface Described {
  message: string;
  exitCode: number;
}

export interface DescribeContext {
  /** The router URL the call went to. */
  router: string;
  /** The task the call was about, for NOT_FOUND. */
  taskId?: string;
}

/** OpenSSL's and Node's codes for a certificate the client does not trust or that names another host. */
const TLS_TRUST_CODES = new Set([
  "DEPTH_ZERO_SELF_SIGNED_CERT", "SELF_SIGNED_CERT_IN_CHAIN", "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY", "UNABLE_TO_GET_ISSUER_CERT", "CERT_HAS_EXPIRED", "CERT_NOT_YET_VALID",
  "ERR_TLS_CERT_ALTNAME_INVALID",
]);

/** The one place that words failures for the user. */
export function describeError(err: unknown, ctx: DescribeContext): Described {
  if (err instanceof CliError) return { message: err.message, exitCode: err.exitCode };
  if (err instanceof FollowLostError) {
    const why = err.cause instanceof ConnectError && isNetworkError(err.cause) ? causeCode(err.cause) || dropReason(err.cause) : dropReason(err.cause);
    return {
      message:
        `lost the router at ${ctx.router} while following task ${err.taskId} (${why}; ${err.attempts} attempts to re-attach) — ` +
        `its worker stops the task once it notices the router is gone; when the router is back, \`cc attach ${err.taskId}\` shows ` +
        "what happened (a restarted router no longer knows the task)",
      exitCode: ExitCode.Unreachable,
    };
  }
  if (err instanceof ConnectError) {
    if (isNetworkError(err)) {
      const code = causeCode(err);
      if (TLS_TRUST_CODES.has(code)) {
        return {
          message: `cannot verify the TLS certificate of the router at ${ctx.router} (${code}) — if it comes from a private CA or is self-signed, point NODE_EXTRA_CA_CERTS at that CA's certificate`,
          exitCode: ExitCode.Unreachable,
        };
      }
      if (code.startsWith("ERR_HTTP2_")) {
        return {
          message: `cannot reach the router at ${ctx.router}: it does not answer gRPC over HTTP/2 (${code}) — check the URL, or start a router with \`cc up\``,
          exitCode: ExitCode.Unreachable,
        };
      }
      return {
        message: `cannot reach the router at ${ctx.router} (${code}) — start one with \`cc up\`, or set --router (CC_ROUTER_URL)`,
        exitCode: ExitCode.Unreachable,
      };
    }
    const raw = err.rawMessage;
    switch (err.code) {
      case Code.Unauthenticated:
      case Code.PermissionDenied:
        return {
          message: `the router at ${ctx.router} refused the token: ${raw} — set the right one with --token, CC_TOKEN or \`cc config set <profile> --token TOKEN\``,
          exitCode: ExitCode.Refused,
        };
      case Code.NotFound:
        if (ctx.taskId && /task/i.test(raw)) {
          return { message: `no task "${ctx.taskId}" on the router at ${ctx.router} — list tasks with \`cc ps --all\``, exitCode: ExitCode.Refused };
        }
        return { message: raw, exitCode: ExitCode.Refused };
      case Code.Unavailable:
      case Code.ResourceExhausted:
      case Code.FailedPrecondition:
        if (/no (online )?workers?\b/i.test(raw) && !raw.includes("`cc ")) {
          return { message: `${raw} — start a cluster with \`cc up\`, or check the workers with \`cc workers\``, exitCode: ExitCode.Refused };
        }
        return { message: `the router refused: ${raw}`, exitCode: ExitCode.Refused };
      case Code.DeadlineExceeded:
        return { message: `the router did not answer in time: ${raw}`, exitCode: ExitCode.Unreachable };
      case Code.Canceled:
        return { message: "interrupted", exitCode: ExitCode.Interrupted };
      default:
        return { message: `the router refused: ${raw} (${Code[err.code] ?? err.code})`, exitCode: ExitCode.Refused };
    }
  }
  return { message: err instanceof Error ? err.message : String(err), exitCode: ExitCode.AgentError };
}
