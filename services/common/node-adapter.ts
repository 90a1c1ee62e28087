// Serves Connect routes on Node's http/http2 servers, like connectNodeAdapter, but reports failed responses through
// our logger: a caller that disconnects in the middle of a stream is routine for a streaming service, not an error
// worth printing to stderr (connectNodeAdapter console.error()s it). It can also count the bytes of streaming
// responses as they are written, for the metrics. And it smooths three rough edges of connect-es for callers that
// send something wrong: a request it cannot decode or that is too large is answered in words the caller can act on
// (clarifyRequestError), the unread rest of a refused request is drained so the client sees the answer, and
// grpc-message is percent-encoded the way every gRPC client decodes it.
import {
  Code,
  ConnectError,
  createConnectRouter,
  createContextKey,
  createContextValues,
  type ConnectRouter,
  type ConnectRouterOptions,
  type Interceptor,
} from "@connectrpc/connect";
import { createAsyncIterable, encodeEnvelope, type UniversalServerResponse } from "@connectrpc/connect/protocol";
import { codeToHttpStatus, errorFromJsonBytes, errorToJsonBytes } from "@connectrpc/connect/protocol-connect";
import { findTrailerError, setTrailerStatus } from "@connectrpc/connect/protocol-grpc";
import { trailerFlag, trailerParse, trailerSerialize } from "@connectrpc/connect/protocol-grpc-web";
import { universalRequestFromNodeRequest, universalResponseToNodeResponse } from "@connectrpc/connect-node";
import type * as http from "node:http";
import type * as http2 from "node:http2";
import { constants as http2constants } from "node:http2";
import { clarifyRequestError } from "./errors.js";
import type { Logger } from "./logger.js";
import type { RequestHandler } from "./serve.js";

export interface AdapterOptions extends ConnectRouterOptions {
  routes: (router: ConnectRouter) => void;
  logger: Logger;
  /** For each server-streaming RPC: a function told the size of every chunk of the response body written. */
  streamBytes?: (service: string, method: string) => (bytes: number) => void;
  /** The settings readMaxBytes comes from, named in the error a message over it gets (default CC_MAX_PROMPT_BYTES). */
  readMaxSettings?: string;
}

type Body = AsyncIterable<Uint8Array>;

/** `body`, telling `count` each chunk's size as the writer takes it; next/throw/return pass through unchanged. */
function counting(body: Body, count: (bytes: number) => void): Body {
  return {
    [Symbol.asyncIterator]() {
      const it = body[Symbol.asyncIterator]();
      const seen = (r: IteratorResult<Uint8Array>) => {
        if (r.done !== true) count(r.value.byteLength);
        return r;
      };
      const wrapped: AsyncIterator<Uint8Array> = { next: () => it.next().then(seen) };
      if (it.throw) wrapped.throw = (e?: unknown) => it.throw!(e).then(seen);
      if (it.return) wrapped.return = (v?: unknown) => it.return!(v).then(seen);
      return wrapped;
    },
  };
}

/** Unread request bytes discarded after a complete response before the stream is reset instead. */
const DRAIN_MAX_BYTES = 64 * 1024 * 1024;

/**
 * A response can be complete before its request was read to the end: a message over readMaxBytes is refused on its
 * envelope's declared length, before its bytes arrive. On HTTP/2 the stream would then stay half open until the
 * idle timeout, the client blocked on a flow-control window no one opens and never reading the answer it was sent.
 * So once the response is complete, the rest of the request is read and discarded (up to DRAIN_MAX_BYTES; past that,
 * RST_STREAM(NO_ERROR), RFC 9113 §8.1, asks the client to stop). The compatibility layer sends trailers (every gRPC
 * and Connect response here has them) on "wantTrailers"; this listener runs after that one, on the next turn.
 * HTTP/1.1 needs nothing: Node reads and discards an unread body after the response.
 */
