// The router's connection to a worker survives a hung worker: calls fail with UNAVAILABLE (PING timed out) and the
// process goes on. Without the guard, the second call's PING timeout was an unheard "error" event: a crash.
import * as net from "node:net";
import type { AddressInfo } from "node:net";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { afterAll, describe, expect, it } from "vitest";
import { WorkerService } from "../../gen/claudecluster/v1/worker_pb.js";
import { createWorkerTransport } from "./worker-client.js";

describe("the connection to a worker", () => {
  // A hung worker: the kernel accepts the connection, nothing ever answers.
  const sockets = new Set<net.Socket>();
  const hung = net.createServer((socket) => sockets.add(socket));
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => hung.close(() => resolve()));
  });

  it("fails each call to a hung worker with UNAVAILABLE, and keeps the process alive", async () => {
    await new Promise<void>((resolve) => hung.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(hung.address() as AddressInfo).port}`;
    const client = createClient(WorkerService, createWorkerTransport(url, undefined, { pingIntervalMs: 200, pingTimeoutMs: 200, pingIdleConnection: false, idleConnectionTimeoutMs: 60_000 }));
    const uncaught: unknown[] = [];
    const onUncaught = (err: unknown) => uncaught.push(err);
    process.on("uncaughtException", onUncaught);
    try {
      for (let i = 0; i < 3; i++) {
        const err = await client.cancel({ taskId: "t1" }, { timeoutMs: 30_000 }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(ConnectError);
        expect((err as ConnectError).code).toBe(Code.Unavailable);
        expect((err as ConnectError).rawMessage).toBe("PING timed out");
      }
      // Past the last PING timeout: nothing went off later either.
      await new Promise((r) => setTimeout(r, 600));
      expect(uncaught).toEqual([]);
    } finally {
      process.off("uncaughtException", onUncaught);
    }
  });
});
