// The scripted model server: an HTTP server that speaks enough of the
// Anthropic Messages API for the real Claude Code CLI to run against it,
// plays scripted turns and records every request.

import { createHash } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { setTimeout as delay } from "node:timers/promises";
import { asMessagesRequest, classify, turnContext, type MessagesRequest, type RequestKind } from "./request.js";
import { DEFAULT_SCRIPT, parseScript, renderBlocks, selectTurn, type Block, type Script, type Turn } from "./script.js";
import { estimateTokens, sideAnswer } from "./side.js";
import { errorJson, formatSse, messageEvents, messageJson, toWireBlocks, type WireMessage } from "./sse.js";

export interface ScriptedModelOptions {
  /** Defaults to DEFAULT_SCRIPT, which echoes the prompt. */
  script?: Script;
  /** 0 (default) picks a free port. */
  port?: number;
  host?: string;
  /** Recorded requests kept (oldest dropped first). */
  maxRecorded?: number;
  /** Larger request bodies get 413. */
  maxBodyBytes?: number;
  /**
   * The credential the API expects, as the real one does: requests without `x-api-key: <it>` or
   * `authorization: Bearer <it>` get 401 authentication_error. Unset: any credential, or none, is accepted.
   */
  requireKey?: string;
}

export interface RecordedRequest {
  method: string;
  /** Path without the query string (claude appends `?beta=true`). */
  path: string;
  /** Path with the query string, as received. */
  url: string;
  /** Lower-cased names; credentials replaced by "[redacted]". */
  headers: Record<string, string>;
  /** Parsed JSON, the raw text if it was not JSON, undefined if empty. */
  body: unknown;
  kind: RequestKind;
  /** For main requests: which scripted turn answered. */
  turn?: { conversation: number; index: number };
  /** Date.now() when the request body had been read. */
  at: number;
  /** With `requireKey`: whether the request carried it. */
  credential?: "accepted" | "refused";
}

export interface ScriptedModel {
  url: string;
  port: number;
  requests(): RecordedRequest[];
  mainRequests(): RecordedRequest[];
  clearRequests(): void;
  /** Replaces the script for requests arriving from now on. */
  setScript(script: Script): void;
  /** Stops listening and destroys open connections, including streams mid-way. */
  close(): Promise<void>;
}

const DEFAULT_MAX_RECORDED = 1000;
const DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024;
const DEFAULT_INPUT_TOKENS = 100;
/** setTimeout fires at once beyond this, so longer "never answer" delays are clamped. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** Distinct failing requests remembered for TurnError.times. */
const MAX_TRACKED_ATTEMPTS = 10_000;
const REDACTED_HEADERS = new Set(["x-api-key", "authorization", "proxy-authorization", "cookie"]);