function drainUnreadRequestAfterResponse(req: http.IncomingMessage | http2.Http2ServerRequest): void {
  if (!("stream" in req)) return;
  const stream = req.stream;
  stream.once("wantTrailers", () =>
    setImmediate(() => {
      if (stream.readableEnded || stream.closed || stream.destroyed) return;
      let drained = 0;
      const drain = () => {
        for (let chunk: Buffer | null; (chunk = stream.read() as Buffer | null) !== null; ) drained += chunk.length;
        if (drained > DRAIN_MAX_BYTES && !stream.closed) stream.close(http2constants.NGHTTP2_NO_ERROR);
      };
      stream.on("readable", drain);
      drain();
    }),
  );
}

/** Set when a call gets past reading its request; a unary call that fails without it failed on its request. */
const REQUEST_READ = createContextKey(false, { description: "the request message was read and parsed" });

/**
 * The innermost interceptor. A unary call reaches it only once its request was read and parsed; a streaming call's
 * request messages are read inside the interceptors, so errors from reading them are restated here.
 */
const requestReading = (readMaxSettings: string | undefined): Interceptor => (next) => async (req) => {
  req.contextValues.set(REQUEST_READ, true);
  if (!req.stream) return next(req);
  const input = req.message;
  const inputType = req.method.input.typeName;
  const restated = (async function* () {
    try {
      yield* input;
    } catch (err) {
      throw err instanceof ConnectError ? clarifyRequestError(err, inputType, readMaxSettings) : err;
    }
  })();
  return next({ ...req, message: restated });
};

/**
 * grpc-message percent-encoded as the gRPC spec says: only "%" and bytes outside printable ASCII (and spaces at either
 * end, which HTTP would trim). connect-es uses encodeURIComponent, which grpc-js undoes with decodeURI, leaving its
 * users with "prompt%3A is empty%3B …".
 */
function grpcPercentEncode(text: string): string {
  const bytes = Buffer.from(text, "utf8");
  let out = "";
  bytes.forEach((byte, i) => {
    const plain = byte > 0x20 ? byte <= 0x7e && byte !== 0x25 : byte === 0x20 && i > 0 && i < bytes.length - 1;
    out += plain ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  });
  return out;
}

/**
 * A gRPC response's body, with its trailers fixed once the body is done (connect-es sets them as the body ends,
 * before the adapter writes them): a unary call that failed on its request gets the error restated
 * (clarifyRequestError), and grpc-message is re-encoded for every client (grpcPercentEncode).
 */
function fixingGrpcTrailer(
  res: UniversalServerResponse,
  trailer: Headers,
  failedOnRequest: () => boolean,
  restate: (err: ConnectError) => ConnectError,
): UniversalServerResponse {
  const body = res.body;
  const fix = () => {
    const err = failedOnRequest() ? findTrailerError(trailer) : undefined;
    if (err) setTrailerStatus(trailer, restate(err));
    const message = trailer.get("grpc-message");
    if (message === null) return;
    let text: string;
    try {
      text = decodeURIComponent(message);
    } catch {
      return; // not encoded by connect-es: leave it as it is
    }
    trailer.set("grpc-message", grpcPercentEncode(text));
  };
  if (!body) {
    fix();
    return res;
  }
  return { ...res, body: whenDone(body, fix) };
}

/** `body`, calling `done` once it has ended, before the writer goes on to the trailers; otherwise unchanged. */
function whenDone(body: Body, done: () => void): Body {
  return {
    [Symbol.asyncIterator]() {
      const it = body[Symbol.asyncIterator]();
      const seen = (r: IteratorResult<Uint8Array>) => {
        if (r.done === true) done();
        return r;
      };
      const wrapped: AsyncIterator<Uint8Array> = { next: () => it.next().then(seen) };
      if (it.throw) wrapped.throw = (e?: unknown) => it.throw!(e);
      if (it.return) wrapped.return = (v?: unknown) => it.return!(v);
      return wrapped;
    },
  };
}

