// Routines in Redis (CC_STORE=redis://…), shared by every router on that Redis: one hash, `cc:routines`, field the
// routine's name, value the Routine message as protobuf bytes with its fire token's hash in front
// (`<64 hex or nothing>:<bytes>`). Creation is HSETNX, so two routers saving one name at once make one routine.
// Several routers each arm the schedules; a scheduled fire's request id (`routine/NAME/<time>/0`) makes the task
// store run it once.
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import type { Redis } from "ioredis";
import { RoutineSchema } from "../../../gen/claudecluster/v1/routines_pb.js";
import { StoreUnavailable } from "../store/interface.js";
import { redisOptions } from "../store/redis.js";
import type { RoutineStore, StoredRoutine } from "./store.js";

const KEY = "cc:routines";

function encode(s: StoredRoutine): Buffer {
  return Buffer.concat([Buffer.from(`${s.fireTokenHash}:`), toBinary(RoutineSchema, s.routine)]);
}

function decode(value: Buffer): StoredRoutine {
  const colon = value.indexOf(0x3a);
  return { fireTokenHash: value.subarray(0, colon).toString(), routine: fromBinary(RoutineSchema, new Uint8Array(value.subarray(colon + 1))) };
}

export class RedisRoutineStore implements RoutineStore {
  readonly kind = "redis";
  readonly where: string;
  private readonly options;
  private redis: Redis | undefined;

  constructor(url: string) {
    const { options, where } = redisOptions(url);
    this.options = options;
    this.where = where;
  }

  async open(): Promise<void> {
    const { Redis } = await import("ioredis");
    const redis = new Redis(this.options);
    let lastError: unknown;
    redis.on("error", (err) => (lastError = err));
    try {
      await redis.connect();
      await redis.ping();
    } catch (err) {
      redis.disconnect();
      throw new StoreUnavailable(`cannot reach Redis at ${this.where} for routines (${String(lastError ?? err)}); start it, or fix CC_STORE`, { cause: err });
    }
    this.redis = redis;
  }

  async close(): Promise<void> {
    this.redis?.disconnect();
    this.redis = undefined;
  }

  private get r(): Redis {
    if (!this.redis) throw new StoreUnavailable(`the routine store at ${this.where} is not open`);
    return this.redis;
  }

  async create(stored: StoredRoutine): Promise<boolean> {
    return (await this.r.hsetnx(KEY, stored.routine.name, encode(stored))) === 1;
  }

  async put(stored: StoredRoutine): Promise<void> {
    await this.r.hset(KEY, stored.routine.name, encode(stored));
  }

  async get(name: string): Promise<StoredRoutine | undefined> {
    const value = await this.r.hgetBuffer(KEY, name);
    return value ? decode(value) : undefined;
  }

  async list(): Promise<StoredRoutine[]> {
    const all = await this.r.hgetallBuffer(KEY);
    return Object.keys(all)
      .sort()
      .map((name) => decode(all[name]!));
  }

  async delete(name: string): Promise<boolean> {
    return (await this.r.hdel(KEY, name)) === 1;
  }
}
