// The workers a router knows. Static ones (CC_WORKERS) are probed with GetInfo; others register themselves and
// send heartbeats (RegisterWorker). Silence marks a worker offline, and longer silence removes a registered one.
// Placement picks the least-loaded online worker whose labels match. A worker's load is what this router placed
// there plus what the worker reports running that this router did not place (tasks of a router that restarted), so
// a router that forgot its tasks does not overfill a worker that still runs them.
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { createClient, type Client } from "@connectrpc/connect";
import { WorkerHealth, type WorkerRecord, WorkerRecordSchema } from "../../gen/claudecluster/v1/router_pb.js";
import { type WorkerInfo, WorkerService, WorkerState } from "../../gen/claudecluster/v1/worker_pb.js";
import { Code, ConnectError, describe, invalidArgument } from "../common/errors.js";
import type { Logger } from "../common/logger.js";
import { SettingsError } from "../common/settings.js";
import { createWorkerTransport } from "../common/worker-client.js";
import { UndecodedWorkerService } from "./undecoded-events.js";

export interface WorkerEntry {
  /** Explicit id, or the worker's own once it answered. */
  id: string;
  url: string;
  static: boolean;
  /** Elastic pools: capacity configured here rather than reported by the worker. */
  poolCapacity: number;
  info: WorkerInfo | undefined;
  lastSeen: Date | undefined;
  /** Why it is offline, if it is. */
  problem: string;
  /** Ids of the tasks this router placed there that have not ended. */
  placed: Set<string>;
  /** Tasks this router placed there that ended since the worker last reported: its report may still list them. */
  endedSinceReport: Set<string>;
  /** It refused a task as full (RESOURCE_EXHAUSTED): counted full until it next reports its load. */
  fullUntilReport: boolean;
  /**
   * load() as last counted; cleared by what changes it (a report, a placement, a release). Counting walks the
   * worker's reported tasks, and health() asks for it for every worker, several times a placement: with thousands
   * of tasks that walk showed in a profile of the router (bench figure 5's large size).
   */
  counted?: number | undefined;
  client: Client<typeof WorkerService>;
  /** Run with its events left undecoded, for forwarding; same connection as `client`. */
  events: Client<typeof UndecodedWorkerService>;
}

export interface RegistryOptions {
  staticWorkers: string[];
  workerToken: string | undefined;
  heartbeatMs: number;
  offlineAfterMs: number;
  removeAfterMs: number;
  logger: Logger;
  /** Called when a worker may have become able to take tasks. */
  onCapacity: () => void;
  /** Called when a worker registered or sent a heartbeat here (a shared store tells the other routers). */
  onRegistered?: (url: string, info: WorkerInfo) => void;
  now?: () => number;
}

/** `URL`, `id=URL` or `id=URL@capacity`. */
export function parseStaticWorker(spec: string): { id: string; url: string; poolCapacity: number } {
  const m = /^(?:([A-Za-z0-9_-]+)=)?(https?:\/\/[^@\s]+?)(?:@(\d+))?$/.exec(spec.trim());
  if (!m) throw new SettingsError(`CC_WORKERS entry "${spec}" is not URL, id=URL or id=URL@capacity`);
  return { id: m[1] ?? "", url: m[2]!, poolCapacity: m[3] ? Number(m[3]) : 0 };
}

const MAX_WORKER_URL_CHARS = 2048;
/** Bound on endedSinceReport for a worker that stopped reporting. */
const MAX_ENDED_SINCE_REPORT = 10_000;
/** Host names can be 253 characters; worker ids default to the host name. */
const MAX_WORKER_ID_CHARS = 253;
const UNPRINTABLE = /[\s\u0000-\u001f\u007f-\u009f]/u;

/**
 * Throws INVALID_ARGUMENT unless `url` is a plain http(s)://host[:port][/path] URL the router can call, and
 * `workerId` an id that is safe in logs, metrics and `cc workers`: what a registering worker says is kept and shown.
 */
