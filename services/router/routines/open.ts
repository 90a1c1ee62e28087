// Which routine store a router uses: the one beside its task store (CC_STORE): memory, a SQLite file of its own in
// CC_DATA_DIR, or the same Redis.
import { MemoryRoutineStore, type RoutineStore } from "./store.js";
import { RedisRoutineStore } from "./redis.js";
import { SqliteRoutineStore } from "./sqlite.js";

export function openRoutineStore(settings: { store: string; dataDir: string }): RoutineStore {
  if (settings.store === "memory") return new MemoryRoutineStore();
  if (settings.store === "sqlite") return new SqliteRoutineStore(settings.dataDir);
  return new RedisRoutineStore(settings.store);
}
