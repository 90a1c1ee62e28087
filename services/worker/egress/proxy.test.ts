import { mkdtempSync, rmSync } from "node:fs";
import http from "node:http";
import net, { type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { silentLogger } from "../../common/logger.js";
import { allowlist, type EgressPolicy } from "./policy.js";
import { EgressProxy, isPrivileged, type BlockedConnection } from "./proxy.js";

/** Resolves every name to the test server on loopback, as a public name pointed at 127.0.0.1 would. */
const toLoopback = () => Promise.resolve([{ address: "127.0.0.1", family: 4 }]);

describe("egress proxy", () => {
  let dir: string;
  let upstream: http.Server;
  let port: number;
  let proxy: EgressProxy | undefined;
  let blocked: BlockedConnection[];

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), "cc-egress-test-"));
    upstream = http.createServer((req, res) => res.end(`upstream saw ${req.method} ${req.url} host=${req.headers.host}`));
    await new Promise<void>((resolve) => upstream.listen(0, "127.0.0.1", resolve));
    port = (upstream.address() as AddressInfo).port;
    blocked = [];
  });
  afterEach(async () => {
    proxy?.close();
    proxy = undefined;
    upstream.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function start(policy: EgressPolicy, lookup = toLoopback): string {
    const path = join(dir, "egress.sock");
    proxy = new EgressProxy({ policy, onBlocked: (b) => blocked.push(b), logger: silentLogger(), lookup });
    proxy.listen(path);
    return path;
  }

  /** CONNECT through the proxy, then a GET through the tunnel; resolves with what came back. */
  function viaConnect(socketPath: string, authority: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(socketPath);
      let data = "";
      let tunnelled = false;
      socket.on("data", (chunk) => {
        data += chunk.toString();
        if (!tunnelled && data.startsWith("HTTP/1.1 200")) {
          tunnelled = true;
          data = "";
          socket.write(`GET /through HTTP/1.1\r\nhost: ${authority}\r\nconnection: close\r\n\r\n`);
        }
      });
      socket.on("end", () => resolve(data));
      socket.on("error", reject);
      socket.write(`CONNECT ${authority} HTTP/1.1\r\nhost: ${authority}\r\n\r\n`);
    });
  }

  function viaForward(socketPath: string, url: string): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = http.request({ socketPath, path: url, headers: { host: URL.canParse(url) ? new URL(url).host : "proxy" } }, (res) => {
        let body = "";
        res.on("data", (c: Buffer) => (body += c.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on("error", reject);
      req.end();
    });
  }

  it("tunnels CONNECT to an allowed host:port and forwards absolute-form http requests", async () => {
    const socket = start(allowlist([`allowed.test:${port}`]));
    expect(await viaConnect(socket, `allowed.test:${port}`)).toContain("upstream saw GET /through host=allowed.test");
    const forwarded = await viaForward(socket, `http://allowed.test:${port}/page?q=1`);
    expect(forwarded).toEqual({ status: 200, body: `upstream saw GET /page?q=1 host=allowed.test:${port}` });
    expect(blocked).toEqual([]);
  });

  it("refuses a host not in the allowlist with 403, reporting host, port and reason before answering", async () => {
    const socket = start(allowlist(["allowed.test"]));
    const answer = await viaConnect(socket, `other.test:${port}`);
    expect(answer).toMatch(/^HTTP\/1.1 403 Forbidden/);
    expect(answer).toContain(`blocked by the task's egress policy: other.test:${port} is not in the task's egress allowlist`);
    const forwarded = await viaForward(socket, `http://other.test:${port}/`);
    expect(forwarded.status).toBe(403);
    expect(blocked).toEqual([
      { host: "other.test", port, reason: `other.test:${port} is not in the task's egress allowlist` },
      { host: "other.test", port, reason: `other.test:${port} is not in the task's egress allowlist` },
    ]);
  });

  it("none refuses everything", async () => {
    const socket = start({ mode: "none" });
    expect(await viaConnect(socket, `allowed.test:${port}`)).toMatch(/^HTTP\/1.1 403/);
    expect(blocked.map((b) => b.reason)).toEqual(["the task's egress policy is none"]);
  });

  it("a name that resolves to loopback passes only if the allowlist names it; a wildcard or preset is not enough", async () => {
    const wildcard = start(allowlist(["*.test"]));
    expect(await viaConnect(wildcard, `sneaky.test:${port}`)).toMatch(/^HTTP\/1.1 403/);
    expect(blocked[0]!.reason).toMatch(/sneaky.test resolves to a loopback or link-local address \(127.0.0.1\)/);
    proxy!.close();
    const named = start(allowlist([`sneaky.test:${port}`]));
    expect(await viaConnect(named, `sneaky.test:${port}`)).toContain("upstream saw GET /through");
  });

  it("refuses what is not a proxy request", async () => {
    const socket = start({ mode: "open" });
    expect((await viaForward(socket, "/relative")).status).toBe(400);
    expect((await viaForward(socket, "https://example.test/")).status).toBe(400);
  });

  it("isPrivileged: loopback, link-local and unspecified, in both families", () => {
    for (const a of ["127.0.0.1", "127.8.9.10", "0.0.0.0", "169.254.169.254", "::1", "::", "fe80::1", "::ffff:127.0.0.1"]) expect(isPrivileged(a), a).toBe(true);
    for (const a of ["10.0.0.1", "192.168.1.1", "8.8.8.8", "2001:db8::1", "::ffff:8.8.8.8"]) expect(isPrivileged(a), a).toBe(false);
  });
});
