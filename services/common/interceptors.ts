// Interceptors shared by worker and router: the error boundary (unexpected errors leave as "internal error", their
// cause goes to the log) and bearer-token authentication.
import { timingSafeEqual, createHash } from "node:crypto";
import { Code, ConnectError, type HandlerContext, type Interceptor } from "@connectrpc/connect";
import { Health } from "../../gen/grpc/health/v1/health_pb.js";
import { internal } from "./errors.js";
import type { Logger } from "./logger.js";

function mask(err: unknown, logger: Logger, method: string): ConnectError {
  if (err instanceof ConnectError) return err;
  logger.error({ err, method }, "unexpected error");
  return internal(err);
}

export function errorBoundary(logger: Logger): Interceptor {
  return (next) => async (req) => {
    const method = `${req.service.typeName}/${req.method.name}`;
    try {
      const res = await next(req);
      if (!res.stream) return res;
      const source = res.message;
      return {
        ...res,
        message: (async function* () {
          try {
            yield* source;
          } catch (err) {
            throw mask(err, logger, method);
          }
        })(),
      };
    } catch (err) {
      throw mask(err, logger, method);
    }
  };
}

/** Compares in constant time (over fixed-length digests, so length leaks nothing either). */
function tokenMatches(presented: string, accepted: readonly string[]): boolean {
  const p = createHash("sha256").update(presented).digest();
  let ok = false;
  for (const token of accepted) ok = timingSafeEqual(p, createHash("sha256").update(token).digest()) || ok;
  return ok;
}

/**
 * Services anyone may call without a token. Health only: Kubernetes and Cloud Run gRPC probes and Docker
 * HEALTHCHECKs cannot send headers, and a status reveals nothing. Reflection is not here: the schema stays behind
 * the token like every other RPC.
 */
export const TOKEN_FREE_SERVICES: ReadonlySet<string> = new Set([Health.typeName]);

/**
 * Requires `authorization: Bearer <token>` with one of `tokens` (several allow rotation), except for
 * TOKEN_FREE_SERVICES. No tokens: open.
 */
export function bearerAuth(tokens: readonly string[], what: string): Interceptor {
  return (next) => async (req) => {
    checkBearer(req.service.typeName, req.header, tokens, what);
    return next(req);
  };
}

/**
 * The same check as bearerAuth, as a Connect `requestGate`: it runs once the headers are in, before any request
 * body is read or parsed, so a caller without the token cannot make the server read (or diagnose) a message.
 * `tokensFor` picks the tokens and their name by method (the router takes worker tokens on RegisterWorker).
 */
export function bearerGate(logger: Logger, tokensFor: (method: string) => { tokens: readonly string[]; what: string }): (ctx: HandlerContext) => void {
  return (ctx) => {
    const { tokens, what } = tokensFor(ctx.method.name);
    try {
      checkBearer(ctx.service.typeName, ctx.requestHeader, tokens, what);
    } catch (err) {
      // Refused before the interceptors run, so the per-RPC log line is written here.
      logger.info({ method: `${ctx.service.typeName}/${ctx.method.name}`, code: "unauthenticated", err: (err as Error).message }, "rpc refused");
      throw err;
    }
  };
}

function checkBearer(service: string, header: Headers, tokens: readonly string[], what: string): void {
  if (tokens.length === 0 || TOKEN_FREE_SERVICES.has(service)) return;
  if (!tokenMatches(presentedBearer(header, what), tokens)) throw new ConnectError(`wrong ${what}: check the token you were given for this cluster`, Code.Unauthenticated);
}

/** The token of an `authorization: Bearer <token>` header; UNAUTHENTICATED saying what is wrong with any other. */
export function presentedBearer(header: Headers, what: string): string {
  const value = header.get("authorization") ?? "";
  const match = /^Bearer\s+(.+)$/i.exec(value);
  if (!match) {
    const scheme = /^(\S+)\s/.exec(value)?.[1];
    const got = !value ? "no authorization header" : /^bearer\s*$/i.test(value) ? "an empty Bearer token" : scheme ? `got the ${scheme} scheme` : "a malformed authorization header";
    throw new ConnectError(`missing ${what} (${got}): send "authorization: Bearer <token>"`, Code.Unauthenticated);
  }
  return match[1]!.trim();
}
