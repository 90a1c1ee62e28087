// The registry's rules for ids and load: one URL per worker id while its worker is online, and a worker's load is
// what this router placed there plus what the worker reports that this router did not place.
import { createServer } from "node:http2";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { describe, expect, it } from "vitest";
import { WorkerHealth } from "../../gen/claudecluster/v1/router_pb.js";
import { WorkerInfoSchema, WorkerService, WorkerState } from "../../gen/claudecluster/v1/worker_pb.js";
import { silentLogger } from "../common/logger.js";
import { Registry } from "./registry.js";

function registry(now: () => number = Date.now): Registry {
  return new Registry({ staticWorkers: [], workerToken: undefined, heartbeatMs: 1000, offlineAfterMs: 3000, removeAfterMs: 60_000, logger: silentLogger(), onCapacity: () => {}, now });
}

const info = (workerId: string, activeTaskIds: string[] = [], capacity = 2) =>
  create(WorkerInfoSchema, { workerId, capacity, state: WorkerState.SERVING, activeSessions: activeTaskIds.length, activeTaskIds });

describe("the registry", () => {
  it("refuses a second URL registering under a worker id whose worker is online, with ALREADY_EXISTS", () => {
    const r = registry();
    r.register("http://a:1", info("w1"));
    const err = (() => {
      try {
        r.register("http://b:1", info("w1"));
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as ConnectError).code).toBe(Code.AlreadyExists);
    expect((err as ConnectError).rawMessage).toBe(
      "worker id w1 is already registered by the worker at http://a:1, which is online; give each worker its own CC_WORKER_ID (this one is at http://b:1)",
    );
    expect(r.list().map((w) => [w.id, w.url])).toEqual([["w1", "http://a:1"]]);
    // The first one's heartbeats go on as before.
    expect(() => r.register("http://a:1", info("w1"))).not.toThrow();
  });

  it("lets a worker id move to a new URL once the worker that had it went silent", () => {
    let now = 1_000_000;
    const r = registry(() => now);
    r.register("http://a:1", info("w1"));
    now += 3001;
    r.register("http://b:1", info("w1"));
    expect(r.list().map((w) => [w.id, w.url])).toEqual([["w1", "http://b:1"]]);
  });

  it("counts what a worker reports running that this router did not place: a worker full of older tasks is FULL", () => {
    const r = registry();
    const w = r.register("http://a:1", info("w1", ["old-1"]));
    expect(r.load(w)).toBe(1);
    expect(r.health(w)).toBe(WorkerHealth.ONLINE);
    r.place(w, "new-1");
    // Placed by this router but not reported yet, plus the older one: full.
    expect(r.load(w)).toBe(2);
    expect(r.health(w)).toBe(WorkerHealth.FULL);
    // Reported: counted once.
    r.register("http://a:1", info("w1", ["old-1", "new-1"]));
    expect(r.load(w)).toBe(2);
    // The older task ended.
    r.register("http://a:1", info("w1", ["new-1"]));
    expect(r.load(w)).toBe(1);
    expect(r.health(w)).toBe(WorkerHealth.ONLINE);
    // A task of this router ends: its slot is free at once, though the last report still lists it.
    r.release(w, "new-1");
    expect(r.load(w)).toBe(0);
    r.register("http://a:1", info("w1", []));
    expect(w.endedSinceReport.size).toBe(0);
  });

  it("a worker that refused a task as full stays FULL until it reports again", () => {
    const r = registry();
    const w = r.register("http://a:1", info("w1"));
    r.markFull(w);
    expect(r.health(w)).toBe(WorkerHealth.FULL);
    r.register("http://a:1", info("w1"));
    expect(r.health(w)).toBe(WorkerHealth.ONLINE);
  });
});

describe("the registry's probes of static workers", () => {
  // A worker that answers GetInfo until told to hang (as a worker busy starting hundreds of processes misses the
  // probe's deadline), on a real HTTP/2 server.
  async function worker() {
    let hang = false;
    const sessions = new Set<{ destroy(): void }>();
    const server = createServer(
      connectNodeAdapter({
        routes: (router) =>
          router.service(WorkerService, {
            getInfo: async () => {
              if (hang) await new Promise(() => {});
              return info("busy");
            },
          } as never),
      }),
    );
    server.on("session", (session) => sessions.add(session));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as { port: number }).port;
    const close = () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const session of sessions) session.destroy();
      });
    return { url: `http://127.0.0.1:${port}`, hang: () => (hang = true), close };
  }

  it("a probe that times out leaves a worker seen lately online until CC_OFFLINE_AFTER; a refused one is offline at once", async () => {
    const w = await worker();
    let now = 1_000_000;
    const r = new Registry({ staticWorkers: [`busy=${w.url}`, "gone=http://127.0.0.1:1"], workerToken: undefined, heartbeatMs: 1000, offlineAfterMs: 3000, removeAfterMs: 60_000, logger: silentLogger(), onCapacity: () => {}, now: () => now });
    const probe = () => (r as unknown as { probeAll(): Promise<void> }).probeAll();
    const health = (id: string) => r.health(r.byId(id)!);
    try {
      await probe();
      expect(health("busy")).toBe(WorkerHealth.ONLINE);
      expect(health("gone")).toBe(WorkerHealth.OFFLINE);
      expect(r.byId("gone")!.problem).toMatch(/^unreachable: /);
      w.hang();
      now += 1000;
      await probe();
      // Timed out, but seen a second ago: busy, not lost.
      expect(health("busy")).toBe(WorkerHealth.ONLINE);
      now += 3000;
      await probe();
      expect(health("busy")).toBe(WorkerHealth.OFFLINE);
      expect(r.byId("busy")!.problem).toMatch(/^unreachable: \[DeadlineExceeded\]/);
    } finally {
      r.stop();
      await w.close();
    }
  }, 20_000);
});
