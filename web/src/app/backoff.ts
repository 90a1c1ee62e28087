// How long to wait before reconnecting after the n-th failure in a row: doubling from half a second, capped at
// 15 seconds, with jitter so that many tabs do not all come back in the same instant after a router restart.
export const BACKOFF_FIRST_MS = 500;
export const BACKOFF_MAX_MS = 15_000;

/** `attempt` counts from 1; `random` is in [0, 1). The delay lies between 75% and 100% of the doubled step. */
export function backoffMs(attempt: number, random: number = Math.random()): number {
  const step = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** Math.max(0, attempt - 1));
  return Math.round(step * (0.75 + 0.25 * random));
}
