// The Redis store passes the contract against a real redis-server, keeps everything for a second router, refuses
// to start when Redis is down with a message that says so, and says UNAVAILABLE (never a silent loss) when Redis is
// lost mid-run, carrying on once it is back.
import { existsSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REDIS_SERVER, startRedis, type RedisServer } from "../../../test/helpers/redis.js";
import { outputEvent, runTaskStoreContract, storedTask } from "./contract.js";
import { StoreUnavailable, type TaskStore } from "./interface.js";
import { RedisTaskStore, redisOptions } from "./redis.js";

if (!existsSync(REDIS_SERVER)) {
  // CI installs it (.ci/run, scripts/test.sh): a missing server there is a failure, not a skip.
  describe("the redis task store", () => {
    it("needs redis-server (apt-get install redis-server)", () => {
      throw new Error(`${REDIS_SERVER} is missing: apt-get install redis-server (npm test installs it as root)`);
    });
  });
} else {
  let redis: RedisServer;
  let db = 0;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  // Each store a database of its own (0-15), so that tests do not see each other's tasks.
  runTaskStoreContract("redis", {
    make: () => new RedisTaskStore(`${redis.url}/${db++ % 16}`, `router-${db}`),
    reopen: (store: TaskStore) => new RedisTaskStore(`${redis.url}/${(store as RedisTaskStore).where.split("/").pop()}`, "another-router"),
    shared: true,
  });

  describe("the redis task store's failures", () => {
    it("refuses to open when Redis is not there, naming where it looked and what to do", async () => {
      const store = new RedisTaskStore("redis://:secret-password@127.0.0.1:1/0");
      const err = await store.open().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StoreUnavailable);
      expect((err as Error).message).toMatch(/^cannot reach Redis at redis:\/\/127\.0\.0\.1:1\/0 \(.*ECONNREFUSED.*\); start it, or fix CC_STORE/);
      expect((err as Error).message).not.toContain("secret-password");
    });

    it("says UNAVAILABLE while Redis is gone, stores nothing half-way, and works again once it is back", async () => {
      const store = new RedisTaskStore(`${redis.url}/15`);
      await store.open();
      const t = storedTask();
      await store.create(t);
      await store.append(t, [outputEvent(t)]);
      await redis.kill(true);
      const second = outputEvent(t);
      const err = await store.append(t, [second]).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StoreUnavailable);
      expect((err as Error).message).toMatch(/^could not store a task's events in Redis at redis:\/\/127\.0\.0\.1:\d+\/15: /);
      await redis.restart();
      // A new, empty Redis (nothing was saved): the task is gone, and the store says so rather than invent it.
      for (let i = 0; i < 200; i++) {
        const ok = await store.get(t.record.id).then(
          () => true,
          () => false,
        );
        if (ok) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(await store.get(t.record.id)).toBeUndefined();
      await store.close();
    });

    it("reads TLS, Sentinel and credential URLs", () => {
      expect(redisOptions("rediss://user:p%40ss@cache.example:6380/2")).toMatchObject({
        options: { host: "cache.example", port: 6380, db: 2, username: "user", password: "p@ss", tls: { servername: "cache.example" } },
        where: "rediss://cache.example:6380/2",
      });
      expect(redisOptions("redis+sentinel://:pw@s1:26379,s2:26380/mymaster/3").options).toMatchObject({
        sentinels: [
          { host: "s1", port: 26379 },
          { host: "s2", port: 26380 },
        ],
        name: "mymaster",
        db: 3,
        password: "pw",
        sentinelPassword: "pw",
      });
      expect(() => redisOptions("redis+sentinel://s1:26379")).toThrow(/name the Sentinel-managed primary/);
    });
  });
}
