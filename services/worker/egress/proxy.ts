// One task's egress proxy: an HTTP proxy (CONNECT for https and anything else tunnelled, absolute-form requests for
// plain http) on the task's own unix socket, bridged into its network namespace as HTTP(S)_PROXY. Its network has
// no other way out, so every connection a task makes beyond loopback comes through here, is held against the
// task's policy, and is refused and reported when the policy says no.
//
// A host name that passes the allowlist is resolved here, and the address it resolves to is the one connected to.
// Loopback, link-local (cloud metadata, 169.254.169.254) and unspecified addresses are refused unless the allowlist
// names that host exactly: a public name pointed at 127.0.0.1 must not open the worker's own ports to a task.
import dns from "node:dns/promises";
import http from "node:http";
import net from "node:net";
import { rmSync } from "node:fs";
import type { Duplex } from "node:stream";
import type { Logger } from "../../common/logger.js";
import { allowingRule, normalizeHost, refusal, type EgressPolicy } from "./policy.js";

export interface BlockedConnection {
  host: string;
  port: number;
  reason: string;
}

export interface EgressProxyOptions {
  policy: EgressPolicy;
  /** Called for every refused connection, before the client hears the refusal (so it is still connected). */
  onBlocked(blocked: BlockedConnection): void;
  logger: Logger;
  /** Name resolution; default the system's. */
  lookup?: (host: string) => Promise<{ address: string; family: number }[]>;
}

const MAX_CONNECTIONS = 256;
const CONNECT_TIMEOUT_MS = 30_000;
const HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"]);

export class EgressProxy {
  private readonly server: http.Server;
  private readonly listener: net.Server;
  private path = "";
  private readonly lookup: NonNullable<EgressProxyOptions["lookup"]>;

  constructor(private readonly options: EgressProxyOptions) {
    this.lookup = options.lookup ?? ((host) => dns.lookup(host, { all: true }));
    this.server = http.createServer((req, res) => void this.forward(req, res));
    this.server.on("connect", (req: http.IncomingMessage, socket: Duplex, head: Buffer) => void this.tunnel(req, socket, head));
    this.server.requestTimeout = 0;
    this.listener = net.createServer((socket) => this.server.emit("connection", socket));
    this.listener.maxConnections = MAX_CONNECTIONS;
  }

  /** Listens on a unix socket, which exists when this returns (unix sockets are bound synchronously). */
  listen(path: string): void {
    this.path = path;
    this.listener.on("error", (err) => this.options.logger.error({ err }, "egress: the task's proxy socket failed"));
    this.listener.listen(path);
  }

  close(): void {
    this.listener.close();
    this.server.closeAllConnections();
    if (this.path) rmSync(this.path, { force: true });
  }

