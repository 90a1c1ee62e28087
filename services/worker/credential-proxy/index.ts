// The credential proxy: claude inside a task's sandbox talks to the model API through it. claude gets
// ANTHROPIC_BASE_URL pointing here and a placeholder key, a random token of its task; the proxy checks the token,
// replaces it with the worker's real credential (credential.ts) and forwards the request to the real API, then
// streams the answer back as it arrives (SSE included: bytes are piped, never buffered or parsed). The real
// credential never enters a sandbox.
//
// It listens on 127.0.0.1 (for tasks that share the worker's network) and on one unix socket per task (bridged into
// a task's own network namespace). A token only works for its own task, and only while the task runs.
import { randomBytes } from "node:crypto";
import http from "node:http";
import https from "node:https";
import net from "node:net";
import type { AddressInfo } from "node:net";
import { rmSync } from "node:fs";
import type { Logger } from "../../common/logger.js";
import { customHeaders, type Credential } from "./credential.js";

export { resolveCredential, customHeaders, OAUTH_BETA, type Credential } from "./credential.js";

/** Headers that belong to one hop, or that the proxy sets itself. */
const HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade", "host"]);
/** What claude sends as its credential; the proxy takes these off. */
const CLIENT_CREDENTIAL = new Set(["x-api-key", "authorization"]);
/** Connections one task may hold open through its socket. */
const MAX_CONNECTIONS_PER_TASK = 64;

export interface CredentialProxyOptions {
  /** The real API, e.g. https://api.anthropic.com (the worker's ANTHROPIC_BASE_URL). */
  upstream: string;
  credential: Credential;
  /** Raw ANTHROPIC_CUSTOM_HEADERS of the worker, added to every request. */
  customHeaders?: string;
  logger: Logger;
}

interface Grant {
  tag: string;
  token: string;
  socket?: { path: string; server: net.Server };
}

export class CredentialProxy {
  private readonly server: http.Server;
  private tcp: net.Server | undefined;
  private readonly upstream: URL;
  private readonly extraHeaders: Record<string, string>;
  private readonly byToken = new Map<string, Grant>();
  private readonly byTag = new Map<string, Grant>();
  /** Which grant a connection came in through (its task's socket); absent for loopback TCP. */
  private readonly socketGrant = new WeakMap<net.Socket, Grant>();
  private readonly agent: http.Agent;
  private port = 0;

  constructor(private readonly options: CredentialProxyOptions) {
    this.upstream = new URL(options.upstream.endsWith("/") ? options.upstream : `${options.upstream}/`);
    this.extraHeaders = customHeaders(options.customHeaders);
    this.agent = new (this.upstream.protocol === "https:" ? https.Agent : http.Agent)({ keepAlive: true });
    this.server = http.createServer((req, res) => this.forward(req, res));
    // Model turns stream for minutes: no timeout cuts a request that is still being answered.
    this.server.requestTimeout = 0;
    this.server.headersTimeout = 60_000;
  }

  /** Listens on 127.0.0.1 for tasks that share the worker's network. */
  async listen(): Promise<void> {
    const tcp = net.createServer((socket) => this.server.emit("connection", socket));
    await new Promise<void>((resolve, reject) => {
      tcp.once("error", reject);
      tcp.listen(0, "127.0.0.1", () => resolve());
    });
    this.tcp = tcp;
    this.port = (tcp.address() as AddressInfo).port;
  }

  /** The base URL for claude in the worker's network. */
  get loopbackUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** A new placeholder key for `tag`, valid until revoked. */
  grant(tag: string): string {
    this.revoke(tag);
    // Shaped like an Anthropic key, so nothing in claude treats it differently; worthless outside this worker.
    const token = `sk-ant-cc-proxy-${randomBytes(24).toString("base64url")}`;
    const grant: Grant = { tag, token };
    this.byToken.set(token, grant);
    this.byTag.set(tag, grant);
    return token;
  }

