// Routines in a SQLite file of their own (routines.db in CC_DATA_DIR, beside the task store's file): one row per
// routine, the Routine message as protobuf bytes, so a new field needs no migration.
import { chmodSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { RoutineSchema } from "../../../gen/claudecluster/v1/routines_pb.js";
import { StoreUnavailable } from "../store/interface.js";
import type { RoutineStore, StoredRoutine } from "./store.js";

interface Row {
  name: string;
  routine: Uint8Array;
  fire_token_hash: string;
}

export class SqliteRoutineStore implements RoutineStore {
  readonly kind = "sqlite";
  readonly where: string;
  private db: DatabaseSync | undefined;

  constructor(private readonly dataDir: string) {
    this.where = join(dataDir, "routines.db");
  }

  async open(): Promise<void> {
    try {
      mkdirSync(this.dataDir, { recursive: true, mode: 0o700 });
      const db = new DatabaseSync(this.where, { timeout: 1000 });
      db.exec("PRAGMA journal_mode = WAL");
      db.exec("CREATE TABLE IF NOT EXISTS routines (name TEXT PRIMARY KEY, routine BLOB NOT NULL, fire_token_hash TEXT NOT NULL DEFAULT '')");
      chmodSync(this.where, 0o600);
      this.db = db;
    } catch (err) {
      throw new StoreUnavailable(`cannot open the routine store ${this.where} (${String(err)}); set CC_DATA_DIR to a directory the router can write`, { cause: err });
    }
  }

  async close(): Promise<void> {
    this.db?.close();
    this.db = undefined;
  }

  private get open_(): DatabaseSync {
    if (!this.db) throw new StoreUnavailable(`the routine store ${this.where} is not open`);
    return this.db;
  }

  async create(stored: StoredRoutine): Promise<boolean> {
    const r = this.open_.prepare("INSERT OR IGNORE INTO routines (name, routine, fire_token_hash) VALUES (?, ?, ?)").run(stored.routine.name, toBinary(RoutineSchema, stored.routine), stored.fireTokenHash);
    return Number(r.changes) === 1;
  }

  async put(stored: StoredRoutine): Promise<void> {
    this.open_
      .prepare("INSERT INTO routines (name, routine, fire_token_hash) VALUES (?, ?, ?) ON CONFLICT(name) DO UPDATE SET routine = excluded.routine, fire_token_hash = excluded.fire_token_hash")
      .run(stored.routine.name, toBinary(RoutineSchema, stored.routine), stored.fireTokenHash);
  }

  async get(name: string): Promise<StoredRoutine | undefined> {
    const row = this.open_.prepare("SELECT name, routine, fire_token_hash FROM routines WHERE name = ?").get(name) as Row | undefined;
    return row && decode(row);
  }

  async list(): Promise<StoredRoutine[]> {
    return (this.open_.prepare("SELECT name, routine, fire_token_hash FROM routines ORDER BY name").all() as unknown as Row[]).map(decode);
  }

  async delete(name: string): Promise<boolean> {
    return Number(this.open_.prepare("DELETE FROM routines WHERE name = ?").run(name).changes) === 1;
  }
}

function decode(row: Row): StoredRoutine {
  return { routine: fromBinary(RoutineSchema, new Uint8Array(row.routine)), fireTokenHash: row.fire_token_hash };
}
