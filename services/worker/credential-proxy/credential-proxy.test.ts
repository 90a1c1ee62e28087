import { mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { silentLogger } from "../../common/logger.js";
import { CredentialProxy, customHeaders, OAUTH_BETA, resolveCredential } from "./index.js";

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

describe("credential proxy", () => {
  let dir: string;
  let upstream: http.Server;
  let upstreamUrl: string;
  let seen: Seen[];
  /** What the upstream does with a request; default: echo. */
  let answer: (req: http.IncomingMessage, res: http.ServerResponse) => void;
  let proxy: CredentialProxy;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), "cc-credential-proxy-test-"));
    seen = [];
    answer = (_req, res) => res.end("ok");
    upstream = http.createServer((req, res) => {
      let body = "";
      req.on("data", (c: Buffer) => (body += c.toString()));
      req.on("end", () => {
        seen.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers, body });
        answer(req, res);
      });
    });
    await new Promise<void>((resolve) => upstream.listen(0, "127.0.0.1", resolve));
    upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/gateway`;
  });
  afterEach(async () => {
    await proxy?.close();
    upstream.closeAllConnections();
    upstream.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function start(env: NodeJS.ProcessEnv, extra: { customHeaders?: string } = {}): Promise<CredentialProxy> {
    proxy = new CredentialProxy({ upstream: upstreamUrl, credential: resolveCredential(env, dir), logger: silentLogger(), ...extra });
    await proxy.listen();
    return proxy;
  }

  function call(target: { url?: string; socketPath?: string }, path: string, headers: Record<string, string>, body = ""): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
    const base = target.url ? new URL(target.url) : undefined;
    return new Promise((resolve, reject) => {
      const req = http.request(
        { ...(base ? { host: base.hostname, port: Number(base.port) } : { socketPath: target.socketPath }), path, method: "POST", headers, agent: false },
        (res) => {
          let text = "";
          res.on("data", (c: Buffer) => (text += c.toString()));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text, headers: res.headers }));
        },
      );
      req.on("error", reject);
      req.end(body);
    });
  }

  it("swaps a task's placeholder key for the real API key and forwards path, query, headers and body", async () => {
    const p = await start({ ANTHROPIC_API_KEY: "sk-ant-real-key-0000000000" });
    const key = p.grant("t1");
    expect(key).toMatch(/^sk-ant-cc-proxy-/);
    const r = await call({ url: p.loopbackUrl }, "/v1/messages?beta=true", { "x-api-key": key, "anthropic-version": "2023-06-01", "content-type": "application/json" }, '{"x":1}');
    expect(r).toMatchObject({ status: 200, body: "ok" });
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ method: "POST", url: "/gateway/v1/messages?beta=true", body: '{"x":1}' });
    expect(seen[0]!.headers["x-api-key"]).toBe("sk-ant-real-key-0000000000");
    expect(seen[0]!.headers["anthropic-version"]).toBe("2023-06-01");
    expect(seen[0]!.headers.host).toBe(new URL(upstreamUrl).host);
    expect(JSON.stringify(seen[0]!.headers)).not.toContain(key);
  });

  it("an OAuth token goes out as a bearer token with the OAuth beta added to claude's betas", async () => {
    const p = await start({ CLAUDE_CODE_OAUTH_TOKEN: "sk-ant-oat01-real-oauth" });
    const key = p.grant("t1");
    await call({ url: p.loopbackUrl }, "/v1/messages", { "x-api-key": key, "anthropic-beta": "claude-code-20250219" });
    expect(seen[0]!.headers.authorization).toBe("Bearer sk-ant-oat01-real-oauth");
    expect(seen[0]!.headers["x-api-key"]).toBeUndefined();
    expect(seen[0]!.headers["anthropic-beta"]).toBe(`claude-code-20250219,${OAUTH_BETA}`);
  });

  it("the login in the worker's claude configuration, read again when the file changes", async () => {
    const file = join(dir, ".credentials.json");
    writeFileSync(file, JSON.stringify({ claudeAiOauth: { accessToken: "sk-ant-oat01-first", refreshToken: "sk-ant-ort01-refresh" } }));
    const credential = resolveCredential({}, dir);
    expect(credential.headers()).toEqual({ authorization: "Bearer sk-ant-oat01-first", "anthropic-beta": OAUTH_BETA });
    expect(credential.secrets()).toEqual(["sk-ant-oat01-first", "sk-ant-ort01-refresh"]);
    writeFileSync(file, JSON.stringify({ claudeAiOauth: { accessToken: "sk-ant-oat01-second" } }));
    utimesSync(file, new Date(), new Date(Date.now() + 5000));
    expect(credential.headers()?.authorization).toBe("Bearer sk-ant-oat01-second");
    rmSync(file);
    expect(credential.headers()).toBeUndefined();
  });

  it("refuses a key that is not a running task's, and a revoked one, with the API's own 401 shape", async () => {
    const p = await start({ ANTHROPIC_API_KEY: "sk-ant-real-key-0000000000" });
    const key = p.grant("t1");
    const wrong = await call({ url: p.loopbackUrl }, "/v1/messages", { "x-api-key": "sk-ant-guess" });
    expect(wrong.status).toBe(401);
    expect(JSON.parse(wrong.body)).toEqual({ type: "error", error: { type: "authentication_error", message: "credential proxy: this key is not a running task's key on this worker" } });
    p.revoke("t1");
    expect((await call({ url: p.loopbackUrl }, "/v1/messages", { "x-api-key": key })).status).toBe(401);
    expect(seen).toEqual([]);
  });

  it("a task's socket takes only that task's key", async () => {
    const p = await start({ ANTHROPIC_API_KEY: "sk-ant-real-key-0000000000" });
    const mine = p.grant("mine");
    const theirs = p.grant("theirs");
    const socketPath = join(dir, "api.sock");
    p.listenForTask("mine", socketPath);
    expect((await call({ socketPath }, "/v1/messages", { "x-api-key": theirs })).status).toBe(401);
    expect((await call({ socketPath }, "/v1/messages", { authorization: `Bearer ${mine}` })).status).toBe(200);
  });

  it("forwards only paths: an absolute URL cannot send the credential elsewhere", async () => {
    const p = await start({ ANTHROPIC_API_KEY: "sk-ant-real-key-0000000000" });
    const key = p.grant("t1");
    const r = await call({ url: p.loopbackUrl }, "http://evil.test/v1/messages", { "x-api-key": key });
    expect(r.status).toBe(400);
    expect(seen).toEqual([]);
  });

  it("adds ANTHROPIC_CUSTOM_HEADERS itself", async () => {
    expect(customHeaders("X-Gateway-Key: abc\nbad line\nX-Team: t1")).toEqual({ "x-gateway-key": "abc", "x-team": "t1" });
    const p = await start({ ANTHROPIC_API_KEY: "sk-ant-real-key-0000000000" }, { customHeaders: "X-Gateway-Key: gw-secret" });
    await call({ url: p.loopbackUrl }, "/v1/messages", { "x-api-key": p.grant("t1") });
    expect(seen[0]!.headers["x-gateway-key"]).toBe("gw-secret");
  });

  it("streams the answer as it comes: the first SSE event reaches the client while the upstream still holds the rest", async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    answer = (_req, res) => {
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.write("event: message_start\ndata: {}\n\n");
      void held.then(() => res.end("event: message_stop\ndata: {}\n\n"));
    };
    const p = await start({ ANTHROPIC_API_KEY: "sk-ant-real-key-0000000000" });
    const key = p.grant("t1");
    const url = new URL(p.loopbackUrl);
    const received = await new Promise<string[]>((resolve, reject) => {
      const chunks: string[] = [];
      const req = http.request({ host: url.hostname, port: Number(url.port), path: "/v1/messages", method: "POST", headers: { "x-api-key": key }, agent: false }, (res) => {
        expect(res.headers["content-type"]).toBe("text/event-stream");
        res.on("data", (c: Buffer) => {
          chunks.push(c.toString());
          // Only once the first event has arrived does the upstream send the rest: a buffering proxy never gets here.
          if (chunks.length === 1) release();
        });
        res.on("end", () => resolve(chunks));
      });
      req.on("error", reject);
      req.end("{}");
    });
    expect(received.join("")).toBe("event: message_start\ndata: {}\n\nevent: message_stop\ndata: {}\n\n");
    expect(received[0]).toBe("event: message_start\ndata: {}\n\n");
  });

  it("an unreachable API is a 502 in the API's error shape, which claude retries", async () => {
    upstream.close();
    upstreamUrl = "http://127.0.0.1:1";
    const p = await start({ ANTHROPIC_API_KEY: "sk-ant-real-key-0000000000" });
    const r = await call({ url: p.loopbackUrl }, "/v1/messages", { "x-api-key": p.grant("t1") });
    expect(r.status).toBe(502);
    expect(JSON.parse(r.body).error).toMatchObject({ type: "api_error" });
    expect(r.body).not.toContain("sk-ant-real-key");
  });
});
