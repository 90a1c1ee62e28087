// The task store in a SQLite file (`tasks.db` in CC_DATA_DIR), through Node's built-in node:sqlite: no native addon
// to build. One router per file: the database is opened in EXCLUSIVE locking mode, so the operating system's lock
// (released when the process dies, even by SIGKILL) keeps a second router out with a clear message instead of two
// routers both believing they run the same tasks.
//
// WAL journal with synchronous=NORMAL: a commit is an append to the WAL, and a committed batch survives the router
// being killed (a power cut may lose the last ones). One transaction per batch: every task's events appended in one
// turn of the event loop are written together, so 1,000 streams cost one commit per turn, not 1,000.
// Records are protobuf bytes beside the columns that listings filter on; events are rows (task_id, seq, bytes) whose
// primary key refuses a duplicate.
import { chmodSync, mkdirSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { DatabaseSync, type StatementSync } from "node:sqlite";
import { clone, fromBinary, toBinary } from "@bufbuild/protobuf";
import { TaskSchema, type Task } from "../../../gen/claudecluster/v1/router_pb.js";
import { RunRequestSchema, type RunEvent } from "../../../gen/claudecluster/v1/run_pb.js";
import { eventSize } from "../../common/event-size.js";
import { decodeEvent, encodeEvent } from "./event-bytes.js";
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
import { Leases } from "./leases.js";
import { LocalFeed } from "./local-follow.js";
import { createdMs, endedMs, matchesQuery, retentionVictims } from "./query.js";

/** Bumped when the tables change; a file of another version is refused rather than misread. */
const SCHEMA_VERSION = "1";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tasks (
  id TEXT PRIMARY KEY,
  request_id TEXT NOT NULL,
  status INTEGER NOT NULL,
  worker_id TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  ended_ms INTEGER,
  last_seq INTEGER NOT NULL,
  log_bytes INTEGER NOT NULL DEFAULT 0,
  record BLOB NOT NULL,
  request BLOB NOT NULL,
  placement TEXT,
  cancel_reason TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS tasks_by_request ON tasks (request_id) WHERE request_id <> '';
CREATE INDEX IF NOT EXISTS tasks_unfinished ON tasks (id) WHERE ended_ms IS NULL;
CREATE TABLE IF NOT EXISTS events (
  task_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  bytes BLOB NOT NULL,
  PRIMARY KEY (task_id, seq)
) WITHOUT ROWID;
`;

/** SQLite's primary result codes that say what is wrong with the file (https://sqlite.org/rescode.html). */
const SQLITE_BUSY = 5;
const SQLITE_LOCKED = 6;
const SQLITE_CORRUPT = 11;
const SQLITE_CANTOPEN = 14;
const SQLITE_NOTADB = 26;
const SQLITE_READONLY = 8;
const SQLITE_IOERR = 10;
const SQLITE_FULL = 13;

interface TaskRow {
  record: Uint8Array;
  request: Uint8Array;
  placement: string | null;
  cancel_reason: string | null;
}

export const SQLITE_FILE = "tasks.db";

export class SqliteTaskStore implements TaskStore {
  readonly kind = "sqlite";
  readonly where: string;
  private db: DatabaseSync | undefined;
  private readonly statements = new Map<string, StatementSync>();
  private readonly listeners = new Set<StoreListener>();
  private readonly feed = new LocalFeed();
  private readonly leases = new Leases();
  /** Writes waiting for the next transaction (batched). */
  private readonly pending: { what: string; body: () => void; resolve: () => void; reject: (err: unknown) => void }[] = [];

  constructor(private readonly dataDir: string) {
    this.where = join(dataDir, SQLITE_FILE);
  }

  async open(): Promise<void> {
    try {
      mkdirSync(this.dataDir, { recursive: true, mode: 0o700 });
    } catch (err) {
      throw new StoreUnavailable(`cannot create the data directory ${this.dataDir} (${(err as NodeJS.ErrnoException).code ?? String(err)}); set CC_DATA_DIR to a directory the router can write`, { cause: err });
    }
    try {
      const db = new DatabaseSync(this.where, { timeout: 0 });
      this.db = db;
      db.exec("PRAGMA locking_mode = EXCLUSIVE");
      db.exec("PRAGMA journal_mode = WAL");
      db.exec("PRAGMA synchronous = NORMAL");
      db.exec(SCHEMA);
      const version = (db.prepare("SELECT value FROM meta WHERE key = 'schema'").get() as { value: string } | undefined)?.value;
      if (version !== undefined && version !== SCHEMA_VERSION) {
        throw new StoreUnavailable(`${this.where} holds task store version ${version}, and this router reads version ${SCHEMA_VERSION}; run the router version that wrote it, or move the file aside`);
      }
      // A write, so that the exclusive lock is taken now rather than at the first task.
      db.prepare("INSERT INTO meta (key, value) VALUES ('schema', ?), ('opened_by', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value").run(
        SCHEMA_VERSION,
        `${hostname()} pid ${process.pid} at ${new Date().toISOString()}`,
      );
      chmodSync(this.where, 0o600);
    } catch (err) {
      this.db?.close();
      this.db = undefined;
      if (err instanceof StoreUnavailable) throw err;
      throw this.explain(err, "open");
    }
  }

  async close(): Promise<void> {
    // Writes already taken are written before the file closes.
    if (this.pending.length > 0) this.writeBatch();
    this.feed.wakeAll();
    this.statements.clear();
    this.db?.close();
    this.db = undefined;
  }

  async create(task: StoredTask): Promise<{ created: true } | { created: false; existing: Task }> {
    const r = task.record;
    return this.run("save a new task", () => {
      if (r.requestId) {
        const row = this.statement("SELECT record FROM tasks WHERE request_id = ?").get(r.requestId) as { record: Uint8Array } | undefined;
        if (row) return { created: false as const, existing: fromBinary(TaskSchema, row.record) };
      }
      this.statement(
        `INSERT INTO tasks (id, request_id, status, worker_id, created_ms, ended_ms, last_seq, record, request, placement, cancel_reason)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ).run(r.id, r.requestId, r.status, r.workerId, createdMs(r), endedMs(r) ?? null, r.lastSeq, toBinary(TaskSchema, r), toBinary(RunRequestSchema, task.request), placementJson(task.placement), task.cancelReason ?? null);
      this.changed(r);
      return { created: true as const };
    });
  }

  async get(taskId: string): Promise<StoredTask | undefined> {
    return this.run("read a task", () => {
      const row = this.statement("SELECT record, request, placement, cancel_reason FROM tasks WHERE id = ?").get(taskId) as TaskRow | undefined;
      return row ? storedTask(row) : undefined;
    });
  }

  async byRequestId(requestId: string): Promise<Task | undefined> {
    if (!requestId) return undefined;
    return this.run("read a task", () => {
      const row = this.statement("SELECT record FROM tasks WHERE request_id = ?").get(requestId) as { record: Uint8Array } | undefined;
      return row ? fromBinary(TaskSchema, row.record) : undefined;
    });
  }

  async save(task: StoredTask): Promise<void> {
    return this.append(task, []);
  }

  async append(task: StoredTask, events: readonly RunEvent[]): Promise<void> {
    const taskId = task.record.id;
    const r = task.record;
    const first = events.length > 0 ? events[0]!.seq : r.lastSeq + 1n;
    // Encoded now, as the caller's task is at this moment; written with the next batch.
    const rows: [bigint, Uint8Array][] = [];
    let bytes = 0;
    for (let i = 0; i < events.length; i++) {
      const event = events[i]!;
      if (event.seq !== first + BigInt(i)) throw new SeqConflict(taskId, first + BigInt(i), event.seq);
      rows.push([event.seq, encodeEvent(event)]);
      bytes += eventSize(event);
    }
    const last = first - 1n + BigInt(events.length);
    if (r.lastSeq !== last) throw new SeqConflict(taskId, last, r.lastSeq);
    const columns = this.columns(task);
    const copy = this.listeners.size > 0 ? clone(TaskSchema, r) : undefined;
    await this.batched("store a task's events", () => {
      this.checkLastSeq(taskId, first - 1n);
      const insert = this.statement("INSERT INTO events (task_id, seq, bytes) VALUES (?, ?, ?)");
      for (const [seq, data] of rows) insert.run(taskId, seq, data);
      this.update(columns, bytes);
    });
    if (copy) for (const l of this.listeners) l.changed(taskId, copy);
    if (rows.length > 0) this.feed.wake(taskId);
  }

  async read(taskId: string, afterSeq: bigint, limit: number): Promise<RunEvent[]> {
    return this.run("read a task's events", () => {
      const rows = this.statement("SELECT seq, bytes FROM events WHERE task_id = ? AND seq > ? ORDER BY seq LIMIT ?", true).all(taskId, afterSeq, limit) as {
        seq: bigint;
        bytes: Uint8Array;
      }[];
      return rows.map((row) => decodeEvent(row.bytes, taskId, row.seq));
    });
  }

  follow(taskId: string, afterSeq: bigint, signal?: AbortSignal): AsyncGenerator<RunEvent> {
    return this.feed.follow(
      taskId,
      afterSeq,
      signal,
      (after, limit) => this.read(taskId, after, limit),
      () => this.run("read a task", () => this.statement("SELECT 1 AS found FROM tasks WHERE id = ?").get(taskId) !== undefined),
    );
  }

  async list(query: TaskQuery): Promise<TaskPage> {
    const below = query.olderThan;
    return this.run("list tasks", () => {
      const where: string[] = [];
      const params: (string | number)[] = [];
      if (below !== undefined) {
        where.push("id < ?");
        params.push(below);
      }
      if (query.statuses && query.statuses.length > 0) {
        where.push(`status IN (${query.statuses.map(() => "?").join(", ")})`);
        params.push(...query.statuses);
      }
      if (query.workerId) {
        where.push("worker_id = ?");
        params.push(query.workerId);
      }
      if (query.createdAfterMs !== undefined) {
        where.push("created_ms >= ?");
        params.push(query.createdAfterMs);
      }
      const sql = `SELECT record FROM tasks ${where.length > 0 ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY id DESC`;
      const tasks: Task[] = [];
      // Labels are inside the record: filtered here, reading rows only until the page is full.
      for (const row of this.db!.prepare(sql).iterate(...params) as Iterable<{ record: Uint8Array }>) {
        const record = fromBinary(TaskSchema, row.record);
        if (!matchesQuery(record, query)) continue;
        if (tasks.length >= query.limit) return { tasks, more: true };
        tasks.push(record);
      }
      return { tasks, more: false };
    });
  }

  async unfinished(): Promise<StoredTask[]> {
    return this.run("list unfinished tasks", () =>
      (this.statement("SELECT record, request, placement, cancel_reason FROM tasks WHERE ended_ms IS NULL ORDER BY id").all() as unknown as TaskRow[]).map(storedTask),
    );
  }

  async logBytes(taskId: string): Promise<number> {
    return this.run("read a task", () => (this.statement("SELECT log_bytes FROM tasks WHERE id = ?").get(taskId) as { log_bytes: number } | undefined)?.log_bytes ?? 0);
  }

  async applyRetention(limits: RetentionLimits, nowMs: number): Promise<string[]> {
    const removed = this.run("forget old tasks", () => {
      const ended = this.statement("SELECT id, log_bytes AS bytes, ended_ms AS endedMs FROM tasks WHERE ended_ms IS NOT NULL ORDER BY id").all() as {
        id: string;
        bytes: number;
        endedMs: number;
      }[];
      const victims = retentionVictims(ended, limits, nowMs);
      if (victims.length === 0) return victims;
      this.transaction(() => {
        const events = this.statement("DELETE FROM events WHERE task_id = ?");
        const task = this.statement("DELETE FROM tasks WHERE id = ?");
        for (const id of victims) {
          events.run(id);
          task.run(id);
        }
      });
      return victims;
    });
    for (const id of removed) {
      this.feed.wake(id);
      for (const l of this.listeners) l.removed(id);
    }
    return removed;
  }

  watch(listener: StoreListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async claim(taskId: string, owner: string, ttlMs: number): Promise<boolean> {
    return this.leases.claim(taskId, owner, ttlMs);
  }

  async renew(owner: string, taskIds: readonly string[], ttlMs: number): Promise<string[]> {
    return this.leases.renew(owner, taskIds, ttlMs);
  }

  async release(taskId: string, owner: string): Promise<void> {
    this.leases.release(taskId, owner);
  }

  async leaseHolder(taskId: string): Promise<string | undefined> {
    return this.leases.holder(taskId);
  }

  /** One router per file: there is no other owner to tell. */
  async signalCancel(): Promise<boolean> {
    return false;
  }

  onCancel(): () => void {
    return () => undefined;
  }

  /** One router: its registry is the only one. */
  async shareWorker(): Promise<void> {}

  async sharedWorkers(): Promise<SharedWorker[]> {
    return [];
  }

  /** A task's row as it is now: what an update writes. */
  private columns(task: StoredTask): (string | number | bigint | Uint8Array | null)[] {
    const r = task.record;
    return [r.status, r.workerId, endedMs(r) ?? null, r.lastSeq, toBinary(TaskSchema, r), toBinary(RunRequestSchema, task.request), placementJson(task.placement), task.cancelReason ?? null, r.id];
  }

  private update(columns: (string | number | bigint | Uint8Array | null)[], addedBytes: number): void {
    const [status, workerId, ended, lastSeq, record, request, placement, cancel, id] = columns;
    this.statement(
      `UPDATE tasks SET status = ?, worker_id = ?, ended_ms = ?, last_seq = ?, log_bytes = log_bytes + ?, record = ?, request = ?, placement = ?, cancel_reason = ?
       WHERE id = ?`,
    ).run(status!, workerId!, ended!, lastSeq!, addedBytes, record!, request!, placement!, cancel!, id!);
  }

  /**
   * Runs `body` in the next write transaction: every append and save made in one turn of the event loop, whatever
   * their task, share one transaction (a savepoint each, so that one refused does not undo the others).
   */
  private batched(what: string, body: () => void): Promise<void> {
    if (!this.db) return Promise.reject(new StoreUnavailable(`the task store ${this.where} is not open`));
    return new Promise((resolve, reject) => {
      this.pending.push({ what, body, resolve, reject });
      if (this.pending.length === 1) setImmediate(() => this.writeBatch());
    });
  }

  private writeBatch(): void {
    const batch = this.pending.splice(0);
    const db = this.db;
    if (!db) {
      for (const item of batch) item.reject(new StoreUnavailable(`the task store ${this.where} is closed`));
      return;
    }
    const done: { resolve: () => void; reject: (err: unknown) => void; err?: unknown }[] = [];
    try {
      db.exec("BEGIN IMMEDIATE");
      for (const item of batch) {
        db.exec("SAVEPOINT one");
        try {
          item.body();
          db.exec("RELEASE one");
          done.push(item);
        } catch (err) {
          db.exec("ROLLBACK TO one");
          db.exec("RELEASE one");
          done.push({ ...item, err: err instanceof SeqConflict || err instanceof StoreUnavailable ? err : this.explainOr(err, item.what) });
        }
      }
      db.exec("COMMIT");
    } catch (err) {
      // Runs from setImmediate: nothing may escape, or the router dies; every waiting write hears the failure.
      try {
        if (db.isTransaction) db.exec("ROLLBACK");
      } catch {
        // SQLite rolled back by itself (an I/O error, a full disk): the error that caused it is the one to report.
      }
      const explained = this.explainOr(err, "store a task's events");
      for (const item of batch) item.reject(explained);
      return;
    }
    for (const item of done) {
      if (item.err !== undefined) item.reject(item.err);
      else item.resolve();
    }
  }

  private explainOr(err: unknown, what: string): unknown {
    return (err as { code?: string }).code === "ERR_SQLITE_ERROR" ? this.explain(err, what) : err;
  }

  private checkLastSeq(taskId: string, expected: bigint): void {
    const row = this.statement("SELECT last_seq FROM tasks WHERE id = ?", true).get(taskId) as { last_seq: bigint } | undefined;
    if (!row) throw new Error(`task ${taskId} is not stored`);
    if (row.last_seq !== expected) throw new SeqConflict(taskId, row.last_seq + 1n, expected + 1n);
  }

  private transaction(body: () => void): void {
    const db = this.db!;
    db.exec("BEGIN IMMEDIATE");
    try {
      body();
      db.exec("COMMIT");
    } catch (err) {
      if (db.isTransaction) db.exec("ROLLBACK");
      throw err;
    }
  }

  private statement(sql: string, bigints = false): StatementSync {
    const key = bigints ? `big:${sql}` : sql;
    let statement = this.statements.get(key);
    if (!statement) {
      if (!this.db) throw new StoreUnavailable(`the task store ${this.where} is closed`);
      statement = this.db.prepare(sql);
      statement.setReadBigInts(bigints);
      this.statements.set(key, statement);
    }
    return statement;
  }

  /** Runs a database step; SQLite's errors become StoreUnavailable with what to do, others pass through. */
  private run<T>(what: string, body: () => T): T {
    if (!this.db) throw new StoreUnavailable(`the task store ${this.where} is not open`);
    try {
      return body();
    } catch (err) {
      if (err instanceof SeqConflict || err instanceof StoreUnavailable) throw err;
      if ((err as { code?: string }).code === "ERR_SQLITE_ERROR") throw this.explain(err, what);
      throw err;
    }
  }

  private explain(err: unknown, what: string): StoreUnavailable {
    const code = ((err as { errcode?: number }).errcode ?? -1) & 0xff;
    const detail = (err as Error).message;
    const file = this.where;
    let message: string;
    switch (code) {
      case SQLITE_BUSY:
      case SQLITE_LOCKED:
        message = `${file} is in use by another router (${detail}); one router per data directory: stop the other one, or give this one its own CC_DATA_DIR (several routers share a Redis store, CC_STORE=redis://…)`;
        break;
      case SQLITE_NOTADB:
      case SQLITE_CORRUPT:
        message = `${file} is damaged or is not a task store (${detail}); the router does not start on it rather than lose what it holds: restore it from a backup, or move it aside to start with no task history`;
        break;
      case SQLITE_CANTOPEN:
      case SQLITE_READONLY:
        message = `cannot ${what === "open" ? "open" : "write"} ${file} (${detail}); check that CC_DATA_DIR is a directory the router can read and write`;
        break;
      case SQLITE_FULL:
      case SQLITE_IOERR:
        message = `could not ${what} in ${file} (${detail}); check the disk under CC_DATA_DIR (space, errors)`;
        break;
      default:
        message = `could not ${what} in ${file}: ${detail}`;
    }
    return new StoreUnavailable(message, { cause: err });
  }

  private changed(record: Task): void {
    if (this.listeners.size === 0) return;
    const copy = clone(TaskSchema, record);
    for (const l of this.listeners) l.changed(record.id, copy);
  }
}

function placementJson(placement: Placement | undefined): string | null {
  return placement ? JSON.stringify({ ...placement, workerSeq: placement.workerSeq.toString() }) : null;
}

function storedTask(row: TaskRow): StoredTask {
  const placement = row.placement ? (JSON.parse(row.placement) as Omit<Placement, "workerSeq"> & { workerSeq: string }) : undefined;
  return {
    record: fromBinary(TaskSchema, row.record),
    request: fromBinary(RunRequestSchema, row.request),
    placement: placement ? { ...placement, workerSeq: BigInt(placement.workerSeq) } : undefined,
    ...(row.cancel_reason !== null ? { cancelReason: row.cancel_reason } : {}),
  };
}
