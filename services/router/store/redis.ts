// The task store in Redis (CC_STORE=redis://…, rediss://… for TLS, redis+sentinel://… for a Sentinel-managed
// primary), shared by several routers. Through ioredis; nothing here speaks RESP by hand.
//
// Keys (`cc:` prefix; the per-task ones carry the id in braces):
//   cc:task:{id}     hash: record (Task bytes), request, placement (JSON), cancel, lastSeq, bytes, ended, requestId
//   cc:events:{id}   stream: one entry per event, id `0-<seq>`, field `e` the event's bytes. Redis refuses an entry
//                    id that is not above the last one, so a duplicate or out-of-order append fails in Redis itself;
//                    the commit script also refuses a gap.
//   cc:tasks         sorted set, every score 0: task ids in lexical order, which is creation order (listings, pages)
//   cc:unfinished    set: ids of tasks that have not ended (a router that starts, or takes over, reads it)
//   cc:ended         sorted set, every score 0: ids of ended tasks (retention forgets only these: a running task's
//                    stream is never trimmed or deleted)
//   cc:req:{rid}     string: the task id a request id names
//   cc:lease:{id}    string: the router that owns the task, with an expiry (PX)
// Channels: cc:changed and cc:removed carry task ids (WatchTasks on every router), cc:cancel:<router> a cancel for
// the tasks that router owns.
//
// Three connections: commands; a blocking one for live tails (XREAD BLOCK over every followed stream at once,
// re-issued through CLIENT UNBLOCK when the set changes); and one in subscriber mode.
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import type { Redis, RedisOptions } from "ioredis";
import { TaskSchema, type Task } from "../../../gen/claudecluster/v1/router_pb.js";
import { RunRequestSchema, type RunEvent } from "../../../gen/claudecluster/v1/run_pb.js";
import { WorkerInfoSchema } from "../../../gen/claudecluster/v1/worker_pb.js";
import { eventSize } from "../../common/event-size.js";
import { decodeEvent, encodeEvent, isExited } from "./event-bytes.js";
import {
  type Placement,
  type RetentionLimits,
  SeqConflict,
  type SharedWorker,
  type StoredTask,
  type StoreListener,
  StoreUnavailable,
  type TaskPage,
  type TaskQuery,
  type TaskStore,
} from "./interface.js";
import { createdMs, endedMs, matchesQuery, pastCreatedAfter, retentionVictims } from "./query.js";

const PAGE = 256;
/** Longest a blocking read waits before it is issued again (with the followers of that moment). */
const BLOCK_MS = 1000;
const TASKS = "cc:tasks";
const UNFINISHED = "cc:unfinished";
const ENDED = "cc:ended";
const WORKERS = "cc:workers";
/** A worker no router heard from for this long is dropped from the shared list. */
const WORKER_FORGET_MS = 3_600_000;
const CHANGED = "cc:changed";
const REMOVED = "cc:removed";
const taskKey = (id: string) => `cc:task:{${id}}`;
const eventsKey = (id: string) => `cc:events:{${id}}`;
const requestKey = (requestId: string) => `cc:req:{${requestId}}`;
const leaseKey = (id: string) => `cc:lease:{${id}}`;
const cancelChannel = (router: string) => `cc:cancel:${router}`;

/**
 * Saves a task (and appends its events) after checking that the log ends where the caller says: all or nothing.
 * KEYS: task, events, unfinished, ended. ARGV: expected last seq, new last seq, record, request, placement, cancel,
 * ended ms ("" while running), added bytes, task id, then (seq, bytes) per event. Returns "OK", or the stored last seq
 * on a conflict, or "GONE".
 */
