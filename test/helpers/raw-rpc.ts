// Hand-built calls for tests that send what no generated client would: raw protobuf bytes, broken envelopes, wrong
// content types, oversized headers. Each answer is reduced to what a client would report (a Connect code and a
// message, plus the HTTP status), so a table of hostile inputs asserts raw and typed calls the same way.
import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { Code } from "@connectrpc/connect";
import { codeFromHttpStatus as connectCodeFromHttp, codeFromString } from "@connectrpc/connect/protocol-connect";
import { codeFromHttpStatus as grpcCodeFromHttp } from "@connectrpc/connect/protocol-grpc";

export interface Answer {
  /** The error code; undefined when the call succeeded. */
  code: Code | undefined;
  message: string;
  /** The HTTP status, for raw calls. */
  httpStatus?: number;
}

/** The answer's code by name, for readable test failures: "INVALID_ARGUMENT", or "OK". */
export function codeName(code: Code | undefined): string {
  if (code === undefined) return "OK";
  return Code[code].replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase();
}

const TIMEOUT_MS = 15_000;

/** A gRPC / Connect-streaming envelope: flags, big-endian length, payload. `length` overrides the declared length. */
export function envelope(payload: Uint8Array, options: { flags?: number; length?: number } = {}): Uint8Array {
  const out = new Uint8Array(5 + payload.length);
  const view = new DataView(out.buffer);
  view.setUint8(0, options.flags ?? 0);
  view.setUint32(1, options.length ?? payload.length);
  out.set(payload, 5);
  return out;
}

/** Protobuf bytes built field by field, for values a generated encoder refuses to write. */
export function protoFields(build: (w: BinaryWriter) => void): Uint8Array {
  const w = new BinaryWriter();
  build(w);
  return w.finish();
}

/** A length-delimited field holding arbitrary bytes (e.g. invalid UTF-8 in a string field). */
export function bytesField(fieldNo: number, bytes: Uint8Array): Uint8Array {
  return protoFields((w) => w.tag(fieldNo, WireType.LengthDelimited).bytes(bytes));
}

/** A varint field holding -1 as int64 (ten bytes): what a client with a signed type sends for "negative". */
export function minusOneVarint(fieldNo: number): Uint8Array {
  return protoFields((w) => w.tag(fieldNo, WireType.Varint).int64(-1));
}

export interface RawOptions {
  headers?: Record<string, string>;
}

interface Http1Response {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/**
 * POSTs `body` over HTTP/1.1 and reads the whole response. A server that answers early (431 for oversized headers)
 * may reset the connection right after: with `keepEarlyAnswer` the answer that already arrived stands.
 */
function post(url: URL, headers: Record<string, string>, body: Uint8Array | string, keepEarlyAnswer = false): Promise<Http1Response> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: "POST", headers, timeout: TIMEOUT_MS }, (res) => {
      const chunks: Buffer[] = [];
      const answer = () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) });
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("error", keepEarlyAnswer ? answer : reject);
      res.on("end", answer);
    });
    req.on("timeout", () => req.destroy(new Error(`no answer from ${url} in ${TIMEOUT_MS} ms`)));
    req.on("error", reject);
    req.end(body);
  });
}

/** The first envelope (5-byte prefix: flags, length) of `all` whose flags have `flag` set. */
function envelopeWithFlag(all: Buffer, flag: number): Buffer | undefined {
  for (let at = 0; at + 5 <= all.length; ) {
    const flags = all[at]!;
    const len = all.readUInt32BE(at + 1);
    const payload = all.subarray(at + 5, at + 5 + len);
    at += 5 + len;
    if (flags & flag) return payload;
  }
  return undefined;
}

/** A unary call in the Connect protocol over HTTP/1.1: `POST /pkg.Service/Method` with the body as given. */
export async function connectUnary(baseUrl: string, path: string, body: Uint8Array | string, options: RawOptions & { contentType?: string } = {}): Promise<Answer> {
  const headers = { "content-type": options.contentType ?? "application/proto", "connect-protocol-version": "1", ...options.headers };
  const res = await post(new URL(path, baseUrl), headers, body, true);
  return connectUnaryAnswer(res.status, String(res.headers["content-type"] ?? ""), res.body);
}

