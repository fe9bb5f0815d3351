/**
 * Runs a remote call with retries, bounded by a deadline: the delivery budget inside the webhook,
 * the invocation's remaining time in the scheduled retry.
 */
import { backoffDelay, BackoffPolicy, CALL_BACKOFF, fitsBudget } from '../core/backoff';
import { CallFailure } from '../core/call-failure';

/** Thrown when a call failed and may not (or can no longer) be retried. */
export class CallFailedError extends Error {
  constructor(
    readonly failure: CallFailure,
    readonly attempts: number,
    readonly cause: unknown,
    /** True when retrying stopped because the deadline would have passed. */
    readonly outOfTime: boolean,
  ) {
    super(
      `${failure.kind} (${failure.code}) after ${attempts} attempt(s)${outOfTime ? ', out of time' : ''}`,
    );
  }
}

/** How to retry. */
export interface RetryOptions {
  /** Epoch ms after which no new attempt starts. */
  readonly deadline: number;
  readonly classify: (error: unknown) => CallFailure;
  /** A call's typical duration, so a retry is not started that could not finish. */
  readonly expectedCallMs?: number;
  readonly policy?: BackoffPolicy;
  readonly maxAttempts?: number;
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
}

const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Calls `fn` until it succeeds, a failure is not retryable, attempts run out, or time does. */
export async function withRetry<T>(fn: () => Promise<T>, options: RetryOptions): Promise<T> {
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? realSleep;
  const maxAttempts = options.maxAttempts ?? 8;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (error) {
      const failure = options.classify(error);
      if (!failure.retryable || attempt >= maxAttempts)
        throw new CallFailedError(failure, attempt, error, false);
      const delay = Math.max(
        failure.retryAfterMs ?? 0,
        backoffDelay(options.policy ?? CALL_BACKOFF, attempt),
      );
      if (!fitsBudget(now(), options.deadline, delay, options.expectedCallMs ?? 200)) {
        throw new CallFailedError(failure, attempt, error, true);
      }
      await sleep(delay);
    }
  }
}