const COMMIT = `
local last = redis.call('HGET', KEYS[1], 'lastSeq')
if not last then return 'GONE' end
if last ~= ARGV[1] then return {last} end
for i = 10, #ARGV, 2 do
  redis.call('XADD', KEYS[2], '0-' .. ARGV[i], 'e', ARGV[i + 1])
end
redis.call('HSET', KEYS[1], 'lastSeq', ARGV[2], 'record', ARGV[3], 'request', ARGV[4], 'placement', ARGV[5], 'cancel', ARGV[6])
redis.call('HINCRBY', KEYS[1], 'bytes', ARGV[8])
if ARGV[7] ~= '' then
  redis.call('HSET', KEYS[1], 'ended', ARGV[7])
  redis.call('SREM', KEYS[3], ARGV[9])
  redis.call('ZADD', KEYS[4], 0, ARGV[9])
end
redis.call('PUBLISH', '${CHANGED}', ARGV[9])
return 'OK'
`;

/**
 * Adds a task unless its request id names one. KEYS: task, request (or the task key again), tasks, unfinished.
 * ARGV: id, request id, record, request, placement, cancel, last seq. Returns "OK" or {existing id}.
 */
const CREATE = `
if ARGV[2] ~= '' then
  local existing = redis.call('GET', KEYS[2])
  if existing then return {existing} end
end
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.error_reply('task ' .. ARGV[1] .. ' is already stored') end
redis.call('HSET', KEYS[1], 'record', ARGV[3], 'request', ARGV[4], 'placement', ARGV[5], 'cancel', ARGV[6], 'lastSeq', ARGV[7], 'bytes', 0, 'requestId', ARGV[2])
if ARGV[2] ~= '' then redis.call('SET', KEYS[2], ARGV[1]) end
redis.call('ZADD', KEYS[3], 0, ARGV[1])
redis.call('SADD', KEYS[4], ARGV[1])
redis.call('PUBLISH', '${CHANGED}', ARGV[1])
return 'OK'
`;

/** Forgets an ended task. KEYS: task, events, tasks, ended. ARGV: id. */
const FORGET = `
if redis.call('HEXISTS', KEYS[1], 'ended') == 0 then return 0 end
local rid = redis.call('HGET', KEYS[1], 'requestId')
if rid and rid ~= '' then
  local key = 'cc:req:{' .. rid .. '}'
  if redis.call('GET', key) == ARGV[1] then redis.call('DEL', key) end
end
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('PUBLISH', '${REMOVED}', ARGV[1])
return 1
`;

/** Extends a lease if `owner` holds it, or takes it again if it expired and no one took it. KEYS: lease. ARGV: owner, ttl ms. */
const RENEW = `
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
`;

/** Takes a lease unless another owner holds it. KEYS: lease. ARGV: owner, ttl ms. */
const CLAIM = `
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
`;

/** Drops a lease if `owner` holds it. KEYS: lease. ARGV: owner. */
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

type Scripted = Redis & {
  ccCommit(...args: (string | Buffer)[]): Promise<string | string[]>;
  ccCreate(...args: (string | Buffer)[]): Promise<string | string[]>;
  ccForget(...args: string[]): Promise<number>;
  ccRenew(...args: string[]): Promise<number>;
  ccClaim(...args: string[]): Promise<number>;
  ccRelease(...args: string[]): Promise<number>;
};

