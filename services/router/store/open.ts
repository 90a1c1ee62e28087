// Which task store a router uses (CC_STORE): the one place that knows the implementations.
import type { TaskStore } from "./interface.js";
import { MemoryTaskStore } from "./memory.js";
import { SqliteTaskStore } from "./sqlite.js";

export interface StoreSettings {
  store: string;
  dataDir: string;
}

/** The store CC_STORE names, not opened yet (TaskStore.open connects, or opens the file). */
export function openTaskStore(settings: StoreSettings): TaskStore {
  if (settings.store === "memory") return new MemoryTaskStore();
  if (settings.store === "sqlite") return new SqliteTaskStore(settings.dataDir);
  throw new Error(`CC_STORE: a Redis store is not built in yet`);
}
