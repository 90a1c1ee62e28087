// Which task store a router uses (CC_STORE): the one place that knows the implementations.
import type { TaskStore } from "./interface.js";
import { MemoryTaskStore } from "./memory.js";
import { RedisTaskStore } from "./redis.js";
import { SqliteTaskStore } from "./sqlite.js";

export interface StoreSettings {
  store: string;
  dataDir: string;
  /** This router's id: a shared store sends it the cancels for the tasks it owns. */
  routerId: string;
}

/** The store CC_STORE names, not opened yet (TaskStore.open connects, or opens the file). */
export function openTaskStore(settings: StoreSettings): TaskStore {
  if (settings.store === "memory") return new MemoryTaskStore();
  if (settings.store === "sqlite") return new SqliteTaskStore(settings.dataDir);
  // ioredis itself is loaded by open(), only when a Redis store is used.
  return new RedisTaskStore(settings.store, settings.routerId);
}