/** A Redis URL in ioredis' terms: redis://, rediss:// (TLS), redis+sentinel:// and rediss+sentinel://. */
export function redisOptions(url: string): { options: RedisOptions; where: string } {
  // A Sentinel URL lists hosts (`h1:26379,h2:26379`), which URL() does not take: they are read apart.
  const hostList = /^[a-z+]+:\/\/(?:[^@/]*@)?([^/]*)/.exec(url)?.[1] ?? "";
  let parsed: URL;
  try {
    parsed = new URL(url.includes("+sentinel://") ? url.replace(hostList, "sentinels") : url);
  } catch {
    throw new StoreUnavailable("CC_STORE is not a valid URL; use redis://[user:password@]host:port[/db], rediss://… for TLS, or redis+sentinel://host:port,host:port/<primary name>");
  }
  const tls = parsed.protocol === "rediss:" || parsed.protocol === "rediss+sentinel:";
  const sentinel = parsed.protocol.endsWith("+sentinel:");
  const username = decodeURIComponent(parsed.username);
  const password = decodeURIComponent(parsed.password);
  const credentials = { ...(username ? { username } : {}), ...(password ? { password } : {}) };
  // Never in logs or messages: the password.
  const where = `${parsed.protocol}//${sentinelHosts(url, parsed) ?? parsed.host}${parsed.pathname}`;
  const common: RedisOptions = {
    ...credentials,
    ...(tls ? { tls: { servername: parsed.hostname } } : {}),
    lazyConnect: true,
    // Commands fail at once while the connection is down rather than queueing without bound.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 5000,
    retryStrategy: (times) => Math.min(5000, 100 * 2 ** Math.min(times, 6)),
  };
  if (!sentinel) {
    const db = Number(parsed.pathname.slice(1) || "0");
    return { options: { ...common, host: parsed.hostname, port: Number(parsed.port || 6379), db }, where };
  }
  // redis+sentinel://[user:password@]host1:port1,host2:port2/<name>[/db]: ioredis asks the sentinels for the primary.
  const hosts = hostList;
  const [name, db] = parsed.pathname.slice(1).split("/");
  if (!name) throw new StoreUnavailable(`CC_STORE=${where}: name the Sentinel-managed primary after the hosts (redis+sentinel://host:26379/mymaster)`);
  const sentinels = hosts.split(",").map((h) => {
    const [host, port] = h.split(":");
    return { host: host!, port: Number(port || 26379) };
  });
  return {
    options: {
      ...common,
      sentinels,
      name,
      db: Number(db || "0"),
      ...(password ? { sentinelPassword: password } : {}),
      ...(tls ? { enableTLSForSentinelMode: true, sentinelTLS: { servername: sentinels[0]!.host } } : {}),
    },
    where,
  };
}

function sentinelHosts(url: string, parsed: URL): string | undefined {
  if (!parsed.protocol.endsWith("+sentinel:")) return undefined;
  return /^[a-z+]+:\/\/(?:[^@/]*@)?([^/]*)/.exec(url)?.[1];
}

interface TailWaiter {
  key: string;
  afterId: string;
  resolve: (entries: [Buffer, Buffer[]][]) => void;
}

/** Live tails of task streams: one blocking XREAD on a connection of its own for every follower waiting. */
class StreamTail {
  private readonly waiters = new Set<TailWaiter>();
  private blockedId: number | undefined;
  private blocked = false;
  private wake: (() => void) | undefined;
  private closed = false;
  private running: Promise<void> | undefined;

  constructor(
    private readonly conn: Redis,
    private readonly control: Redis,
  ) {}

  start(): void {
    this.running = this.loop();
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const w of this.waiters) w.resolve([]);
    this.waiters.clear();
    this.wake?.();
    await this.unblock();
    await this.running;
  }

  /** Entries of `key` after `afterId`, once there are some; [] when `signal` aborts. */
  next(key: string, afterId: string, signal?: AbortSignal): Promise<[Buffer, Buffer[]][]> {
    return new Promise((resolve) => {
      const waiter: TailWaiter = {
        key,
        afterId,
        resolve: (entries) => {
          signal?.removeEventListener("abort", onAbort);
          this.waiters.delete(waiter);
          resolve(entries);
        },
      };
      const onAbort = () => waiter.resolve([]);
      if (signal?.aborted || this.closed) return resolve([]);
      signal?.addEventListener("abort", onAbort, { once: true });
      this.waiters.add(waiter);
      // A read already blocked does not cover this stream: have it read again with it.
      if (this.blocked) void this.unblock();
      this.wake?.();
    });
  }

  private async unblock(): Promise<void> {
    if (!this.blocked || this.blockedId === undefined) return;
    await this.control.client("UNBLOCK", this.blockedId).catch(() => undefined);
  }

  private async loop(): Promise<void> {
    while (!this.closed) {
      if (this.waiters.size === 0) {
        await new Promise<void>((r) => (this.wake = r));
        this.wake = undefined;
        continue;
      }
      // The lowest position asked for, per stream.
      const from = new Map<string, string>();
      for (const w of this.waiters) {
        const have = from.get(w.key);
        if (have === undefined || compareIds(w.afterId, have) < 0) from.set(w.key, w.afterId);
      }
      let result: [Buffer, [Buffer, Buffer[]][]][] | null = null;
      try {
        this.blockedId ??= Number(await this.conn.client("ID"));
        this.blocked = true;
        // Woken early (CLIENT UNBLOCK) when a follower of another stream comes; the bound covers one that came
        // just before the read reached Redis.
        result = (await this.conn.xreadBuffer("COUNT", PAGE, "BLOCK", BLOCK_MS, "STREAMS", ...from.keys(), ...from.values())) as typeof result;
      } catch {
        // The connection dropped (its id changes) or the read was cut: wait a little, then read again.
        this.blockedId = undefined;
        this.blocked = false;
        if (!this.closed) await new Promise((r) => setTimeout(r, 200));
        continue;
      } finally {
        this.blocked = false;
      }
      const streams = (result ?? []) as [Buffer, [Buffer, Buffer[]][]][];
      for (const [keyBuf, entries] of streams) {
        const key = keyBuf.toString();
        for (const w of [...this.waiters]) {
          if (w.key !== key) continue;
          const mine = entries.filter(([id]) => compareIds(id.toString(), w.afterId) > 0);
          if (mine.length > 0) w.resolve(mine);
        }
      }
    }
  }
}

