// Routines' public surface: the runtime, its store, its RPCs and its HTTP fire endpoint.
export { Routines, type RoutinesDeps, type Trigger } from "./routines.js";
export { MemoryRoutineStore, type RoutineStore, type StoredRoutine } from "./store.js";
export { SqliteRoutineStore } from "./sqlite.js";
export { openRoutineStore } from "./open.js";
export { routineService } from "./service.js";
export { routineFireHandler } from "./http.js";
export { ManualClock, systemClock, type Clock } from "./clock.js";
export { signature, SIGNATURE_HEADER, type Post } from "./webhook.js";
