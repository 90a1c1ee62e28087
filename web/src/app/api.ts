// The router's RPCs from the page: Connect over fetch (@connectrpc/connect-web) with the same generated code as
// the services and the CLI, in the binary format (the router forwards worker events as the bytes they came in).
// Every call carries the token as a bearer header.
import { Code, ConnectError, createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { RouterService } from "../../../gen/claudecluster/v1/router_pb.js";
import { session } from "./session.js";

export type RouterClient = Client<typeof RouterService>;

const bearer: Interceptor = (next) => (req) => {
  const token = session.token;
  if (token) req.header.set("authorization", `Bearer ${token}`);
  return next(req);
};

/** A client for the router that served this page, with `token` instead of the session's when given. */
export function routerClient(token?: string): RouterClient {
  const interceptors: Interceptor[] =
    token === undefined
      ? [bearer]
      : [
          (next) => (req) => {
            if (token) req.header.set("authorization", `Bearer ${token}`);
            return next(req);
          },
        ];
  return createClient(RouterService, createConnectTransport({ baseUrl: location.origin, useBinaryFormat: true, interceptors }));
}

export const api = routerClient();

/** Codes after which retrying the same call cannot help. */
const FINAL = new Set([Code.InvalidArgument, Code.NotFound, Code.AlreadyExists, Code.PermissionDenied, Code.Unauthenticated, Code.FailedPrecondition, Code.OutOfRange, Code.Unimplemented]);

export function isFinal(err: ConnectError): boolean {
  return FINAL.has(err.code);
}

/**
 * The router is not answering at all (down, restarting, the network gone), as opposed to answering with an error:
 * fetch itself failed, or a proxy in front answered with an HTTP error instead of the router.
 */
export function isUnreachable(err: ConnectError): boolean {
  if (err.code === Code.Unknown) return /fetch|network|load failed|terminated|aborted/i.test(err.rawMessage);
  return err.code === Code.Unavailable && /^HTTP 50\d/.test(err.rawMessage);
}

/** What to tell a person about a failed call: the router's own words (written to be acted on), or ours. */
export function describeError(reason: unknown): string {
  const err = ConnectError.from(reason);
  if (isUnreachable(err)) return "The router is not answering. Check that it is running and reachable.";
  if (err.code === Code.Unauthenticated) return "The router refused the token. Sign in again with a token from the router's CC_TOKEN.";
  return err.rawMessage || Code[err.code];
}
