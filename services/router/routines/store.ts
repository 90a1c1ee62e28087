// Where a router keeps its routines, so they (their schedules, last runs and fire tokens' hashes) survive a
// restart. A small sibling of the task store (../store): one interface in the domain's words, a memory
// implementation (tests, the embedded cluster, CC_STORE=memory) and a SQLite one (CC_STORE=sqlite, a file of its own
// next to the task store's). Both pass one contract suite (contract.ts).
import { clone } from "@bufbuild/protobuf";
import { RoutineSchema, type Routine } from "../../../gen/claudecluster/v1/routines_pb.js";

/** A routine as the store keeps it: the message (with its output-only state) and its fire token's hash. */
export interface StoredRoutine {
  routine: Routine;
  /** SHA-256 of the fire token, hex; empty for none. The token itself is never kept. */
  fireTokenHash: string;
}

export interface RoutineStore {
  /** `memory` or `sqlite`, for logs. */
  readonly kind: string;
  open(): Promise<void>;
  close(): Promise<void>;
  /** Adds a routine; false (and nothing changes) when one has its name. */
  create(stored: StoredRoutine): Promise<boolean>;
  /** Adds or replaces a routine. */
  put(stored: StoredRoutine): Promise<void>;
  get(name: string): Promise<StoredRoutine | undefined>;
  /** Every routine, by name. */
  list(): Promise<StoredRoutine[]>;
  /** False when there was none. */
  delete(name: string): Promise<boolean>;
}

const copy = (s: StoredRoutine): StoredRoutine => ({ routine: clone(RoutineSchema, s.routine), fireTokenHash: s.fireTokenHash });

/** Real, not a mock: the embedded cluster and CC_STORE=memory use it. Copies in and out, as a database would. */
export class MemoryRoutineStore implements RoutineStore {
  readonly kind = "memory";
  private readonly routines = new Map<string, StoredRoutine>();
  async open(): Promise<void> {}
  async close(): Promise<void> {}
  async create(stored: StoredRoutine): Promise<boolean> {
    if (this.routines.has(stored.routine.name)) return false;
    this.routines.set(stored.routine.name, copy(stored));
    return true;
  }
  async put(stored: StoredRoutine): Promise<void> {
    this.routines.set(stored.routine.name, copy(stored));
  }
  async get(name: string): Promise<StoredRoutine | undefined> {
    const s = this.routines.get(name);
    return s && copy(s);
  }
  async list(): Promise<StoredRoutine[]> {
    return [...this.routines.values()].sort((a, b) => (a.routine.name < b.routine.name ? -1 : 1)).map(copy);
  }
  async delete(name: string): Promise<boolean> {
    return this.routines.delete(name);
  }
}
