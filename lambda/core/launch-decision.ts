/**
 * Launch decisions: what an EC2 error means and what to do next. Pure functions over error codes
 * and the config's spot strategy; the EC2 adapter only reports what happened.
 */
import { SpotStrategy } from './runner-config';

/** The purchase option of one CreateFleet call. */
export type Market = 'spot' | 'on-demand';

/** What a CreateFleet error means for us. */
export type FleetErrorClass =
  /** No capacity in these pools now: another market or a later try may succeed. */
  | 'capacity'
  /** An account quota is exhausted: a human must raise it. */
  | 'quota'
  /** EC2 throttled us: back off and retry. */
  | 'throttled'
  /** The request itself is wrong (launch template, subnet, permissions): a human must fix the deployment. */
  | 'configuration'
  /** Anything else, including EC2's own 5xx: retry later. */
  | 'transient';

const CAPACITY = new Set([
  'InsufficientInstanceCapacity',
  'UnfulfillableCapacity',
  'MaxSpotInstanceCountExceeded',
  'SpotMaxPriceTooLow',
  'InsufficientCapacity',
  'InsufficientHostCapacity',
  'InsufficientReservedInstanceCapacity',
]);
const QUOTA = new Set(['VcpuLimitExceeded', 'InstanceLimitExceeded', 'MaxFleetCountExceeded']);
const THROTTLED = new Set(['RequestLimitExceeded', 'Throttling', 'ThrottlingException']);
const TRANSIENT = new Set(['InternalError', 'InternalFailure', 'ServiceUnavailable', 'Unavailable']);

/** Classifies one EC2 error code. */
export function classifyFleetError(code: string): FleetErrorClass {
  if (CAPACITY.has(code)) return 'capacity';
  if (QUOTA.has(code)) return 'quota';
  if (THROTTLED.has(code)) return 'throttled';
  if (TRANSIENT.has(code)) return 'transient';
  if (
    /^(Invalid|Unauthorized|AuthFailure|MissingParameter|OptInRequired|Unsupported|PendingVerification)/.test(
      code,
    )
  )
    return 'configuration';
  return 'transient';
}

/**
 * Classifies the per-pool errors of a fleet that launched nothing. A fleet reports one error per
 * pool; if any pool failed for a reason other than capacity, that reason is the one a human needs.
 */
export function classifyFleetErrors(codes: readonly string[]): FleetErrorClass {
  const classes = new Set(codes.map(classifyFleetError));
  for (const c of ['quota', 'configuration', 'throttled', 'transient'] as const) if (classes.has(c)) return c;
  return 'capacity';
}

/** The first market a config tries. */
export function firstMarket(strategy: SpotStrategy): Market {
  return strategy === 'onDemandOnly' ? 'on-demand' : 'spot';
}

/** What to do after a CreateFleet call in `market` launched nothing for reason `cause`. */
export type NextLaunchStep =
  | { readonly action: 'retry'; readonly market: Market }
  | { readonly action: 'fallback'; readonly market: Market }
  | { readonly action: 'defer'; readonly reason: FleetErrorClass };

/**
 * Spot capacity gone: `spotPreferred` falls back to on-demand at once; `spotOnly` waits for the
 * scheduled retry. Throttling and transient errors retry the same market (the caller's backoff and
 * budget bound it). Quota and configuration errors wait for a human, so they defer.
 */
export function nextLaunchStep(
  strategy: SpotStrategy,
  market: Market,
  cause: FleetErrorClass,
): NextLaunchStep {
  switch (cause) {
    case 'capacity':
      return market === 'spot' && strategy === 'spotPreferred'
        ? { action: 'fallback', market: 'on-demand' }
        : { action: 'defer', reason: 'capacity' };
    case 'throttled':
    case 'transient':
      return { action: 'retry', market };
    default:
      return { action: 'defer', reason: cause };
  }
}
