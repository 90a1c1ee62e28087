import { rmSync } from "node:fs";
import * as http from "node:http";
import * as http2 from "node:http2";
import * as https from "node:https";
import * as net from "node:net";
import { once } from "node:events";
import { afterEach, describe, expect, it } from "vitest";
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

  it("close(grace) ends an idle HTTP/1.1 keep-alive connection at the latest when the grace passes", async () => {
    const port = await start();
    const agent = new http.Agent({ keepAlive: true });
    cleanups.push(() => agent.destroy());
    await h1Get(port, "/idle", agent);
    const t0 = performance.now();
    await server!.close(200);
    server = undefined;
    expect(performance.now() - t0).toBeLessThan(2_000);
  });

  it("close() with an idle HTTP/1.1 keep-alive connection resolves without waiting for the grace", async () => {
    const port = await start(handler());
    const agent = new http.Agent({ keepAlive: true });
    cleanups.push(() => agent.destroy());
    await h1Get(port, "/idle", agent);
    const t0 = performance.now();
    await server!.close(60_000);
    server = undefined;
    expect(performance.now() - t0).toBeLessThan(1_000);
  });

  it("close(grace) lets an open HTTP/2 stream run until the grace, then destroys it", async () => {
    let hung!: () => void;
    const hanging = new Promise<void>((r) => (hung = r));
    const port = await start(handler(() => hung()));
    const session = await h2Connect(port);
    cleanups.push(() => session.destroy());
    const stream = session.request({ ":path": "/hang" });
    stream.on("error", () => {});
    const firstData = once(stream, "data");
    const streamClosed = new Promise((r) => stream.once("close", r));
    await hanging;
    await firstData;

    const GRACE = 150;
    const t0 = performance.now();
    let closedAt = 0;
    void streamClosed.then(() => (closedAt = performance.now()));
    await server!.close(GRACE);
    await streamClosed;
    server = undefined;
    expect(closedAt - t0).toBeGreaterThanOrEqual(GRACE - 5);
    // Cancelled with the connection, not finished by the server.
    expect(stream.rstCode).toBe(http2.constants.NGHTTP2_CANCEL);
  });

  it("close(grace) destroys a hanging HTTP/1.1 response after the grace", async () => {
    let hung!: () => void;
    const hanging = new Promise<void>((r) => (hung = r));
    const port = await start(handler(() => hung()));
    const req = http.get({ host: "127.0.0.1", port, path: "/hang" });
    req.on("error", () => {});
    const [res] = (await once(req, "response")) as [http.IncomingMessage];
    res.on("error", () => {});
    res.resume();
    await hanging;
    let ended = false;
    res.on("end", () => (ended = true));
    const resClosed = new Promise((r) => res.once("close", r));

    const GRACE = 150;
    const t0 = performance.now();
    await server!.close(GRACE);
    await resClosed;
    server = undefined;
    expect(performance.now() - t0).toBeGreaterThanOrEqual(GRACE - 5);
    expect(ended).toBe(false);
    expect(res.complete).toBe(false);
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

  // serve.ts gives a silent socket 10 s (a constant, not an option) before destroying it; Node's socket timeouts do not
  // run on vi's fake timers, so checking it needs a real 10 s wait, left out of the unit tests.
  it.skip("destroys a socket that sends nothing after 10 s", () => {});
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
