/**
 * Reconnect back-off: exponential with full-range jitter of ±JITTER, capped. Pure:
 * the caller keeps the attempt count and the timer.
 */
export const BACKOFF_BASE_MS = 500;
export const BACKOFF_MAX_MS = 60_000;
export const BACKOFF_FACTOR = 2;
export const BACKOFF_JITTER = 0.2;
/** After this many failed attempts an end point is dropped until peer exchange lists it again. */
export const MAX_RECONNECT_ATTEMPTS = 10;

export interface BackoffOptions {
  baseMs?: number;
  maxMs?: number;
}

/** Delay before attempt number `attempt` (0-based), with `random()` in [0, 1). */
export function backoffDelay(attempt: number, random: () => number = Math.random, options: BackoffOptions = {}): number {
  const base = options.baseMs ?? BACKOFF_BASE_MS;
  const max = options.maxMs ?? BACKOFF_MAX_MS;
  const exp = Math.min(max, base * BACKOFF_FACTOR ** Math.min(Math.max(0, attempt), 30));
  const jitter = 1 + BACKOFF_JITTER * (2 * random() - 1);
  return Math.max(0, Math.round(Math.min(max, exp * jitter)));
}