function connectUnaryAnswer(status: number, contentType: string, body: Buffer): Answer {
  if (status === 200) return { code: undefined, message: "", httpStatus: status };
  if (contentType.startsWith("application/json")) {
    try {
      const json = JSON.parse(body.toString("utf8")) as { code?: string; message?: string };
      return { code: codeFromString(json.code ?? "") ?? connectCodeFromHttp(status), message: json.message ?? "", httpStatus: status };
    } catch {
      // Not a Connect error body: fall through to the HTTP status.
    }
  }
  return { code: connectCodeFromHttp(status), message: body.toString("utf8"), httpStatus: status };
}

/**
 * An HTTP/1.1 request written byte for byte on a plain socket, for requests Node's client refuses to send or gives up
 * on (oversized headers): whatever the server answered before closing is kept, even if it then reset the connection.
 */
export function http1Raw(baseUrl: string, request: string): Promise<Answer> {
  const url = new URL(baseUrl);
  return new Promise<Answer>((resolve, reject) => {
    const socket = net.connect(Number(url.port), url.hostname, () => socket.write(request));
    let received = "";
    const timer = setTimeout(() => socket.destroy(new Error(`no answer from ${baseUrl} in ${TIMEOUT_MS} ms`)), TIMEOUT_MS);
    const settle = (err?: Error) => {
      clearTimeout(timer);
      const m = /^HTTP\/1\.1 (\d{3}) ([^\r\n]*)/.exec(received);
      if (!m) return reject(err ?? new Error(`no HTTP status line in ${JSON.stringify(received.slice(0, 200))}`));
      const status = Number(m[1]);
      resolve({ code: status === 200 ? undefined : connectCodeFromHttp(status), message: m[2]!, httpStatus: status });
    };
    socket.on("data", (d: Buffer) => (received += d.toString("latin1")));
    socket.on("error", settle);
    socket.on("close", () => settle());
  });
}

/** A server-streaming call in the Connect protocol over HTTP/1.1; `body` is the enveloped request. */
export async function connectStream(baseUrl: string, path: string, body: Uint8Array, options: RawOptions = {}): Promise<Answer> {
  const headers = { "content-type": "application/connect+proto", "connect-protocol-version": "1", ...options.headers };
  const { status, body: all } = await post(new URL(path, baseUrl), headers, body);
  if (status !== 200) return { code: connectCodeFromHttp(status), message: all.toString("utf8"), httpStatus: status };
  // The end-stream message (flag 0b10) carries the error if there is one.
  const endStream = envelopeWithFlag(all, 0b10);
  if (!endStream) return { code: Code.Unknown, message: "stream ended without an end-stream message", httpStatus: status };
  const end = JSON.parse(endStream.toString("utf8")) as { error?: { code?: string; message?: string } };
  if (!end.error) return { code: undefined, message: "", httpStatus: status };
  return { code: codeFromString(end.error.code ?? "") ?? Code.Unknown, message: end.error.message ?? "", httpStatus: status };
}

/** A gRPC-web call over HTTP/1.1 (as browsers make them); the status comes from the trailer envelope (flag 0x80). */
export async function grpcWebCall(baseUrl: string, path: string, body: Uint8Array, options: RawOptions = {}): Promise<Answer> {
  const headers = { "content-type": "application/grpc-web+proto", "x-grpc-web": "1", ...options.headers };
  const { status, headers: resHeaders, body: all } = await post(new URL(path, baseUrl), headers, body);
  const fromHeaders = resHeaders["grpc-status"];
  if (fromHeaders !== undefined) {
    const code = Number(fromHeaders);
    return { code: code === 0 ? undefined : (code as Code), message: decodeURIComponent(String(resHeaders["grpc-message"] ?? "")), httpStatus: status };
  }
  const trailer = envelopeWithFlag(all, 0x80);
  if (!trailer) return { code: grpcCodeFromHttp(status), message: "no trailers", httpStatus: status };
  const fields = new Map(
    trailer
      .toString("utf8")
      .split("\r\n")
      .filter(Boolean)
      .map((line) => [line.slice(0, line.indexOf(":")).trim().toLowerCase(), line.slice(line.indexOf(":") + 1).trim()] as const),
  );
  const code = Number(fields.get("grpc-status") ?? 2);
  return { code: code === 0 ? undefined : (code as Code), message: decodeURIComponent(fields.get("grpc-message") ?? ""), httpStatus: status };
}

