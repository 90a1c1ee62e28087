// A port that is already taken is a one-line message saying what to change, never a stack trace: the worker and
// router processes, and `cc up --port`.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { once } from "node:events";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const DIST = new URL("../../dist/", import.meta.url).pathname;

function runToExit(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin", ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

describe("a port already in use", () => {
  let holder: net.Server;
  let port: number;
  let root: string;
  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), "cc-test-port-"));
    holder = net.createServer().listen(0, "127.0.0.1");
    await once(holder, "listening");
    port = (holder.address() as net.AddressInfo).port;
  });
  afterAll(() => {
    holder.close();
    rmSync(root, { recursive: true, force: true });
  });

  for (const service of ["worker", "router"] as const) {
    it(`${service}: exits 1 with one line naming the address, the cause and the setting to change`, async () => {
      const r = await runToExit([join(DIST, `services/${service}/main.js`)], {
        HOME: join(root, "home"),
        CC_CLAUDE_HOME: join(root, "home"),
        CC_WORKSPACE_ROOT: join(root, "ws"),
        PORT: String(port),
        CC_HOST: "127.0.0.1",
        CC_LOG_LEVEL: "silent",
      });
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(`${service}: cannot listen on 127.0.0.1:${port}: another process is listening on that port (EADDRINUSE); set PORT to a free port (0 picks one)\n`);
    });
  }

  it("cc up --port: exits 1 saying the port is in use and how to check for a cluster already up", async () => {
    const r = await runToExit([join(DIST, "cc/main.js"), "up", "--port", String(port), "--workspace-root", join(root, "ws")], {
      HOME: join(root, "home"),
      XDG_CONFIG_HOME: join(root, "config"),
      NO_COLOR: "1",
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`cc: port ${port} on 127.0.0.1 is in use — pick another with --port, or is a cluster already up? (\`cc workers --router http://127.0.0.1:${port}\`)\n`);
  });

  it("cc up --host with an address that is not this machine's: one line saying to pick another", async () => {
    const r = await runToExit([join(DIST, "cc/main.js"), "up", "--port", "0", "--host", "192.0.2.1", "--workspace-root", join(root, "ws")], {
      HOME: join(root, "home"),
      XDG_CONFIG_HOME: join(root, "config"),
      NO_COLOR: "1",
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("cc: cannot listen on 192.0.2.1:0: that address does not belong to this machine (EADDRNOTAVAIL); set --host to one of its addresses (or 0.0.0.0)\n");
  });
});
