import { rmSync } from "node:fs";
import * as http from "node:http";
import * as http2 from "node:http2";
import * as https from "node:https";
import * as net from "node:net";
import { once } from "node:events";
import { afterEach, describe, expect, it, vi } from "vitest";
import { freezableProxy } from "../../test/helpers/freezable-proxy.js";
import { selfSignedCertificate } from "../../test/helpers/tls.js";
import { createDualServer, type DualServer, type RequestHandler } from "./serve.js";

/** Answers "<HTTP version> <path>"; /hang sends headers and a first chunk, then never ends. */
function handler(onHang?: () => void): RequestHandler {
  return (req, response) => {
    // The HTTP/1.1 and HTTP/2 compatibility responses share these methods; the union type has no common signature.
    const res = response as http.ServerResponse;
    if (req.url === "/hang") {
      res.writeHead(200, { "content-type": "text/plain" });
      res.write("started");
      onHang?.();
      return;
    }
    res.writeHead(200, { "content-type": "text/plain" });
    res.end(`${req.httpVersion} ${req.method} ${req.url}`);
  };
}

function h1Get(port: number, path: string, agent?: http.Agent): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: "127.0.0.1", port, path, agent }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      res.on("error", reject);
    });
    req.on("error", reject);
  });
}

function h2Get(session: http2.ClientHttp2Session, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ":path": path });
    let status = 0;
    let body = "";
    stream.setEncoding("utf8");
    stream.on("response", (headers) => (status = Number(headers[":status"])));
    stream.on("data", (c: string) => (body += c));
    stream.on("end", () => resolve({ status, body }));
    stream.on("error", reject);
  });
}

async function h2Connect(port: number): Promise<http2.ClientHttp2Session> {
  // http:// means HTTP/2 over cleartext with prior knowledge: the client sends the preface straight away.
  const session = http2.connect(`http://127.0.0.1:${port}`);
  session.on("error", () => {});
  await once(session, "connect");
  return session;
}

