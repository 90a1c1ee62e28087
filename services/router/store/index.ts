// The task store's public surface: the interface, the errors a caller handles, and the way to open one.
export type { Placement, RetentionLimits, StoredTask, StoreListener, TaskPage, TaskQuery, TaskStore } from "./interface.js";
export { SeqConflict, StoreUnavailable } from "./interface.js";
export { MemoryTaskStore } from "./memory.js";
export { openTaskStore, type StoreSettings } from "./open.js";