export function validateRegistration(url: string, workerId: string): void {
  const badUrl = (problem: string) => invalidArgument("url", `${problem}; give the http:// or https:// URL the router can reach the worker at`);
  if (url.length > MAX_WORKER_URL_CHARS) throw badUrl(`is longer than ${MAX_WORKER_URL_CHARS} characters`);
  if (UNPRINTABLE.test(url)) throw badUrl("contains whitespace or control characters");
  // As written, not as URL() repairs it: "http:///x" would become host "x".
  if (!/^https?:\/\/[^/?#]/i.test(url)) throw badUrl("has no host");
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw badUrl("is not a valid URL");
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") throw badUrl(`uses the scheme "${parsed.protocol}"`);
  if (parsed.username !== "" || parsed.password !== "") throw badUrl("must not carry credentials (the router sends CC_WORKER_TOKEN)");
  if (parsed.hostname === "") throw badUrl("has no host");
  if (parsed.search !== "" || parsed.hash !== "") throw badUrl("must not have a query or fragment");
  if (workerId.length > MAX_WORKER_ID_CHARS) throw invalidArgument("info.worker_id", `is longer than ${MAX_WORKER_ID_CHARS} characters`);
  if (UNPRINTABLE.test(workerId)) throw invalidArgument("info.worker_id", "contains whitespace or control characters; set CC_WORKER_ID to a plain name");
}

export class Registry {
  private readonly entries = new Map<string, WorkerEntry>(); // by URL
  private timer: NodeJS.Timeout | undefined;
  private rotation = 0;
  private readonly now: () => number;

  constructor(private readonly options: RegistryOptions) {
    this.now = options.now ?? Date.now;
    for (const spec of options.staticWorkers) {
      const { id, url, poolCapacity } = parseStaticWorker(spec);
      this.entries.set(url, this.newEntry(id, url, true, poolCapacity));
    }
  }

  /** Starts probing static workers and sweeping silent ones. */
  start(): void {
    void this.probeAll();
    this.timer = setInterval(() => {
      void this.probeAll();
      this.sweep();
    }, this.options.heartbeatMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /**
   * Registration and heartbeat in one: adds the worker or refreshes it. A worker id belongs to one URL at a time:
   * while the worker holding it is online, another URL registering under it is refused (ALREADY_EXISTS); once that
   * worker is offline, the new URL takes the id over (a worker that moved).
   */
  register(url: string, info: WorkerInfo): WorkerEntry {
    validateRegistration(url, info.workerId);
    let entry = this.entries.get(url);
    for (const other of this.entries.values()) {
      if (other === entry || other.id !== info.workerId) continue;
      if (this.health(other) !== WorkerHealth.OFFLINE && !this.silent(other)) {
        throw new ConnectError(
          `worker id ${info.workerId} is already registered by the worker at ${other.url}, which is online; give each worker its own CC_WORKER_ID (this one is at ${url})`,
          Code.AlreadyExists,
        );
      }
      // Tasks still forwarded from the old entry keep their reference to it.
      if (!other.static) this.entries.delete(other.url);
    }
    if (!entry) {
      entry = this.newEntry(info.workerId, url, false, 0);
      this.entries.set(url, entry);
      this.options.logger.info({ workerId: info.workerId, url }, "worker registered");
    }
    this.seen(entry, info);
    this.options.onRegistered?.(url, info);
    return entry;
  }

  /**
   * A worker that registered with another router sharing the store (`seenMs`: when that router last heard from it).
   * Known here from then on like one registered here; what this router heard itself, if newer, wins.
   */
  observe(url: string, info: WorkerInfo, seenMs: number): void {
    if (validateQuietly(url, info.workerId) === false) return;
    let entry = this.entries.get(url);
    if (entry?.static) return;
    if (entry?.lastSeen && entry.lastSeen.getTime() >= seenMs) return;
    if (this.now() - seenMs > this.options.offlineAfterMs) return;
    if (!entry) {
      // Another entry under the same id (a worker that moved) gives way to the newer one.
      for (const other of this.entries.values()) if (other.id === info.workerId && !other.static && other.url !== url) this.entries.delete(other.url);
      entry = this.newEntry(info.workerId, url, false, 0);
      this.entries.set(url, entry);
      this.options.logger.info({ workerId: info.workerId, url }, "worker seen through another router");
    }
    this.seen(entry, info);
    entry.lastSeen = new Date(seenMs);
  }

  list(): WorkerEntry[] {
    return [...this.entries.values()];
  }

  byId(id: string): WorkerEntry | undefined {
    return this.list().find((e) => e.id === id);
  }

  capacity(entry: WorkerEntry): number {
    return entry.poolCapacity || entry.info?.capacity || 0;
  }

  health(entry: WorkerEntry): WorkerHealth {
    if (entry.problem || !entry.info) return WorkerHealth.OFFLINE;
    if (entry.info.state === WorkerState.DRAINING) return WorkerHealth.DRAINING;
    if (entry.info.state !== WorkerState.SERVING) return WorkerHealth.OFFLINE;
    return entry.fullUntilReport || this.load(entry) >= this.capacity(entry) ? WorkerHealth.FULL : WorkerHealth.ONLINE;
  }

  /**
   * Tasks running on the worker: those this router placed, plus those the worker last reported that this router did
   * not place (left from before a restart of the router, or placed by another router). An elastic pool's report
   * comes from whichever instance answered, so only its placements count.
   */
  load(entry: WorkerEntry): number {
    if (entry.poolCapacity > 0 || !entry.info) return entry.placed.size;
    if (entry.counted !== undefined) return entry.counted;
    let foreign = 0;
    for (const id of entry.info.activeTaskIds) if (!entry.placed.has(id) && !entry.endedSinceReport.has(id)) foreign += 1;
    return (entry.counted = entry.placed.size + foreign);
  }

  /** The router placed a task on it. */
  place(entry: WorkerEntry, taskId: string): void {
    entry.placed.add(taskId);
    entry.counted = undefined;
  }

  /** A task placed on it ended (its stream is over): its slot is free now, whatever the last report said. */
  release(entry: WorkerEntry, taskId: string): void {
    entry.counted = undefined;
    entry.placed.delete(taskId);
    if (entry.endedSinceReport.size >= MAX_ENDED_SINCE_REPORT) entry.endedSinceReport.clear();
    entry.endedSinceReport.add(taskId);
  }

  /** It refused a task as full: no more tasks until it reports a free slot. */
  markFull(entry: WorkerEntry): void {
    entry.fullUntilReport = true;
  }

  /** Online workers carrying every label, least loaded first. */
  candidates(labels: Record<string, string>, exclude: ReadonlySet<string> = new Set()): WorkerEntry[] {
    return this.list().filter((e) => {
      const h = this.health(e);
      return (h === WorkerHealth.ONLINE || h === WorkerHealth.FULL) && !exclude.has(e.id) && hasLabels(e, labels);
    });
  }

  /**
   * The least-loaded worker with a free slot among `candidates`, preferring any not in `avoid` (a spread group's
   * workers), then any that `prefer`s (one holding the task's environment snapshot); ties rotate.
   */
  pick(candidates: WorkerEntry[], avoid: ReadonlySet<string> = new Set(), prefer?: (e: WorkerEntry) => boolean): WorkerEntry | undefined {
    const online = candidates.filter((e) => this.health(e) === WorkerHealth.ONLINE);
    const spared = online.filter((e) => !avoid.has(e.id));
    const allowed = spared.length > 0 ? spared : online;
    const preferred = prefer ? allowed.filter(prefer) : [];
    const free = preferred.length > 0 ? preferred : allowed;
    if (free.length === 0) return undefined;
    const load = (e: WorkerEntry) => this.load(e) / Math.max(1, this.capacity(e));
    const best = Math.min(...free.map(load));
    const tied = free.filter((e) => load(e) === best);
    return tied[this.rotation++ % tied.length];
  }

  /** A call to the worker failed in a way that says it is unreachable. */
  markFailed(entry: WorkerEntry, problem: string): void {
    if (!entry.problem) this.options.logger.warn({ workerId: entry.id, problem }, "worker offline");
    entry.problem = problem;
  }

  record(entry: WorkerEntry): WorkerRecord {
    return create(WorkerRecordSchema, {
      id: entry.id,
      url: entry.url,
      health: this.health(entry),
      info: entry.info,
      assigned: entry.placed.size,
      lastSeen: entry.lastSeen ? timestampFromDate(entry.lastSeen) : undefined,
      static: entry.static,
      poolCapacity: entry.poolCapacity,
      problem: entry.problem || entry.info?.problem || "",
    });
  }

  private newEntry(id: string, url: string, isStatic: boolean, poolCapacity: number): WorkerEntry {
    const transport = createWorkerTransport(url, this.options.workerToken);
    return {
      id: id || url,
      url,
      static: isStatic,
      poolCapacity,
      info: undefined,
      lastSeen: undefined,
      problem: isStatic ? "not probed yet" : "",
      placed: new Set(),
      endedSinceReport: new Set(),
      fullUntilReport: false,
      client: createClient(WorkerService, transport),
      events: createClient(UndecodedWorkerService, transport),
    };
  }

  private seen(entry: WorkerEntry, info: WorkerInfo): void {
    const wasUsable = this.health(entry) === WorkerHealth.ONLINE;
    entry.info = info;
    entry.counted = undefined;
    if (!entry.static || entry.id === entry.url) entry.id = info.workerId || entry.id;
    entry.lastSeen = new Date(this.now());
    entry.fullUntilReport = false;
    // What the report no longer lists needs no remembering.
    const reported = new Set(info.activeTaskIds);
    for (const id of entry.endedSinceReport) if (!reported.has(id)) entry.endedSinceReport.delete(id);
    entry.problem = info.state === WorkerState.BROKEN ? info.problem || "the worker reports it cannot run tasks" : "";
    if (!wasUsable && this.health(entry) === WorkerHealth.ONLINE) this.options.onCapacity();
  }

  private async probeAll(): Promise<void> {
    await Promise.all(
      this.list()
        .filter((e) => e.static)
        .map(async (entry) => {
          try {
            this.seen(entry, await entry.client.getInfo({}, { timeoutMs: Math.max(1000, this.options.heartbeatMs) }));
          } catch (err) {
            // A probe that times out on a worker seen lately is a busy worker (one starting hundreds of processes
            // misses the deadline; bench figure 5 lost every worker that way), not a lost one: it is offline once it
            // has been silent for CC_OFFLINE_AFTER, as a registered worker is. Any other failure (refused, reset, a
            // wrong token) says so at once; a hung task stream is noticed by its own PINGs either way.
            if (ConnectError.from(err).code === Code.DeadlineExceeded && this.seenWithin(entry, this.options.offlineAfterMs)) {
              this.options.logger.debug({ workerId: entry.id }, "worker probe timed out; waiting for CC_OFFLINE_AFTER before taking it for offline");
              return;
            }
            this.markFailed(entry, `unreachable: ${describe(err)}`);
          }
        }),
    );
  }

  private seenWithin(entry: WorkerEntry, ms: number): boolean {
    return entry.lastSeen !== undefined && this.now() - entry.lastSeen.getTime() <= ms;
  }

  /** A registered worker whose heartbeats stopped, whether or not the sweep has marked it yet. */
  private silent(entry: WorkerEntry): boolean {
    return !entry.static && entry.lastSeen !== undefined && this.now() - entry.lastSeen.getTime() > this.options.offlineAfterMs;
  }

  private sweep(): void {
    const now = this.now();
    for (const entry of this.list()) {
      if (entry.static || !entry.lastSeen) continue;
      const silentMs = now - entry.lastSeen.getTime();
      if (silentMs > this.options.removeAfterMs && entry.placed.size === 0) {
        this.entries.delete(entry.url);
        this.options.logger.info({ workerId: entry.id }, "worker removed after missed heartbeats");
      } else if (silentMs > this.options.offlineAfterMs) {
        this.markFailed(entry, `no heartbeat for ${Math.round(silentMs / 1000)}s`);
      }
    }
  }
}

function validateQuietly(url: string, workerId: string): boolean {
  try {
    validateRegistration(url, workerId);
    return true;
  } catch {
    return false;
  }
}

function hasLabels(entry: WorkerEntry, labels: Record<string, string>): boolean {
  const have = entry.info?.labels ?? {};
  return Object.entries(labels).every(([k, v]) => have[k] === v);
}