  /** CONNECT host:port: a tunnel, once the policy and the address allow it. */
  private async tunnel(req: http.IncomingMessage, client: Duplex, head: Buffer): Promise<void> {
    client.on("error", () => client.destroy());
    const target = parseAuthority(req.url ?? "");
    if (!target) return void client.end("HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain\r\n\r\nCONNECT needs host:port\n");
    const address = await this.admit(target.host, target.port);
    if (typeof address !== "string") return void client.end(refusalResponse(address.reason));
    const upstream = net.connect({ host: address, port: target.port, timeout: CONNECT_TIMEOUT_MS });
    upstream.once("connect", () => {
      upstream.setTimeout(0);
      client.write("HTTP/1.1 200 Connection Established\r\n\r\n");
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    upstream.once("timeout", () => upstream.destroy(new Error("timed out")));
    upstream.once("error", (err: NodeJS.ErrnoException) => {
      if (client.writable) client.end(`HTTP/1.1 502 Bad Gateway\r\ncontent-type: text/plain\r\n\r\n${target.host}:${target.port}: ${err.code ?? err.message}\n`);
    });
    client.once("close", () => upstream.destroy());
  }

  /** GET http://host/path and the like: forwarded, once allowed. */
  private async forward(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    let url: URL;
    try {
      url = new URL(req.url ?? "");
    } catch {
      return plain(res, 400, "this is a proxy: ask for an absolute http:// URL, or CONNECT host:port");
    }
    if (url.protocol !== "http:") return plain(res, 400, `use CONNECT for ${url.protocol} URLs`);
    const port = url.port ? Number(url.port) : 80;
    const address = await this.admit(url.hostname, port);
    if (typeof address !== "string") {
      req.resume();
      return plain(res, 403, refusalText(address.reason));
    }
    const headers: http.OutgoingHttpHeaders = {};
    for (const [name, value] of Object.entries(req.headers)) if (value !== undefined && !HOP_BY_HOP.has(name)) headers[name] = value;
    const upstream = http.request(
      { host: address, port, method: req.method, path: `${url.pathname}${url.search}`, headers, timeout: CONNECT_TIMEOUT_MS },
      (answer) => {
        const out: http.OutgoingHttpHeaders = {};
        for (const [name, value] of Object.entries(answer.headers)) if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = value;
        res.writeHead(answer.statusCode ?? 502, answer.statusMessage, out);
        answer.pipe(res);
      },
    );
    upstream.once("timeout", () => upstream.destroy(new Error("timed out")));
    upstream.once("error", (err: NodeJS.ErrnoException) => {
      if (res.headersSent) return void res.destroy();
      plain(res, 502, `${url.host}: ${err.code ?? err.message}`);
    });
    res.once("close", () => {
      if (!res.writableFinished) upstream.destroy();
    });
    req.pipe(upstream);
  }

  /** The address to connect to, or why not (reported as blocked). */
  private async admit(host: string, port: number): Promise<string | { reason: string }> {
    const name = normalizeHost(host);
    const policy = this.options.policy;
    const refused = refusal(policy, name, port);
    if (refused) return this.block(name, port, refused);
    let addresses: { address: string; family: number }[];
    try {
      addresses = net.isIP(name) ? [{ address: name, family: net.isIP(name) }] : await this.lookup(name);
    } catch (err) {
      return { reason: `${name} cannot be resolved (${(err as NodeJS.ErrnoException).code ?? String(err)})` };
    }
    const exact = policy.mode === "open" || allowingRule(policy, name, port)?.exact === true;
    const usable = exact ? addresses : addresses.filter((a) => !isPrivileged(a.address));
    if (usable.length === 0) {
      if (addresses.length === 0) return { reason: `${name} has no address` };
      return this.block(name, port, `${name} resolves to a loopback or link-local address (${addresses[0]!.address}), which only an allowlist entry naming ${name} itself may reach`);
    }
    return usable[0]!.address;
  }

  private block(host: string, port: number, reason: string): { reason: string } {
    try {
      this.options.onBlocked({ host, port, reason });
    } catch (err) {
      this.options.logger.error({ err }, "egress: reporting a blocked connection failed");
    }
    return { reason };
  }
}

/** Loopback, link-local and unspecified addresses (IPv4, IPv6, and IPv4 mapped into IPv6). */
export function isPrivileged(address: string): boolean {
  const a = address.toLowerCase().replace(/^::ffff:(?=\d+\.)/, "");
  if (net.isIPv4(a)) {
    const [x, y] = a.split(".").map(Number) as [number, number];
    return x === 127 || x === 0 || (x === 169 && y === 254);
  }
  return a === "::1" || a === "::" || /^fe[89ab]/.test(a);
}

function parseAuthority(authority: string): { host: string; port: number } | undefined {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:\s/]+):(\d{1,5})$/.exec(authority);
  if (!m) return undefined;
  const port = Number(m[2]);
  return port >= 1 && port <= 65535 ? { host: m[1]!, port } : undefined;
}

function refusalText(reason: string): string {
  return `blocked by the task's egress policy: ${reason}`;
}

function refusalResponse(reason: string): string {
  const body = `${refusalText(reason)}\n`;
  return `HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`;
}

function plain(res: http.ServerResponse, status: number, text: string): void {
  if (res.headersSent) return void res.destroy();
  res.writeHead(status, { "content-type": "text/plain", connection: "close" });
  res.end(`${text}\n`);
}