/** Orders stream ids `ms-seq`. */
function compareIds(a: string, b: string): number {
  const [am, as] = a.split("-").map(BigInt) as [bigint, bigint];
  const [bm, bs] = b.split("-").map(BigInt) as [bigint, bigint];
  return am !== bm ? (am < bm ? -1 : 1) : as === bs ? 0 : as < bs ? -1 : 1;
}

const seqOfId = (id: Buffer | string) => BigInt(id.toString().split("-")[1]!);

export class RedisTaskStore implements TaskStore {
  readonly kind = "redis";
  readonly where: string;
  private readonly options: RedisOptions;
  private redis: Scripted | undefined;
  private tail: StreamTail | undefined;
  private subscriber: Redis | undefined;
  private readonly listeners = new Set<StoreListener>();
  private readonly cancelListeners = new Set<(taskId: string, reason: string) => void>();

  /** `routerId`: this router, for the cancels other routers send it. */
  constructor(
    url: string,
    private readonly routerId = "router",
  ) {
    const { options, where } = redisOptions(url);
    this.options = options;
    this.where = where;
  }

  async open(): Promise<void> {
    const { Redis } = await import("ioredis");
    const main = new Redis(this.options) as Scripted;
    let lastError: unknown;
    main.on("error", (err) => (lastError = err));
    main.defineCommand("ccCommit", { numberOfKeys: 4, lua: COMMIT });
    main.defineCommand("ccCreate", { numberOfKeys: 4, lua: CREATE });
    main.defineCommand("ccForget", { numberOfKeys: 4, lua: FORGET });
    main.defineCommand("ccRenew", { numberOfKeys: 1, lua: RENEW });
    main.defineCommand("ccClaim", { numberOfKeys: 1, lua: CLAIM });
    main.defineCommand("ccRelease", { numberOfKeys: 1, lua: RELEASE });
    try {
      await main.connect();
      await main.ping();
    } catch (err) {
      main.disconnect();
      const why = lastError ?? err;
      throw new StoreUnavailable(`cannot reach Redis at ${this.where} (${describeRedisError(why)}); start it, or fix CC_STORE (and its credentials)`, { cause: why });
    }
    const blocking = main.duplicate();
    blocking.on("error", () => undefined);
    const subscriber = main.duplicate();
    subscriber.on("error", () => undefined);
    try {
      await Promise.all([blocking.connect(), subscriber.connect()]);
    } catch (err) {
      main.disconnect();
      blocking.disconnect();
      subscriber.disconnect();
      throw new StoreUnavailable(`cannot open more connections to Redis at ${this.where} (${describeRedisError(err)})`, { cause: err });
    }
    this.redis = main;
    this.tail = new StreamTail(blocking, main);
    this.tail.start();
    this.subscriber = subscriber;
    subscriber.on("message", (channel: string, message: string) => this.onMessage(channel, message));
    // Before any listener: a change made once open() returned is heard.
    await subscriber.subscribe(cancelChannel(this.routerId), CHANGED, REMOVED);
  }

