// Whether the router answers, as the page's streams and calls find out: one place the banner reads, so every view
// says the same thing when the router is gone and when it is back.
type Listener = (state: ConnectionState) => void;

export type ConnectionState = { reachable: true } | { reachable: false; retryAt: number | undefined; retryNow: (() => void) | undefined };

let state: ConnectionState = { reachable: true };
const listeners = new Set<Listener>();

export const connection = {
  get state(): ConnectionState {
    return state;
  },
  /** The router did not answer; the caller retries at `retryAt` (ms since the epoch), or `retryNow` to hurry it. */
  lost(retryAt?: number, retryNow?: () => void): void {
    state = { reachable: false, retryAt, retryNow };
    for (const l of listeners) l(state);
  },
  /** A call or stream got through. */
  reached(): void {
    if (state.reachable) return;
    state = { reachable: true };
    for (const l of listeners) l(state);
  },
  subscribe(listener: Listener): () => void {
    listeners.add(listener);
    return () => listeners.delete(listener);
  },
};
