// The limits an identity runs under: the router's defaults (CC_QUOTA_*, CC_BUDGET_*), each of which its own line in
// CC_TOKENS_FILE may override. 0 means no limit.
export interface QuotaLimits {
  /** Tasks running at once; more wait in the queue. */
  running: number;
  /** Tasks waiting in the queue at once; more are refused. */
  queued: number;
  /** The longest timeout a task may have (ms); a task asking for none gets this one. */
  maxTimeoutMs: number;
  /** US dollars a day (UTC), of claude's own cost estimate. */
  dailyUsd: number;
  /** US dollars a calendar month (UTC), of claude's own cost estimate. */
  monthlyUsd: number;
}

export type QuotaOverrides = Partial<QuotaLimits>;

export const NO_LIMITS: QuotaLimits = { running: 0, queued: 0, maxTimeoutMs: 0, dailyUsd: 0, monthlyUsd: 0 };

export function limitsOf(defaults: QuotaLimits, overrides: QuotaOverrides): QuotaLimits {
  return { ...defaults, ...overrides };
}

/** Midnight UTC starting the day of `nowMs`, and the next one. */
export function dayWindow(nowMs: number): { startMs: number; resetMs: number } {
  const d = new Date(nowMs);
  const startMs = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate());
  return { startMs, resetMs: startMs + 86_400_000 };
}

/** The first instant (UTC) of the month of `nowMs`, and of the next month. */
export function monthWindow(nowMs: number): { startMs: number; resetMs: number } {
  const d = new Date(nowMs);
  return { startMs: Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1), resetMs: Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1) };
}