  async close(): Promise<void> {
    await this.tail?.close();
    this.subscriber?.disconnect();
    this.redis?.disconnect();
    this.redis = undefined;
  }

  async create(task: StoredTask): Promise<{ created: true } | { created: false; existing: Task }> {
    const r = task.record;
    const outcome = await this.call("save a new task", (redis) =>
      redis.ccCreate(
        taskKey(r.id),
        r.requestId ? requestKey(r.requestId) : taskKey(r.id),
        TASKS,
        UNFINISHED,
        r.id,
        r.requestId,
        Buffer.from(toBinary(TaskSchema, r)),
        Buffer.from(toBinary(RunRequestSchema, task.request)),
        placementJson(task.placement),
        task.cancelReason ?? "",
        r.lastSeq.toString(),
      ),
    );
    if (outcome === "OK") return { created: true };
    const existing = await this.get(String(outcome[0]));
    if (!existing) throw new StoreUnavailable(`the task store names task ${outcome[0]} for request id ${r.requestId}, and does not have it`);
    return { created: false, existing: existing.record };
  }

  async get(taskId: string): Promise<StoredTask | undefined> {
    const fields = await this.call("read a task", (redis) => redis.hmgetBuffer(taskKey(taskId), "record", "request", "placement", "cancel"));
    return fields[0] ? storedTask(fields) : undefined;
  }

  async byRequestId(requestId: string): Promise<Task | undefined> {
    if (!requestId) return undefined;
    const id = await this.call("read a task", (redis) => redis.get(requestKey(requestId)));
    return id ? (await this.get(id))?.record : undefined;
  }

  async save(task: StoredTask): Promise<void> {
    return this.append(task, []);
  }

  async append(task: StoredTask, events: readonly RunEvent[]): Promise<void> {
    const r = task.record;
    const first = events.length > 0 ? events[0]!.seq : r.lastSeq + 1n;
    const args: (string | Buffer)[] = [];
    let bytes = 0;
    for (let i = 0; i < events.length; i++) {
      const event = events[i]!;
      if (event.seq !== first + BigInt(i)) throw new SeqConflict(r.id, first + BigInt(i), event.seq);
      args.push(event.seq.toString(), Buffer.from(encodeEvent(event)));
      bytes += eventSize(event);
    }
    if (r.lastSeq !== first - 1n + BigInt(events.length)) throw new SeqConflict(r.id, first - 1n + BigInt(events.length), r.lastSeq);
    // Encoded now, as the caller's record is at this moment.
    const record = Buffer.from(toBinary(TaskSchema, r));
    const request = Buffer.from(toBinary(RunRequestSchema, task.request));
    const ended = endedMs(r);
    const outcome = await this.call("store a task's events", (redis) =>
      redis.ccCommit(
        taskKey(r.id),
        eventsKey(r.id),
        UNFINISHED,
        ENDED,
        (first - 1n).toString(),
        r.lastSeq.toString(),
        record,
        request,
        placementJson(task.placement),
        task.cancelReason ?? "",
        ended === undefined ? "" : String(ended),
        String(bytes),
        r.id,
        ...args,
      ),
    );
    if (outcome === "GONE") throw new Error(`task ${r.id} is not stored`);
    if (outcome !== "OK") throw new SeqConflict(r.id, BigInt(String(outcome[0])) + 1n, first);
  }

  async read(taskId: string, afterSeq: bigint, limit: number): Promise<RunEvent[]> {
    const entries = await this.call("read a task's events", (redis) => redis.xrangeBuffer(eventsKey(taskId), `(0-${afterSeq}`, "+", "COUNT", limit));
    return entries.map(([id, fields]) => decodeEvent(fields[1]!, taskId, seqOfId(id)));
  }