  /**
   * Also listens on a unix socket that only `tag`'s token works through. The socket exists when this returns (a
   * unix socket is bound synchronously), ready to be bound into the task's sandbox.
   */
  listenForTask(tag: string, path: string): void {
    const grant = this.byTag.get(tag);
    if (!grant) throw new Error(`credential proxy: no grant for ${tag}`);
    const server = net.createServer((socket) => {
      this.socketGrant.set(socket, grant);
      this.server.emit("connection", socket);
    });
    server.maxConnections = MAX_CONNECTIONS_PER_TASK;
    server.on("error", (err) => this.options.logger.error({ tag, err }, "credential proxy: the task's socket failed"));
    server.listen(path);
    grant.socket = { path, server };
  }

  /** Ends `tag`'s token and socket. */
  revoke(tag: string): void {
    const grant = this.byTag.get(tag);
    if (!grant) return;
    this.byTag.delete(tag);
    this.byToken.delete(grant.token);
    if (grant.socket) {
      grant.socket.server.close();
      rmSync(grant.socket.path, { force: true });
    }
  }

  async close(): Promise<void> {
    for (const tag of [...this.byTag.keys()]) this.revoke(tag);
    this.tcp?.close();
    this.server.closeAllConnections();
    this.agent.destroy();
  }

  private forward(req: http.IncomingMessage, res: http.ServerResponse): void {
    const presented = clientToken(req);
    const grant = presented ? this.byToken.get(presented) : undefined;
    const path = req.url ?? "/";
    if (!path.startsWith("/")) {
      // An absolute URL asks for another host: this proxy only reaches the model API.
      req.resume();
      return apiError(res, 400, "invalid_request_error", "credential proxy: only paths of the model API are forwarded");
    }
    const viaSocket = this.socketGrant.get(req.socket);
    if (!grant || (viaSocket && viaSocket !== grant)) {
      req.resume();
      return apiError(res, 401, "authentication_error", "credential proxy: this key is not a running task's key on this worker");
    }
    const headers: http.OutgoingHttpHeaders = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (value === undefined || HOP_BY_HOP.has(name) || CLIENT_CREDENTIAL.has(name)) continue;
      headers[name] = value;
    }
    Object.assign(headers, this.extraHeaders);
    const credential = this.options.credential.headers();
    if (credential) {
      for (const [name, value] of Object.entries(credential)) {
        // The OAuth beta joins whatever betas claude asked for.
        headers[name] = name === "anthropic-beta" && headers[name] ? `${String(headers[name])},${value}` : value;
      }
    }
    headers["host"] = this.upstream.host;
    const target = new URL(`.${path.replace(/^\/+/, "/")}`, this.upstream);
    const transport = target.protocol === "https:" ? https : http;
    const upstream = transport.request(target, { method: req.method, headers, agent: this.agent }, (answer) => {
      const out: http.OutgoingHttpHeaders = {};
      for (const [name, value] of Object.entries(answer.headers)) if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = value;
      res.writeHead(answer.statusCode ?? 502, answer.statusMessage, out);
      // Each chunk goes on as it arrives: the SSE stream claude reads is the API's own.
      res.flushHeaders();
      answer.pipe(res);
      answer.once("error", () => res.destroy());
    });
    upstream.once("error", (err: NodeJS.ErrnoException) => {
      if (res.headersSent) return void res.destroy();
      this.options.logger.warn({ tag: grant.tag, upstream: this.upstream.origin, code: err.code }, "credential proxy: the model API cannot be reached");
      apiError(res, 502, "api_error", `credential proxy: cannot reach ${this.upstream.origin} (${err.code ?? err.message})`);
    });
    // A client that goes away ends the upstream request too.
    res.once("close", () => {
      if (!res.writableFinished) upstream.destroy();
    });
    req.pipe(upstream);
  }
}

function clientToken(req: http.IncomingMessage): string | undefined {
  const key = req.headers["x-api-key"];
  if (typeof key === "string" && key) return key;
  const auth = req.headers["authorization"];
  return typeof auth === "string" && auth.startsWith("Bearer ") ? auth.slice(7) : undefined;
}

/** An error in the API's own shape, so claude reports it as it would the API's. */
function apiError(res: http.ServerResponse, status: number, type: string, message: string): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify({ type: "error", error: { type, message } }));
}
