// Claude sessions that continue on any worker: the router's copy of each session's transcript (store.ts) and the
// hand-off from the worker a task ended on to the worker a resuming task runs on (handoff.ts), with the earlier task's
// recorded changes when they can be carried (carry-changes.ts).
export { type EarlierTask } from "./carry-changes.js";
export { earlierTask, SessionHandoff, type SessionHandoffDeps } from "./handoff.js";
export { type KeptSession, MemorySessionStore, type MemorySessionStoreOptions, type SessionStore } from "./store.js";