async function readAll(body: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of body) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/**
 * A unary call that failed before reaching the interceptors, i.e. on its request, in the protocols that do not
 * carry the error in trailers: the error is restated (clarifyRequestError) where the protocol put it. Connect: a JSON
 * body and an HTTP status. gRPC-web: a trailer envelope, the whole body.
 */
async function restateUnaryRequestError(res: UniversalServerResponse, restate: (err: ConnectError) => ConnectError): Promise<UniversalServerResponse> {
  const contentType = res.header?.get("content-type") ?? "";
  const body = res.body;
  if (!body) return res;
  if (contentType.startsWith("application/json") && res.status !== 200) {
    const bytes = await readAll(body);
    const err = errorFromJsonBytes(bytes, undefined, new ConnectError("", Code.Unknown));
    const restated = restate(err);
    if (restated === err) return { ...res, body: createAsyncIterable([bytes]) };
    const json = errorToJsonBytes(restated, undefined);
    const header = new Headers(res.header);
    header.set("content-length", String(json.byteLength));
    return { ...res, status: codeToHttpStatus(restated.code), header, body: createAsyncIterable([json]) };
  }
  if (contentType.startsWith("application/grpc-web")) {
    const bytes = await readAll(body);
    const isTrailer = bytes.length >= 5 && (bytes[0]! & trailerFlag) === trailerFlag && 5 + Buffer.from(bytes).readUInt32BE(1) === bytes.length;
    const trailer = isTrailer ? trailerParse(bytes.subarray(5)) : undefined;
    const err = trailer ? findTrailerError(trailer) : undefined;
    if (!trailer || !err) return { ...res, body: createAsyncIterable([bytes]) };
    setTrailerStatus(trailer, restate(err));
    return { ...res, body: createAsyncIterable([encodeEnvelope(trailerFlag, trailerSerialize(trailer))]) };
  }
  return res;
}

export function createConnectHandler(options: AdapterOptions): RequestHandler {
  const { routes, logger, streamBytes, readMaxSettings, ...routerOptions } = options;
  const router = createConnectRouter({ ...routerOptions, interceptors: [...(routerOptions.interceptors ?? []), requestReading(readMaxSettings)] });
  routes(router);
  const paths = new Map(router.handlers.map((h) => [h.requestPath, h]));
  return (req, res) => {
    const handler = paths.get(req.url?.split("?", 2)[0] ?? "");
    const nodeReq = req as http.IncomingMessage | http2.Http2ServerRequest;
    const nodeRes = res as http.ServerResponse | http2.Http2ServerResponse;
    if (!handler) {
      nodeRes.statusCode = 404;
      nodeRes.end();
      return;
    }
    drainUnreadRequestAfterResponse(nodeReq);
    const values = createContextValues();
    handler(universalRequestFromNodeRequest(nodeReq, nodeRes, undefined, values))
      .then(async (uRes) => {
        // Unary calls read their request before the interceptors; one that never reached them failed on it.
        const failedOnRequest = () => handler.method.methodKind === "unary" && !values.get(REQUEST_READ);
        const restate = (err: ConnectError) => clarifyRequestError(err, handler.method.input.typeName, readMaxSettings);
        if (uRes.trailer) uRes = fixingGrpcTrailer(uRes, uRes.trailer, failedOnRequest, restate);
        else if (failedOnRequest()) uRes = await restateUnaryRequestError(uRes, restate);
        if (streamBytes && handler.method.methodKind !== "unary" && uRes.body && Symbol.asyncIterator in uRes.body) {
          uRes = { ...uRes, body: counting(uRes.body, streamBytes(handler.service.typeName, handler.method.name)) };
        }
        return universalResponseToNodeResponse(uRes, nodeRes);
      })
      .catch((reason: unknown) => {
        const err = ConnectError.from(reason);
        const callerGone = err.code === Code.Aborted || err.code === Code.Canceled || nodeRes.destroyed || req.destroyed;
        const fields = { method: handler.method.name, service: handler.service.typeName, err: err.message };
        if (callerGone) logger.debug(fields, "caller went away during the response");
        else logger.warn(fields, "response failed");
      });
  };
}
