/**
 * The spot circuit breaker of a runner config: K spot interruptions within W minutes open it, and
 * while it is open the config (if `spotPreferred`) launches on-demand for T minutes. Pure: the state
 * store keeps one small item per config and writes it back conditionally.
 */
import { SpotStrategy } from './runner-config';

/** When the breaker opens and for how long. */
export interface BreakerSettings {
  /** Interruptions within the window that open it. */
  readonly threshold: number;
  readonly windowMs: number;
  /** How long it stays open. */
  readonly openMs: number;
}

/** Defaults from practice: 2 interruptions in 15 minutes open it for 30 minutes. */
export const DEFAULT_BREAKER: BreakerSettings = { threshold: 2, windowMs: 15 * 60_000, openMs: 30 * 60_000 };

/** What the item holds. */
export interface BreakerState {
  /** Times of recent interruptions, epoch ms, oldest first (only those inside the window are kept). */
  readonly interruptions: readonly number[];
  /** While now is before this, the breaker is open. */
  readonly openUntil?: number;
}

/** The state after one more interruption, and whether this one opened the breaker. */
export function recordInterruption(
  state: BreakerState | undefined,
  now: number,
  settings: BreakerSettings,
): { readonly state: BreakerState; readonly opened: boolean } {
  const recent = [...(state?.interruptions ?? []).filter((t) => now - t < settings.windowMs), now];
  const wasOpen = isOpen(state, now);
  if (wasOpen || recent.length < settings.threshold)
    return { state: { interruptions: recent, openUntil: state?.openUntil }, opened: false };
  return { state: { interruptions: [], openUntil: now + settings.openMs }, opened: true };
}

/** Whether the breaker is open now. */
export function isOpen(state: BreakerState | undefined, now: number): boolean {
  return state?.openUntil !== undefined && now < state.openUntil;
}

/** Whether a config's launches go on-demand: only a `spotPreferred` config with its breaker open. */
export function breakerForcesOnDemand(
  strategy: SpotStrategy,
  state: BreakerState | undefined,
  now: number,
): boolean {
  return strategy === 'spotPreferred' && isOpen(state, now);
}