  async *follow(taskId: string, afterSeq: bigint, signal?: AbortSignal): AsyncGenerator<RunEvent> {
    let after = afterSeq;
    while (!signal?.aborted) {
      const events = await this.read(taskId, after, PAGE);
      if (events.length === 0) {
        const exists = await this.call("read a task", (redis) => redis.exists(taskKey(taskId)));
        if (!exists) return;
        // A blocking read for what comes next (it returns at once if something came meanwhile).
        const entries = await this.tail!.next(eventsKey(taskId), `0-${after}`, signal);
        for (const [id, fields] of entries) events.push(decodeEvent(fields[1]!, taskId, seqOfId(id)));
      }
      for (const event of events) {
        if (event.seq !== after + 1n) break;
        after = event.seq;
        yield event;
        if (isExited(event)) return;
      }
    }
  }

  async list(query: TaskQuery): Promise<TaskPage> {
    const below = query.olderThan;
    const tasks: Task[] = [];
    let max = below !== undefined ? `(${below}` : "+";
    for (;;) {
      const ids = await this.call("list tasks", (redis) => redis.zrevrangebylex(TASKS, max, "-", "LIMIT", 0, PAGE));
      if (ids.length === 0) return { tasks, more: false };
      const records = await this.call("list tasks", (redis) => {
        const pipeline = redis.pipeline();
        for (const id of ids) pipeline.hgetBuffer(taskKey(id), "record");
        return pipeline.exec();
      });
      for (const [, value] of records ?? []) {
        if (!value) continue;
        const record = fromBinary(TaskSchema, value as Buffer);
        // Ids sort by creation time: well past `created_after`, every later one is older still.
        if (pastCreatedAfter(record, query)) return { tasks, more: false };
        if (!matchesQuery(record, query)) continue;
        if (tasks.length >= query.limit) return { tasks, more: true };
        tasks.push(record);
      }
      max = `(${ids.at(-1)!}`;
    }
  }

  async unfinished(): Promise<StoredTask[]> {
    const ids = (await this.call("list unfinished tasks", (redis) => redis.smembers(UNFINISHED))).sort();
    const out: StoredTask[] = [];
    for (const id of ids) {
      const task = await this.get(id);
      if (task && !task.record.endedAt) out.push(task);
    }
    return out;
  }

  async logBytes(taskId: string): Promise<number> {
    return Number((await this.call("read a task", (redis) => redis.hget(taskKey(taskId), "bytes"))) ?? 0);
  }

  async applyRetention(limits: RetentionLimits, nowMs: number): Promise<string[]> {
    const ids = await this.call("forget old tasks", (redis) => redis.zrangebylex(ENDED, "-", "+"));
    if (ids.length === 0) return [];
    const rows = await this.call("forget old tasks", (redis) => {
      const pipeline = redis.pipeline();
      for (const id of ids) pipeline.hmget(taskKey(id), "bytes", "ended");
      return pipeline.exec();
    });
    const ended = ids.map((id, i) => {
      const [bytes, endedAt] = (rows?.[i]?.[1] as (string | null)[] | undefined) ?? [];
      return { id, bytes: Number(bytes ?? 0), endedMs: Number(endedAt ?? nowMs) };
    });
    const victims = retentionVictims(ended, limits, nowMs);
    const removed: string[] = [];
    for (const id of victims) {
      // Several routers may apply retention at once: each task is forgotten once.
      if ((await this.call("forget old tasks", (redis) => redis.ccForget(taskKey(id), eventsKey(id), TASKS, ENDED, id))) === 1) removed.push(id);
    }
    return removed;
  }

