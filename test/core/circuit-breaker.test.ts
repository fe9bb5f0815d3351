import {
  breakerForcesOnDemand,
  DEFAULT_BREAKER,
  isOpen,
  recordInterruption,
} from '../../lambda/core/circuit-breaker';

const MIN = 60_000;

test('the defaults are 2 interruptions within 15 minutes, open for 30', () => {
  expect(DEFAULT_BREAKER).toEqual({ threshold: 2, windowMs: 15 * MIN, openMs: 30 * MIN });
});

test.each<[string, number[], number, boolean]>([
  ['one interruption does not open it', [], 0, false],
  ['a second within the window opens it', [-10 * MIN], 0, true],
  ['a second after the window does not', [-16 * MIN], 0, false],
  ['the window slides: the old one is dropped', [-20 * MIN, -5 * MIN], 0, true],
])('%s', (_name, earlier, at, opened) => {
  const state = { interruptions: earlier.map((t) => t + 100 * MIN) };
  const out = recordInterruption(state, at + 100 * MIN, DEFAULT_BREAKER);
  expect(out.opened).toBe(opened);
  expect(isOpen(out.state, at + 100 * MIN + 1)).toBe(opened);
});

test('open for 30 minutes, then closed; an interruption while open does not open it again', () => {
  const t0 = 100 * MIN;
  const first = recordInterruption(undefined, t0, DEFAULT_BREAKER);
  const opened = recordInterruption(first.state, t0 + MIN, DEFAULT_BREAKER);
  expect(opened.opened).toBe(true);
  expect(isOpen(opened.state, t0 + 30 * MIN)).toBe(true);
  expect(isOpen(opened.state, t0 + 31 * MIN)).toBe(false);
  const again = recordInterruption(opened.state, t0 + 2 * MIN, DEFAULT_BREAKER);
  expect(again.opened).toBe(false);
  expect(again.state.openUntil).toBe(opened.state.openUntil);
});

test.each([
  ['spotPreferred', true],
  ['spotOnly', false],
  ['onDemandOnly', false],
] as const)('an open breaker moves a %s config to on-demand: %s', (strategy, forced) => {
  const state = { interruptions: [], openUntil: 10 * MIN };
  expect(breakerForcesOnDemand(strategy, state, 5 * MIN)).toBe(forced);
  expect(breakerForcesOnDemand(strategy, state, 11 * MIN)).toBe(false);
});
