import { routeJob } from '../../lambda/core/routing';

const configs = [
  { name: 'linux', labels: ['self-hosted', 'linux', 'x64'], order: 0 },
  { name: 'linux-big', labels: ['self-hosted', 'linux', 'x64', 'large'], order: 1 },
  { name: 'arm', labels: ['self-hosted', 'linux', 'ARM64'], order: 2 },
  { name: 'linux-twin', labels: ['self-hosted', 'linux', 'x64', 'gpu'], order: 3 },
  { name: 'linux-twin2', labels: ['self-hosted', 'linux', 'x64', 'fast'], order: 4 },
];

describe('routeJob', () => {
  test.each([
    [['self-hosted'], 'linux', 'fewest extra labels wins'],
    [['self-hosted', 'linux'], 'linux', 'subset match'],
    [['self-hosted', 'linux', 'x64'], 'linux', 'exact match'],
    [['self-hosted', 'large'], 'linux-big', 'only the big config has large'],
    [['Self-Hosted', 'LINUX', 'arm64'], 'arm', 'case-insensitive on both sides'],
    [['self-hosted', 'x64', 'gpu'], 'linux-twin', 'unique extra label'],
  ])('%j → %s (%s)', (labels, expected) => {
    const r = routeJob(labels, configs);
    expect(r.matched && r.config.name).toBe(expected);
  });

  test('ties on specificity go to the earlier declaration, whatever the array order', () => {
    const reversed = [...configs].reverse();
    const r = routeJob(['self-hosted', 'linux', 'x64', 'large'], reversed);
    expect(r.matched && r.config.name).toBe('linux-big');
    const tie = routeJob(['self-hosted', 'linux'], [configs[4], configs[3]]);
    expect(tie.matched && tie.config.name).toBe('linux-twin');
  });

  test('a job without self-hosted is never ours', () => {
    expect(routeJob(['ubuntu-latest'], configs)).toEqual({ matched: false, reason: 'not-self-hosted' });
    expect(routeJob(['linux', 'x64'], configs)).toEqual({ matched: false, reason: 'not-self-hosted' });
  });

  test('a label no config has means no match', () => {
    expect(routeJob(['self-hosted', 'windows'], configs)).toEqual({ matched: false, reason: 'no-config' });
    expect(routeJob(['self-hosted', 'large', 'arm64'], configs)).toEqual({
      matched: false,
      reason: 'no-config',
    });
  });

  test('no configs at all', () => {
    expect(routeJob(['self-hosted'], [])).toEqual({ matched: false, reason: 'no-config' });
  });
});
