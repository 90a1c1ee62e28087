import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import * as http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BUNDLE_MANIFEST, CONTENT_SECURITY_POLICY, loadWebApp } from "./web-app.js";

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

describe("the web app's file server", () => {
  let dir: string;
  let server: http.Server;
  let base: string;

  function get(path: string, headers: Record<string, string> = {}, method = "GET"): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const { hostname, port } = new URL(base);
      // `path` as given: a URL would normalise "/a/../b" away.
      const req = http.request({ hostname, port, path, method, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      });
      req.on("error", reject);
      req.end();
    });
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "cc-web-"));
    mkdirSync(join(dir, "assets"));
    writeFileSync(join(dir, "index.html"), "<!doctype html><title>cc</title>");
    writeFileSync(join(dir, "assets", "main-ABC123.js"), "console.log('app');".repeat(50));
    writeFileSync(join(dir, BUNDLE_MANIFEST), "{}");
    const app = loadWebApp(dir);
    const handler = app.handler((_req, res) => {
      res.statusCode = 418;
      res.end("rpc");
    });
    server = http.createServer(handler as http.RequestListener);
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });

  afterAll(async () => {
    await new Promise((r) => server.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  it("serves index.html for the app's pages, revalidated on every load, with the security headers", async () => {
    for (const path of ["/", "/tasks/new", "/tasks/01ABC", "/workers?x=1"]) {
      const r = await get(path);
      expect(r.status).toBe(200);
      expect(r.headers["content-type"]).toBe("text/html; charset=utf-8");
      expect(r.headers["cache-control"]).toBe("no-cache");
      expect(r.headers["content-security-policy"]).toBe(CONTENT_SECURITY_POLICY);
      expect(r.headers["x-content-type-options"]).toBe("nosniff");
      expect(r.body.toString()).toContain("<title>cc</title>");
    }
    const first = await get("/");
    expect((await get("/", { "if-none-match": String(first.headers.etag) })).status).toBe(304);
    // A path that is no page of the app: the app (which says so), with 404.
    const unknown = await get("/no/such/page");
    expect(unknown.status).toBe(404);
    expect(unknown.body.toString()).toContain("<title>cc</title>");
  });

  it("serves hashed assets for a year, gzipped when asked", async () => {
    const plain = await get("/assets/main-ABC123.js");
    expect(plain.headers["cache-control"]).toBe("public, max-age=31536000, immutable");
    expect(plain.headers["content-type"]).toBe("text/javascript; charset=utf-8");
    const gz = await get("/assets/main-ABC123.js", { "accept-encoding": "gzip, br" });
    expect(gz.headers["content-encoding"]).toBe("gzip");
    expect(gz.body.length).toBeLessThan(plain.body.length);
    expect(gunzipSync(gz.body).equals(plain.body)).toBe(true);
    const head = await get("/assets/main-ABC123.js", {}, "HEAD");
    expect(head.body.length).toBe(0);
    expect(head.headers["content-length"]).toBe(String(plain.body.length));
  });

  it("answers 404 for a missing asset (an old hash), never the page, and leaves RPCs and other methods alone", async () => {
    const missing = await get("/assets/main-OLD.js");
    expect(missing.status).toBe(404);
    expect((await get("/assets/../index.html")).status).toBe(404);
    expect((await get("/assets/%2e%2e/index.html")).status).toBe(404);
    expect((await get("/claudecluster.v1.RouterService/ListTasks")).status).toBe(418);
    expect((await get("/favicon.ico")).status).toBe(418);
    expect((await get("/metrics")).status).toBe(418);
    expect((await get("/", {}, "POST")).status).toBe(418);
    expect((await get(`/${BUNDLE_MANIFEST}`)).status).toBe(418);
  });
});