describe("createDualServer", () => {
  let server: DualServer | undefined;
  const cleanups: (() => void)[] = [];

  afterEach(async () => {
    for (const c of cleanups.splice(0)) c();
    await server?.close(0);
    server = undefined;
  });

  async function start(h: RequestHandler = handler()): Promise<number> {
    server = createDualServer(h);
    const port = await server.listen(0, "127.0.0.1");
    expect(server.port()).toBe(port);
    return port;
  }

  it("answers HTTP/1.1 and HTTP/2 with prior knowledge on the same port", async () => {
    const port = await start();
    expect(port).toBeGreaterThan(0);
    expect(await h1Get(port, "/one")).toEqual({ status: 200, body: "1.1 GET /one" });
    const session = await h2Connect(port);
    cleanups.push(() => session.destroy());
    expect(await h2Get(session, "/two")).toEqual({ status: 200, body: "2.0 GET /two" });
    // Both at once, several streams on the one HTTP/2 connection.
    const answers = await Promise.all([h1Get(port, "/a"), h2Get(session, "/b"), h2Get(session, "/c"), h1Get(port, "/d")]);
    expect(answers.map((a) => a.body)).toEqual(["1.1 GET /a", "2.0 GET /b", "2.0 GET /c", "1.1 GET /d"]);
  });

  it("reports port 0 before listening", () => {
    server = createDualServer(handler());
    expect(server.port()).toBe(0);
    server = undefined;
  });

  it("refuses to listen on a port that is taken", async () => {
    const port = await start();
    const other = createDualServer(handler());
    await expect(other.listen(port, "127.0.0.1")).rejects.toMatchObject({ code: "EADDRINUSE" });
  });

  it("close() with an idle HTTP/2 session resolves without waiting for the grace", async () => {
    const port = await start();
    const session = await h2Connect(port);
    cleanups.push(() => session.destroy());
    await h2Get(session, "/idle");
    const closed = once(session, "close");
    // A grace far beyond the test timeout: resolving at all proves the idle session does not wait for it.
    await server!.close(10 * 60_000);
    await closed;
    server = undefined;
  }, 5_000);

  it("close() with an idle HTTP/1.1 keep-alive connection resolves without waiting for the grace", async () => {
    const port = await start(handler());
    const agent = new http.Agent({ keepAlive: true });
    cleanups.push(() => agent.destroy());
    await h1Get(port, "/idle", agent);
    const [socket] = Object.values(agent.freeSockets).flat();
    const socketClosed = once(socket!, "close");
    // As above: resolving at all proves the idle connection does not wait for a grace far beyond the test timeout.
    await server!.close(10 * 60_000);
    await socketClosed;
    server = undefined;
  }, 5_000);

  it("close(grace) lets an open HTTP/2 stream run until the grace, then destroys it", async () => {
    let hung!: (res: http2.Http2ServerResponse) => void;
    const hanging = new Promise<http2.Http2ServerResponse>((r) => (hung = r));
    const port = await start((req, response) => {
      const res = response as http2.Http2ServerResponse;
      if (req.url === "/hang") {
        res.writeHead(200);
        res.write("started");
        hung(res);
      }
    });
    const session = await h2Connect(port);
    cleanups.push(() => session.destroy());
    const stream = session.request({ ":path": "/hang" });
    stream.on("error", () => {});
    stream.setEncoding("utf8");
    const firstData = once(stream, "data");
    const streamClosed = once(stream, "close");
    const res = await hanging;
    await firstData;

    // The grace timer is the only thing that may end the stream; it runs on a fake clock.
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    try {
      const closed = server!.close(150);
      // During the grace the stream still carries data both ways of the server's choosing.
      const more = once(stream, "data");
      res.write("still here");
      expect(await more).toEqual(["still here"]);
      expect(stream.closed).toBe(false);
      vi.advanceTimersByTime(150);
      await streamClosed;
      await closed;
    } finally {
      vi.useRealTimers();
    }
    server = undefined;
    // Cancelled with the connection, not finished by the server.
    expect(stream.rstCode).toBe(http2.constants.NGHTTP2_CANCEL);
  });

  it("close(grace) lets a hanging HTTP/1.1 response run until the grace, then destroys it", async () => {
    let hung!: (res: http.ServerResponse) => void;
    const hanging = new Promise<http.ServerResponse>((r) => (hung = r));
    const port = await start((req, response) => {
      const res = response as http.ServerResponse;
      if (req.url === "/hang") {
        res.writeHead(200);
        res.write("started");
        hung(res);
      }
    });
    const req = http.get({ host: "127.0.0.1", port, path: "/hang" });
    req.on("error", () => {});
    const [response] = (await once(req, "response")) as [http.IncomingMessage];
    response.on("error", () => {});
    response.setEncoding("utf8");
    const first = once(response, "data");
    const res = await hanging;
    await first;
    let ended = false;
    response.on("end", () => (ended = true));
    // once() would reject on the "aborted" error that a cut response emits before closing.
    const resClosed = new Promise((r) => response.once("close", r));

    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    try {
      const closed = server!.close(150);
      const more = once(response, "data");
      res.write("still here");
      expect(await more).toEqual(["still here"]);
      vi.advanceTimersByTime(150);
      await resClosed;
      await closed;
    } finally {
      vi.useRealTimers();
    }
    server = undefined;
    expect(ended).toBe(false);
    expect(response.complete).toBe(false);
  });

  it("a client that speaks neither protocol gets an HTTP/1.1 400", async () => {
    const port = await start();
    const socket = net.connect(port, "127.0.0.1");
    cleanups.push(() => socket.destroy());
    await once(socket, "connect");
    socket.write("HELLO\r\n\r\n");
    let reply = "";
    socket.setEncoding("utf8");
    socket.on("data", (c: string) => (reply += c));
    await once(socket, "close");
    expect(reply.startsWith("HTTP/1.1 400")).toBe(true);
  });

  it("destroys a socket that sends nothing before the first-bytes timeout", async () => {
    server = createDualServer(handler(), { firstBytesMs: 100 });
    const port = await server.listen(0, "127.0.0.1");
    const socket = net.connect(port, "127.0.0.1");
    cleanups.push(() => socket.destroy());
    let received = 0;
    socket.on("data", (c: Buffer) => (received += c.length));
    await once(socket, "connect");
    // Ended by the server (the client never writes nor closes), without a byte of answer.
    await once(socket, "close");
    expect(received).toBe(0);
  });
});

