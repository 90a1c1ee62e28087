// What the router keeps of claude sessions: each session's latest transcript, by session id, so a task can resume
// the session on any worker. One small interface (a durable task store can back it later); the memory
// implementation below is the one the router uses now, bounded by a count and a total of bytes, the oldest going
// first.

/** A session the router has heard of when its task ended. */
export interface KeptSession {
  /** claude's session id. */
  sessionId: string;
  /** The task whose end handed it over (the session's latest task). */
  taskId: string;
  /** The transcript (`<session id>.jsonl`), unless it was refused. */
  transcript?: Uint8Array;
  /** Why there is no transcript: it was larger than the router keeps (CC_MAX_TRANSCRIPT_BYTES). */
  refused?: string;
}

export interface SessionStore {
  /** Keeps `session`, replacing what was kept of the same session id (a later task continues the same session). */
  put(session: KeptSession): void;
  get(sessionId: string): KeptSession | undefined;
  /** Sessions kept. */
  readonly count: number;
  /** Transcript bytes kept. */
  readonly bytes: number;
}

export interface MemorySessionStoreOptions {
  /** At most this many sessions (CC_SESSIONS_KEPT). */
  maxSessions: number;
  /** At most this many transcript bytes in all (CC_SESSIONS_BYTES). */
  maxBytes: number;
}

export class MemorySessionStore implements SessionStore {
  /** In the order they were kept: the first is the oldest. */
  private readonly sessions = new Map<string, KeptSession>();
  private total = 0;

  constructor(private readonly options: MemorySessionStoreOptions) {}

  get count(): number {
    return this.sessions.size;
  }

  get bytes(): number {
    return this.total;
  }

  put(session: KeptSession): void {
    this.remove(session.sessionId);
    const bytes = session.transcript?.length ?? 0;
    // One transcript larger than everything the store may hold is not kept: it would push out every other.
    if (bytes > this.options.maxBytes) {
      this.put({ sessionId: session.sessionId, taskId: session.taskId, refused: `it is ${bytes} bytes, more than the router keeps of all sessions together (CC_SESSIONS_BYTES, ${this.options.maxBytes})` });
      return;
    }
    this.sessions.set(session.sessionId, session);
    this.total += bytes;
    for (const oldest of this.sessions.keys()) {
      if (this.sessions.size <= this.options.maxSessions && this.total <= this.options.maxBytes) break;
      this.remove(oldest);
    }
  }

  get(sessionId: string): KeptSession | undefined {
    return this.sessions.get(sessionId);
  }

  private remove(sessionId: string): void {
    const kept = this.sessions.get(sessionId);
    if (!kept) return;
    this.sessions.delete(sessionId);
    this.total -= kept.transcript?.length ?? 0;
  }
}
