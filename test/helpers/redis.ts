// A real redis-server (Debian's package) on a free loopback port with a data directory of its own, for the store's
// contract and the several-routers fault tests. Nothing is saved to disk.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";

export interface RedisServer {
  url: string;
  port: number;
  child: ChildProcess;
  /** Ends it (SIGKILL when `hard`) and waits for it to be gone; the data directory is removed with `stop`. */
  kill(hard?: boolean): Promise<void>;
  /** Starts it again on the same port (what a restarted Redis looks like to its clients). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** The Debian package's server; the tests that need it say how to install it when it is missing. */
export const REDIS_SERVER = "/usr/bin/redis-server";

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

export async function startRedis(): Promise<RedisServer> {
  const dir = mkdtempSync(join(tmpdir(), "cc-redis-"));
  const port = await freePort();
  let child!: ChildProcess;
  const launch = async () => {
    child = spawn(REDIS_SERVER, ["--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--save", "", "--appendonly", "no", "--protected-mode", "no"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    const output: string[] = [];
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`redis-server did not start: ${output.join("\n")}`)), 15_000);
      createInterface({ input: child.stdout! }).on("line", (line) => {
        output.push(line);
        if (line.includes("Ready to accept connections")) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`redis-server exited (${code}): ${output.join("\n")}`));
      });
    });
  };
  await launch();
  const kill = async (hard = false) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise((r) => child.once("exit", r));
    child.kill(hard ? "SIGKILL" : "SIGTERM");
    await gone;
  };
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    get child() {
      return child;
    },
    kill,
    restart: launch,
    async stop() {
      await kill(true);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