describe("createDualServer: quiet HTTP/2 sessions and dead peers", () => {
  let server: DualServer | undefined;
  const cleanups: (() => void)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0)) c();
    await server?.close(0);
    server = undefined;
  });

  it("never cuts an open stream for being quiet: it outlives many idle timeouts while pings are answered", async () => {
    const ends: string[] = [];
    let responseClosed = false;
    server = createDualServer(
      handler(),
      // onHang is not needed: the stream stays open until the client resets it.
      { liveness: { idleTimeoutMs: 50, pingIntervalMs: 20, pingTimeoutMs: 5_000 }, onSessionEnd: (why) => ends.push(why) },
    );
    const port = await server.listen(0, "127.0.0.1");
    const session = await h2Connect(port);
    cleanups.push(() => session.destroy());
    const stream = session.request({ ":path": "/hang" });
    stream.on("error", () => {});
    stream.on("close", () => (responseClosed = true));
    await once(stream, "data");
    // The server's pings are the clock: ten of them answered span four idle timeouts with the stream silent.
    let pings = 0;
    await new Promise<void>((resolve) => {
      session.on("ping", () => ++pings === 10 && resolve());
      // A cut ends the wait early, and the checks below say what happened.
      session.once("close", resolve);
    });
    expect(responseClosed).toBe(false);
    expect(session.closed).toBe(false);
    expect(ends).toEqual([]);
    // And the server still answers on the same session.
    expect(await h2Get(session, "/after")).toEqual({ status: 200, body: "2.0 GET /after" });
  });

  it("closes a session left with no open stream for the idle timeout, with GOAWAY", async () => {
    const ends: string[] = [];
    server = createDualServer(handler(), { liveness: { idleTimeoutMs: 50 }, onSessionEnd: (why) => ends.push(why) });
    const port = await server.listen(0, "127.0.0.1");
    const session = await h2Connect(port);
    cleanups.push(() => session.destroy());
    const goaway = once(session, "goaway");
    await h2Get(session, "/one");
    const [code] = (await goaway) as [number];
    expect(code).toBe(http2.constants.NGHTTP2_NO_ERROR);
    expect(ends).toEqual(["idle"]);
  });

  it("destroys a session whose peer stops answering pings, ending its open stream", async () => {
    const ends: string[] = [];
    let serverSide!: http2.Http2ServerResponse;
    const opened = new Promise<void>((resolve) => {
      server = createDualServer(
        (_req, res) => {
          serverSide = res as http2.Http2ServerResponse;
          serverSide.writeHead(200);
          serverSide.write("started");
          resolve();
        },
        { liveness: { pingIntervalMs: 20, pingTimeoutMs: 100 }, onSessionEnd: (why) => ends.push(why) },
      );
    });
    const port = await server!.listen(0, "127.0.0.1");
    // The client reaches the server through a proxy that can stop passing the client's bytes on: a peer that froze.
    const proxy = await freezableProxy(port);
    cleanups.push(() => proxy.close());
    const session = await h2Connect(proxy.port);
    cleanups.push(() => session.destroy());
    const stream = session.request({ ":path": "/hang" });
    stream.on("error", () => {});
    await opened;
    const serverClosed = once(serverSide, "close");
    proxy.freezeClient();
    await serverClosed;
    expect(ends).toEqual(["ping-timeout"]);
    expect(serverSide.writableEnded).toBe(false);
  });
});

describe("createDualServer with TLS", () => {
  it("serves HTTP/2 and HTTP/1.1 on one port, chosen by ALPN, and refuses cleartext", async () => {
    const material = selfSignedCertificate();
    const server = createDualServer(handler(), { tls: material });
    const port = await server.listen(0, "127.0.0.1");
    try {
      const session = http2.connect(`https://localhost:${port}`, { ca: material.cert });
      session.on("error", () => {});
      await once(session, "connect");
      expect(await h2Get(session, "/h2")).toEqual({ status: 200, body: "2.0 GET /h2" });
      session.close();

      const h1 = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        https.get({ host: "127.0.0.1", port, path: "/h1", ca: material.cert, servername: "localhost" }, (res) => {
          let body = "";
          res.setEncoding("utf8");
          res.on("data", (c: string) => (body += c));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
        }).on("error", reject);
      });
      expect(h1).toEqual({ status: 200, body: "1.1 GET /h1" });

      // A cleartext client gets no HTTP answer: the bytes are not a TLS handshake.
      await expect(h1Get(port, "/plain")).rejects.toThrow();
    } finally {
      await server.close(0);
      rmSync(material.dir, { recursive: true, force: true });
    }
  });
});