export async function startScriptedModel(opts: ScriptedModelOptions = {}): Promise<ScriptedModel> {
  const maxRecorded = opts.maxRecorded ?? DEFAULT_MAX_RECORDED;
  const maxBodyBytes = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  let script = parseScript(opts.script ?? DEFAULT_SCRIPT);
  const recorded: RecordedRequest[] = [];
  // Aborted by close() so pending delays end instead of holding the process open.
  const closing = new AbortController();
  let seq = 0;
  const countAttempt = attemptCounter(MAX_TRACKED_ATTEMPTS);

  const record = (r: RecordedRequest): void => {
    recorded.push(r);
    if (recorded.length > maxRecorded) recorded.splice(0, recorded.length - maxRecorded);
  };

  const server = http.createServer((req, res) => {
    const ids = { request: `req_scripted_${++seq}`, message: `msg_scripted_${seq}` };
    res.setHeader("request-id", ids.request);
    const signal = AbortSignal.any([closing.signal, abortedOnClose(res)]);
    handle({ req, res, ids, signal, script, maxBodyBytes, record, countAttempt, requireKey: opts.requireKey }).catch((err: unknown) => {
      if (!res.headersSent) sendJson(res, 500, errorJson("api_error", String(err), ids.request));
      else res.destroy();
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 0, opts.host ?? "127.0.0.1", () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;

  let closed: Promise<void> | undefined;
  return {
    url: `http://${host}:${address.port}`,
    port: address.port,
    requests: () => [...recorded],
    mainRequests: () => recorded.filter((r) => r.kind === "main"),
    clearRequests: () => void recorded.splice(0),
    setScript: (s) => void (script = parseScript(s)),
    close: () =>
      (closed ??= new Promise<void>((resolve) => {
        closing.abort();
        server.close(() => resolve());
        server.closeAllConnections();
      })),
  };
}

interface Exchange {
  req: http.IncomingMessage;
  res: http.ServerResponse;
  ids: { request: string; message: string };
  /** Aborts when the client goes away or the server closes. */
  signal: AbortSignal;
  script: Script;
  maxBodyBytes: number;
  record: (r: RecordedRequest) => void;
  /** Returns how often this key has been seen, including now. */
  countAttempt: (key: string) => number;
  requireKey: string | undefined;
}

async function handle(x: Exchange): Promise<void> {
  const { req, res, ids } = x;
  const url = req.url ?? "/";
  const path = url.split("?")[0] ?? "/";
  const method = req.method ?? "GET";
  const raw = await readBody(req, x.maxBodyBytes);
  const credential: RecordedRequest["credential"] = x.requireKey === undefined ? undefined : presentedKey(req) === x.requireKey ? "accepted" : "refused";
  const base = { method, path, url, headers: redactHeaders(req.headers), at: Date.now(), ...(credential ? { credential } : {}) };

  if (raw === undefined) {
    x.record({ ...base, body: undefined, kind: "side" });
    res.setHeader("connection", "close");
    res.once("finish", () => req.destroy()); // don't keep reading an oversized body
    return sendJson(res, 413, errorJson("request_too_large", `Request exceeds ${x.maxBodyBytes} bytes`, ids.request));
  }
  const body = parseBody(raw);
  if (credential === "refused" && path.startsWith("/v1/")) {
    x.record({ ...base, body, kind: "side" });
    return sendJson(res, 401, errorJson("authentication_error", "invalid x-api-key", ids.request));
  }

  if (method === "POST" && path === "/v1/messages") {
    const parsed = asMessagesRequest(body);
    if (typeof parsed === "string") {
      x.record({ ...base, body, kind: "side" });
      return sendJson(res, 400, errorJson("invalid_request_error", parsed, ids.request));
    }
    const kind = classify(parsed);
    if (kind === "side") {
      x.record({ ...base, body, kind });
      const side = sideAnswer(parsed);
      return answer(x, parsed, {
        turn: { content: side.content },
        toolIdPrefix: "toolu_side",
        attempt: () => 1,
        stopSequence: side.stopSequence,
      });
    }
    const ctx = turnContext(parsed);
    const selected = selectTurn(x.script, ctx);
    x.record({ ...base, body, kind, turn: { conversation: selected.conversationIndex, index: selected.turnIndex } });
    const turn = { ...selected.turn, content: renderBlocks(selected.turn.content, { prompt: ctx.lastPrompt, ...(ctx.toolResults ? { toolResults: ctx.toolResults } : {}) }) };
    return answer(x, parsed, {
      turn,
      toolIdPrefix: `toolu_scripted_c${selected.conversationIndex}_t${selected.turnIndex}`,
      attempt: () => x.countAttempt(attemptKey(req, parsed)),
    });
  }

  x.record({ ...base, body, kind: "side" });
  if (method === "POST" && path === "/v1/messages/count_tokens") {
    return sendJson(res, 200, { input_tokens: estimateTokens(body) });
  }
  // Claude probes reachability with HEAD /api/hello unless nonessential traffic is disabled.
  if ((method === "HEAD" || method === "GET") && path === "/api/hello") {
    return sendJson(res, 200, { ok: true });
  }
  return sendJson(res, 404, errorJson("not_found_error", `No route for ${method} ${path}`, ids.request));
}

/** How to play a turn for one request. */
interface Play {
  turn: Turn;
  /** Prefix of generated tool_use ids. */
  toolIdPrefix: string;
  /** Counts this attempt (lazily: only error turns with `times` need it). */
  attempt: () => number;
  stopSequence?: string | undefined;
}

/** Plays one turn: optional delay, then a scripted error, a stream or a JSON message. */
async function answer(x: Exchange, req: MessagesRequest, play: Play): Promise<void> {
  const { res, signal } = x;
  const { turn } = play;
  if (!(await sleep(turn.delayMs ?? 0, signal))) return;

  const error = turn.error;
  if (error && (error.times === undefined || play.attempt() <= error.times)) {
    if (error.retry !== undefined) res.setHeader("x-should-retry", String(error.retry));
    return sendJson(res, error.status, errorJson(error.type, error.message, x.ids.request));
  }

  const content = toWireBlocks(turn.content, play.toolIdPrefix);
  const msg: WireMessage = {
    id: x.ids.message,
    model: req.model ?? "claude-scripted",
    content,
    usage: turn.usage ?? { input_tokens: DEFAULT_INPUT_TOKENS, output_tokens: outputTokens(turn.content) },
    stopSequence: play.stopSequence,
  };
  if (req.stream !== true) return sendJson(res, 200, messageJson(msg));

  res.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache" });
  res.flushHeaders(); // let the client see the response start before any chunk delay
  const events = messageEvents(msg);
  for (const [i, event] of events.entries()) {
    if (i > 0 && !(await sleep(turn.chunkDelayMs ?? 0, signal))) return;
    res.write(formatSse(event));
  }
  res.end();
}

/** Reads the whole body, or returns undefined once it exceeds `max` bytes. */
function readBody(req: http.IncomingMessage, max: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    if (Number(req.headers["content-length"] ?? 0) > max) return resolve(undefined);
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > max) {
        req.off("data", onData);
        req.pause();
        return resolve(undefined);
      }
      chunks.push(chunk);
    };
    req.on("data", onData);
    req.once("end", () => resolve(Buffer.concat(chunks)));
    req.once("error", reject);
  });
}