/** HTTP/2 error codes by number (RFC 9113 §7). */
const H2_ERRORS = [
  "NO_ERROR", "PROTOCOL_ERROR", "INTERNAL_ERROR", "FLOW_CONTROL_ERROR", "SETTINGS_TIMEOUT", "STREAM_CLOSED", "FRAME_SIZE_ERROR",
  "REFUSED_STREAM", "CANCEL", "COMPRESSION_ERROR", "CONNECT_ERROR", "ENHANCE_YOUR_CALM", "INADEQUATE_SECURITY", "HTTP_1_1_REQUIRED",
];
const resetCodeName = (code: number) => H2_ERRORS[code] ?? String(code);

/** How gRPC clients map a stream reset without a status (connect-node's connectErrorFromH2ResetCode). */
function codeFromResetCode(code: number): Code {
  const c = http2.constants;
  if (code === c.NGHTTP2_REFUSED_STREAM) return Code.Unavailable;
  if (code === c.NGHTTP2_CANCEL) return Code.Canceled;
  if (code === c.NGHTTP2_ENHANCE_YOUR_CALM) return Code.ResourceExhausted;
  if (code === c.NGHTTP2_INADEQUATE_SECURITY || code === c.NGHTTP2_HTTP_1_1_REQUIRED) return Code.PermissionDenied;
  return Code.Internal;
}

/**
 * A gRPC call over h2c with the request body as given (normally one envelope). The code comes from grpc-status in
 * the trailers (or the headers, for trailers-only answers), else from the HTTP status as gRPC clients map it.
 */
export function grpcCall(baseUrl: string, path: string, body: Uint8Array, options: RawOptions = {}): Promise<Answer> {
  return new Promise<Answer>((resolve, reject) => {
    const session = http2.connect(baseUrl);
    const done = (err: Error | undefined, answer?: Answer) => {
      clearTimeout(timer);
      session.close();
      if (err) reject(err);
      else resolve(answer!);
    };
    const timer = setTimeout(() => {
      session.destroy();
      reject(new Error(`no answer from ${baseUrl}${path} in ${TIMEOUT_MS} ms`));
    }, TIMEOUT_MS);
    session.on("error", (err) => done(err));
    const stream = session.request({
      ":method": "POST",
      ":path": path,
      "content-type": "application/grpc",
      te: "trailers",
      ...options.headers,
    });
    let headers: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders = {};
    stream.on("response", (h) => (headers = h));
    stream.on("trailers", (t) => (trailers = t));
    stream.on("data", () => {});
    // A reset stream also emits "error"; the answer is read from the reset code on "close".
    stream.on("error", () => {});
    stream.on("close", () => {
      const status = Number(headers[":status"] ?? 0);
      const grpcStatus = trailers["grpc-status"] ?? headers["grpc-status"];
      const grpcMessage = String(trailers["grpc-message"] ?? headers["grpc-message"] ?? "");
      if (grpcStatus === undefined) {
        if (status !== 0) return done(undefined, { code: grpcCodeFromHttp(status), message: "", httpStatus: status });
        if (stream.rstCode) return done(undefined, { code: codeFromResetCode(stream.rstCode), message: `HTTP/2 stream reset with ${resetCodeName(stream.rstCode)}` });
        return done(new Error("stream closed without an answer"));
      }
      const code = Number(grpcStatus);
      done(undefined, { code: code === 0 ? undefined : (code as Code), message: decodeURIComponent(grpcMessage), httpStatus: status });
    });
    stream.end(body);
  });
}
