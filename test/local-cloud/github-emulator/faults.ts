// Fault injection: queued one-shot faults per route, seeded random failure and hang rates, and a
// fixed latency. Deterministic by construction (a seeded PRNG, no Math.random) so a failing test
// replays the same faults when it is rerun.
import type { RouteName } from './routes';

/** The two shapes of GitHub's secondary rate limit: 403 (historical) or 429 (newer). */
export type SecondaryRateLimitKind = 'secondary-403' | 'secondary-429';

/** A fault the emulator answers with instead of serving the request. */
export type Fault =
  | { readonly kind: 'server-error'; readonly status: number }
  | {
      readonly kind: 'secondary-rate-limit';
      readonly status: 403 | 429;
      readonly retryAfterSeconds?: number;
    }
  /** The request is received and never answered, as when GitHub or the network stalls. */
  | { readonly kind: 'hang' };

interface FailureRate {
  readonly fraction: number;
  readonly status: number;
  readonly random: () => number;
}

// mulberry32: tiny, seedable, good enough to spread failures; not for anything cryptographic.
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function assertServerErrorStatus(status: number): void {
  if (!Number.isInteger(status) || status < 500 || status > 599) {
    throw new Error(`GitHubEmulator: an injected failure needs a 5xx status, got ${status}`);
  }
}

function assertCount(count: number): void {
  if (!Number.isInteger(count) || count < 1) {
    throw new Error(`GitHubEmulator: count must be a positive integer, got ${count}`);
  }
}

/** The faults planned for the routes; consulted once per request by {@link FaultPlan.take}. */
export class FaultPlan {
  /** Delay, in milliseconds, applied to every request before it is served. */
  latencyMs = 0;
  private readonly queued = new Map<RouteName, Fault[]>();
  private readonly rates = new Map<RouteName | 'all', FailureRate>();
  private readonly hangRates = new Map<RouteName | 'all', Omit<FailureRate, 'status'>>();

  /** Queues `count` 5xx answers for the next requests to `route`. */
  failNext(route: RouteName, count: number, status: number): void {
    assertCount(count);
    assertServerErrorStatus(status);
    this.enqueue(route, count, { kind: 'server-error', status });
  }

  /** Queues `count` secondary-rate-limit answers; `retryAfterSeconds` undefined omits the header. */
  rateLimitNext(
    route: RouteName,
    count: number,
    kind: SecondaryRateLimitKind,
    retryAfterSeconds: number | undefined,
  ): void {
    assertCount(count);
    if (retryAfterSeconds !== undefined && (!Number.isInteger(retryAfterSeconds) || retryAfterSeconds < 0)) {
      throw new Error(
        `GitHubEmulator: retryAfterSeconds must be a non-negative integer, got ${retryAfterSeconds}`,
      );
    }
    const status = kind === 'secondary-429' ? 429 : 403;
    this.enqueue(route, count, { kind: 'secondary-rate-limit', status, retryAfterSeconds });
  }

  /**
   * Fails a `fraction` of requests to `route` (or to every route) with `status`, drawn from a PRNG
   * seeded with `seed` so the same seed gives the same sequence. A fraction of 0 removes the rate.
   * A route-specific rate takes precedence over `'all'`.
   */
  setFailureRate(route: RouteName | 'all', fraction: number, status = 500, seed = 1): void {
    if (!(fraction >= 0 && fraction <= 1)) {
      throw new Error(`GitHubEmulator: fraction must be within [0, 1], got ${fraction}`);
    }
    assertServerErrorStatus(status);
    if (fraction === 0) this.rates.delete(route);
    else this.rates.set(route, { fraction, status, random: mulberry32(seed) });
  }

  /** Leaves the next `count` requests to `route` unanswered (in turn with other queued faults). */
  hangNext(route: RouteName, count: number): void {
    assertCount(count);
    this.enqueue(route, count, { kind: 'hang' });
  }

  /**
   * Leaves a `fraction` of requests to `route` (or to every route) unanswered, drawn from a PRNG
   * seeded with `seed`. A fraction of 0 removes the rate; a route's own rate beats `'all'`.
   */
  setHangRate(route: RouteName | 'all', fraction: number, seed = 1): void {
    if (!(fraction >= 0 && fraction <= 1)) {
      throw new Error(`GitHubEmulator: fraction must be within [0, 1], got ${fraction}`);
    }
    if (fraction === 0) this.hangRates.delete(route);
    else this.hangRates.set(route, { fraction, random: mulberry32(seed) });
  }

  /** Removes every queued fault, failure and hang rate, and latency. */
  clear(): void {
    this.queued.clear();
    this.rates.clear();
    this.hangRates.clear();
    this.latencyMs = 0;
  }

  /**
   * The fault to answer the next request to `route` with, if any. Queued faults come first, then
   * the hang rate, then the failure rate; each rate draws from its own PRNG only when consulted.
   */
  take(route: RouteName): Fault | undefined {
    const queue = this.queued.get(route);
    if (queue && queue.length > 0) return queue.shift();
    const hang = this.hangRates.get(route) ?? this.hangRates.get('all');
    if (hang && hang.random() < hang.fraction) return { kind: 'hang' };
    const rate = this.rates.get(route) ?? this.rates.get('all');
    if (rate && rate.random() < rate.fraction) return { kind: 'server-error', status: rate.status };
    return undefined;
  }

  private enqueue(route: RouteName, count: number, fault: Fault): void {
    const queue = this.queued.get(route) ?? [];
    for (let i = 0; i < count; i++) queue.push(fault);
    this.queued.set(route, queue);
  }
}
