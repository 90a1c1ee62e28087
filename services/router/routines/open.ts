// Which routine store a router uses: the one beside its task store (CC_STORE). A Redis task store keeps routines
// in SQLite under CC_DATA_DIR for now (each router its own): schedules are not shared between routers yet.
import { MemoryRoutineStore, type RoutineStore } from "./store.js";
import { SqliteRoutineStore } from "./sqlite.js";

export function openRoutineStore(settings: { store: string; dataDir: string }): RoutineStore {
  if (settings.store === "memory") return new MemoryRoutineStore();
  return new SqliteRoutineStore(settings.dataDir);
}
