// One listening port for every client: gRPC and Cloud Run speak HTTP/2 cleartext with prior knowledge (h2c), while
// browsers, curl and the Connect protocol's unary calls often speak HTTP/1.1. Node's http2.createServer only speaks
// h2c (`allowHTTP1` works only with TLS), so a plain TCP server peeks at each connection's first bytes and hands the
// socket to the HTTP/2 or the HTTP/1.1 server. With TLS (self-hosting without a proxy in front), ALPN says which.
import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import type { AddressInfo } from "node:net";
import * as tls from "node:tls";
import { DEFAULT_LIVENESS, watchSession, type SessionEnd, type SessionLiveness } from "./h2-liveness.js";

/** Every HTTP/2 connection opens with this preface (RFC 9113 §3.4); no HTTP/1.x request starts with "PRI". */
const H2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

export type RequestHandler = (
  req: http.IncomingMessage | http2.Http2ServerRequest,
  res: http.ServerResponse | http2.Http2ServerResponse,
) => void;

export interface DualServer {
  /** Starts listening; resolves with the bound port (pass 0 for any free port). */
  listen(port: number, host?: string): Promise<number>;
  /** The bound port, once listening. */
  port(): number;
  /**
   * Stops accepting connections and closes idle ones. Open streams may finish until `graceMs` passes; then every
   * connection is destroyed. Resolves when the server has closed.
   */
  close(graceMs?: number): Promise<void>;
}

export interface DualServerOptions {
  /**
   * HTTP/2 sessions: closed after this long with no open stream; pinged, and destroyed when a ping goes unanswered.
   * A quiet stream is never cut (see h2-liveness.ts).
   */
  liveness?: Partial<SessionLiveness>;
  /** Told when a session is ended for being idle or for an unanswered ping. */
  onSessionEnd?: (why: SessionEnd) => void;
  /** A client must finish connecting (and the TLS handshake) and send its first bytes this soon (default 10 s). */
  firstBytesMs?: number;
  /** Serve TLS with this PEM certificate chain and key, offering h2 and http/1.1 by ALPN; cleartext without. */
  tls?: { cert: Buffer; key: Buffer };
}

const FIRST_BYTES_MS = 10_000;

/** HTTP/1.1 sockets: a request must arrive this soon after connecting or after the previous response. */
const H1_IDLE_MS = 30_000;

/**
 * HTTP/1.1 has no ping: a long response (a Connect or gRPC-Web stream) has no timeout, and TCP keep-alive probes,
 * starting after this much silence, are what eventually notice a peer that vanished.
 */
const H1_KEEPALIVE_MS = 30_000;

export function createDualServer(handler: RequestHandler, options: DualServerOptions = {}): DualServer {
  const liveness = { ...DEFAULT_LIVENESS, ...options.liveness };
  const firstBytesMs = options.firstBytesMs ?? FIRST_BYTES_MS;
  const h1 = http.createServer(handler as http.RequestListener);
  // The HTTP/1.1 server never listens itself (sockets are handed to it), so Node's own idle tracking
  // (closeIdleConnections, headersTimeout) never starts: we count requests in flight per socket instead. Idle sockets
  // time out; a socket with a request in flight (a long stream) does not.
  const h1InFlight = new Map<net.Socket, number>();
  let closing = false;
  // setTimeout(ms, callback) would add a listener per response on a keep-alive socket; the one "timeout" listener
  // is added when the socket is handed over (toH1), and this only re-arms the timer.
  const h1Idle = (socket: net.Socket) => {
    if (closing) socket.destroy();
    else socket.setTimeout(H1_IDLE_MS);
  };
  h1.on("request", (req: http.IncomingMessage, res: http.ServerResponse) => {
    const socket = req.socket;
    h1InFlight.set(socket, (h1InFlight.get(socket) ?? 0) + 1);
    socket.setTimeout(0);
    res.once("close", () => {
      const left = (h1InFlight.get(socket) ?? 1) - 1;
      h1InFlight.set(socket, left);
      if (left === 0) h1Idle(socket);
    });
  });
  const h2 = http2.createServer({}, handler as (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void);
  // No h2.setTimeout: it counts inactivity of the whole session, open streams included, and cut quiet streams.
  const sockets = new Set<net.Socket>();
  const sessions = new Set<http2.ServerHttp2Session>();
  h2.on("session", (session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
    watchSession(session, liveness, options.onSessionEnd);
  });

  const toH1 = (socket: net.Socket) => {
    socket.on("timeout", () => socket.destroy());
    socket.setKeepAlive(true, H1_KEEPALIVE_MS);
    h1InFlight.set(socket, 0);
    socket.once("close", () => h1InFlight.delete(socket));
    h1Idle(socket);
    h1.emit("connection", socket);
  };
  const track = (socket: net.Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  };

  const cleartext = (socket: net.Socket) => {
    track(socket);
    // A client that connects and says nothing must not hold a socket forever.
    const silent = () => socket.destroy();
    socket.setTimeout(firstBytesMs, silent);
    socket.once("data", (first: Buffer) => {
      socket.setTimeout(0);
      socket.off("timeout", silent);
      socket.pause();
      socket.unshift(first);
      if (first.subarray(0, 3).equals(H2_PREFACE.subarray(0, 3))) {
        // The HTTP/2 session reads the unshifted bytes itself on the next tick; resuming the socket here would
        // let them flow to no listener and lose the preface.
        h2.emit("connection", socket);
      } else {
        toH1(socket);
        socket.resume();
      }
    });
  };
  const encrypted = (socket: tls.TLSSocket) => {
    track(socket);
    if (socket.alpnProtocol === "h2") h2.emit("connection", socket);
    else toH1(socket);
  };
  const tcp = options.tls
    ? tls.createServer({ ...options.tls, ALPNProtocols: ["h2", "http/1.1"], handshakeTimeout: firstBytesMs }, encrypted)
    : net.createServer(cleartext);

  return {
    listen(port, host = "0.0.0.0") {
      return new Promise((resolve, reject) => {
        tcp.once("error", reject);
        tcp.listen(port, host, () => {
          tcp.off("error", reject);
          resolve((tcp.address() as AddressInfo).port);
        });
      });
    },
    port() {
      return (tcp.address() as AddressInfo | null)?.port ?? 0;
    },
    close(graceMs = 0) {
      return new Promise((resolve) => {
        closing = true;
        tcp.close(() => resolve());
        for (const [socket, inFlight] of h1InFlight) if (inFlight === 0) socket.destroy();
        // GOAWAY: clients open no new streams here; streams already open run on.
        for (const session of sessions) session.close();
        const kill = setTimeout(() => {
          for (const session of sessions) session.destroy();
          for (const socket of sockets) socket.destroy();
        }, graceMs);
        kill.unref();
        tcp.once("close", () => clearTimeout(kill));
      });
    },
  };
}
