/**
 * Retry timing: exponential backoff with full jitter, bounded by a deadline. Pure: the random source
 * and the clock are arguments.
 */

/** Backoff settings. */
export interface BackoffPolicy {
  /** First delay's upper bound, in ms. */
  readonly baseMs: number;
  /** Largest delay, in ms. */
  readonly maxMs: number;
}

/** The delay policy used for GitHub and EC2 calls inside a delivery. */
export const CALL_BACKOFF: BackoffPolicy = { baseMs: 100, maxMs: 2000 };

/** The delay before retry number `attempt` (1 for the first retry), with full jitter. */
export function backoffDelay(
  policy: BackoffPolicy,
  attempt: number,
  random: () => number = Math.random,
): number {
  const cap = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.floor(random() * cap);
}

/**
 * When a deferred job is tried again, for its `launchAttempts`-th failure: one minute, doubling, at
 * most 15 minutes apart; the scheduled retry runs every minute, so sooner is not useful.
 */
export function nextPendingAttemptAt(now: number, launchAttempts: number): number {
  const minutes = Math.min(15, 2 ** Math.max(0, launchAttempts - 1));
  return now + minutes * 60_000;
}

/**
 * Whether a retry that must wait `delayMs` (and then take about `expectedCallMs`) still fits before
 * `deadline`.
 */
export function fitsBudget(now: number, deadline: number, delayMs: number, expectedCallMs: number): boolean {
  return now + delayMs + expectedCallMs < deadline;
}
