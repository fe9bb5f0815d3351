import {
  classifyFleetError,
  classifyFleetErrors,
  firstMarket,
  nextLaunchStep,
} from '../../lambda/core/launch-decision';

describe('classifyFleetError', () => {
  test.each([
    ['InsufficientInstanceCapacity', 'capacity'],
    ['UnfulfillableCapacity', 'capacity'],
    ['MaxSpotInstanceCountExceeded', 'capacity'],
    ['SpotMaxPriceTooLow', 'capacity'],
    ['InsufficientCapacity', 'capacity'],
    ['VcpuLimitExceeded', 'quota'],
    ['InstanceLimitExceeded', 'quota'],
    ['RequestLimitExceeded', 'throttled'],
    ['InternalError', 'transient'],
    ['InvalidLaunchTemplateId.NotFound', 'configuration'],
    ['UnauthorizedOperation', 'configuration'],
    ['SomethingNew', 'transient'],
  ])('%s → %s', (code, cls) => expect(classifyFleetError(code)).toBe(cls));

  test('a human-needing error among capacity errors wins', () => {
    expect(classifyFleetErrors(['InsufficientInstanceCapacity', 'VcpuLimitExceeded'])).toBe('quota');
    expect(classifyFleetErrors(['InsufficientInstanceCapacity', 'UnfulfillableCapacity'])).toBe('capacity');
    expect(classifyFleetErrors([])).toBe('capacity');
  });
});

describe('nextLaunchStep', () => {
  test('first market follows the strategy', () => {
    expect(firstMarket('spotOnly')).toBe('spot');
    expect(firstMarket('spotPreferred')).toBe('spot');
    expect(firstMarket('onDemandOnly')).toBe('on-demand');
  });
  test.each([
    ['spotPreferred', 'spot', 'capacity', { action: 'fallback', market: 'on-demand' }],
    ['spotOnly', 'spot', 'capacity', { action: 'defer', reason: 'capacity' }],
    ['spotPreferred', 'on-demand', 'capacity', { action: 'defer', reason: 'capacity' }],
    ['onDemandOnly', 'on-demand', 'capacity', { action: 'defer', reason: 'capacity' }],
    ['spotPreferred', 'spot', 'quota', { action: 'defer', reason: 'quota' }],
    ['spotPreferred', 'spot', 'throttled', { action: 'retry', market: 'spot' }],
    ['spotOnly', 'spot', 'transient', { action: 'retry', market: 'spot' }],
    ['spotPreferred', 'spot', 'configuration', { action: 'defer', reason: 'configuration' }],
  ] as const)('%s in %s after %s', (strategy, market, cause, expected) => {
    expect(nextLaunchStep(strategy, market, cause)).toEqual(expected);
  });
});