  watch(listener: StoreListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async claim(taskId: string, owner: string, ttlMs: number): Promise<boolean> {
    return (await this.call("take a task's lease", (redis) => redis.ccClaim(leaseKey(taskId), owner, String(ttlMs)))) === 1;
  }

  async renew(owner: string, taskIds: readonly string[], ttlMs: number): Promise<string[]> {
    if (taskIds.length === 0) return [];
    const results = await this.call("renew leases", (redis) => {
      const pipeline = redis.pipeline();
      for (const id of taskIds) (pipeline as unknown as Scripted).ccRenew(leaseKey(id), owner, String(ttlMs));
      return pipeline.exec();
    });
    return taskIds.filter((_, i) => results?.[i]?.[1] !== 1);
  }

  async release(taskId: string, owner: string): Promise<void> {
    await this.call("release a lease", (redis) => redis.ccRelease(leaseKey(taskId), owner));
  }

  async leaseHolder(taskId: string): Promise<string | undefined> {
    return (await this.call("read a lease", (redis) => redis.get(leaseKey(taskId)))) ?? undefined;
  }

  async signalCancel(taskId: string, reason: string): Promise<boolean> {
    const holder = await this.leaseHolder(taskId);
    if (!holder) return false;
    const heard = await this.call("send a cancel", (redis) => redis.publish(cancelChannel(holder), JSON.stringify({ taskId, reason })));
    return heard > 0;
  }

  onCancel(listener: (taskId: string, reason: string) => void): () => void {
    this.cancelListeners.add(listener);
    return () => this.cancelListeners.delete(listener);
  }

  async shareWorker(worker: SharedWorker): Promise<void> {
    const value = JSON.stringify({ info: Buffer.from(toBinary(WorkerInfoSchema, worker.info)).toString("base64"), seenMs: worker.seenMs });
    await this.call("share a worker", (redis) => redis.hset(WORKERS, worker.url, value));
  }

  async sharedWorkers(): Promise<SharedWorker[]> {
    const all = await this.call("read the shared workers", (redis) => redis.hgetall(WORKERS));
    const now = Date.now();
    const out: SharedWorker[] = [];
    for (const [url, value] of Object.entries(all)) {
      try {
        const { info, seenMs } = JSON.parse(value) as { info: string; seenMs: number };
        if (now - seenMs > WORKER_FORGET_MS) {
          await this.call("forget a worker", (redis) => redis.hdel(WORKERS, url));
          continue;
        }
        out.push({ url, info: fromBinary(WorkerInfoSchema, Buffer.from(info, "base64")), seenMs });
      } catch {
        // Not one of ours: left alone.
      }
    }
    return out;
  }

  private onMessage(channel: string, message: string): void {
    if (channel === CHANGED) for (const l of this.listeners) l.changed(message);
    else if (channel === REMOVED) for (const l of this.listeners) l.removed(message);
    else if (channel === cancelChannel(this.routerId)) {
      try {
        const { taskId, reason } = JSON.parse(message) as { taskId: string; reason: string };
        for (const l of this.cancelListeners) l(taskId, reason);
      } catch {
        // Not one of ours.
      }
    }
  }

  /** Runs Redis commands; a failure becomes StoreUnavailable saying what could not be done, and why. */
  private async call<T>(what: string, body: (redis: Scripted) => Promise<T>): Promise<T> {
    const redis = this.redis;
    if (!redis) throw new StoreUnavailable(`the task store (Redis at ${this.where}) is not open`);
    try {
      return await body(redis);
    } catch (err) {
      if (err instanceof SeqConflict || err instanceof StoreUnavailable) throw err;
      throw new StoreUnavailable(`could not ${what} in Redis at ${this.where}: ${describeRedisError(err)}`, { cause: err });
    }
  }
}

function describeRedisError(err: unknown): string {
  const e = err as { code?: string; message?: string };
  if (e.message?.includes("Stream isn't writeable") || e.message?.includes("enableOfflineQueue")) return "the connection is down; the router reconnects by itself";
  return e.code ? `${e.code}${e.message && !e.message.includes(e.code) ? `: ${e.message}` : ""}` : (e.message ?? String(err));
}

function placementJson(placement: Placement | undefined): string {
  return placement ? JSON.stringify({ ...placement, workerSeq: placement.workerSeq.toString() }) : "";
}

function storedTask(fields: (Buffer | null)[]): StoredTask {
  const [record, request, placement, cancel] = fields;
  const p = placement && placement.length > 0 ? (JSON.parse(placement.toString()) as Omit<Placement, "workerSeq"> & { workerSeq: string }) : undefined;
  return {
    record: fromBinary(TaskSchema, record!),
    request: fromBinary(RunRequestSchema, request!),
    placement: p ? { ...p, workerSeq: BigInt(p.workerSeq) } : undefined,
    ...(cancel && cancel.length > 0 ? { cancelReason: cancel.toString() } : {}),
  };
}