function parseBody(raw: Buffer): unknown {
  if (raw.length === 0) return undefined;
  const text = raw.toString("utf8");
  try {
    return JSON.parse(text) as unknown; // JSON boundary: callers narrow it
  } catch {
    return text;
  }
}

/** The credential a request carries: its x-api-key, or its bearer token. */
function presentedKey(req: http.IncomingMessage): string | undefined {
  const key = req.headers["x-api-key"];
  if (typeof key === "string") return key;
  const auth = req.headers["authorization"];
  return typeof auth === "string" && auth.startsWith("Bearer ") ? auth.slice(7) : undefined;
}

function redactHeaders(headers: http.IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    out[name] = REDACTED_HEADERS.has(name) ? "[redacted]" : Array.isArray(value) ? value.join(", ") : value;
  }
  return out;
}

/**
 * Identifies "the same request again": claude's retries resend an identical
 * message history within one session (x-claude-code-session-id).
 */
function attemptKey(req: http.IncomingMessage, body: MessagesRequest): string {
  const session = String(req.headers["x-claude-code-session-id"] ?? "");
  return createHash("sha256").update(session).update("\0").update(JSON.stringify(body.messages)).digest("hex");
}

/** A bounded counter: the least recently seen key is forgotten first. */
function attemptCounter(max: number): (key: string) => number {
  const seen = new Map<string, number>();
  return (key) => {
    const n = (seen.get(key) ?? 0) + 1;
    seen.delete(key); // re-insert so Map order tracks recency
    seen.set(key, n);
    const oldest = seen.keys().next();
    if (seen.size > max && !oldest.done) seen.delete(oldest.value);
    return n;
  };
}

/** A nonzero, deterministic count so claude reports a cost. */
function outputTokens(content: Block[]): number {
  return Math.max(1, Math.ceil(JSON.stringify(content).length / 4));
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}

/** Resolves true after `ms`, or false as soon as `signal` aborts. */
async function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return false;
  if (ms <= 0) return true;
  try {
    await delay(Math.min(ms, MAX_TIMER_MS), undefined, { signal });
    return true;
  } catch {
    return false;
  }
}

function abortedOnClose(res: http.ServerResponse): AbortSignal {
  const ac = new AbortController();
  res.once("close", () => ac.abort());
  return ac.signal;
}
