import { backoffDelay, fitsBudget, nextPendingAttemptAt } from '../../lambda/core/backoff';
import { formatJobKey, jobPartitionKey, parseJobPartitionKey } from '../../lambda/core/job-key';
import { pastDeadline } from '../../lambda/core/job-status';
import { fleetClientToken, parseRunnerName, runnerName } from '../../lambda/core/runner-name';
import { labelProblem, storedConfigProblems } from '../../lambda/core/runner-config';
import { handoffKey } from '../../lambda/core/state-schema';

const key = { host: 'github.com', jobId: 123456789012, runAttempt: 2 };

describe('job keys', () => {
  test('round trip, and host/attempt are part of the identity', () => {
    expect(parseJobPartitionKey(jobPartitionKey(key))).toEqual(key);
    expect(jobPartitionKey(key)).not.toBe(jobPartitionKey({ ...key, runAttempt: 3 }));
    expect(jobPartitionKey(key)).not.toBe(jobPartitionKey({ ...key, host: 'ghes.example.com' }));
    expect(parseJobPartitionKey('arn:aws:ec2:x')).toBeUndefined();
    expect(parseJobPartitionKey('job#h#x#1')).toBeUndefined();
    expect(formatJobKey(key)).toBe('github.com/123456789012/2');
  });
});

describe('runner names and client tokens', () => {
  test('unique per attempt, stable for the same attempt, within GitHub limits', () => {
    const a = runnerName('linux', key, 1, 'owner-a');
    expect(a).toBe(runnerName('linux', key, 1, 'owner-a'));
    expect(a).not.toBe(runnerName('linux', key, 2, 'owner-a'));
    expect(a).toMatch(/^linux-123456789012-2-1-[0-9a-f]{6}$/);
    expect(runnerName('x'.repeat(80), key, 1, 'owner-a').length).toBeLessThanOrEqual(64);
  });
  test('a name parses back to its job and attempt only for the deployment that made it', () => {
    const name = runnerName('linux', key, 3, 'owner-a');
    expect(parseRunnerName(name, key.host, 'owner-a')).toEqual({ key, launchAttempt: 3 });
    expect(parseRunnerName(name, key.host, 'owner-b')).toBeUndefined();
    expect(parseRunnerName(name, 'ghes.example.com', 'owner-a')).toBeUndefined();
    expect(parseRunnerName('my-laptop', key.host, 'owner-a')).toBeUndefined();
    expect(
      parseRunnerName(
        name.replace(/.$/, (c) => (c === '0' ? '1' : '0')),
        key.host,
        'owner-a',
      ),
    ).toBeUndefined();
    const long = runnerName('x'.repeat(80), key, 1, 'owner-a');
    expect(parseRunnerName(long, key.host, 'owner-a')).toEqual({ key, launchAttempt: 1 });
  });
  test('client tokens differ by market and round, and fit EC2', () => {
    const t = fleetClientToken(key, 1, 'spot', 1);
    expect(t).toHaveLength(64);
    expect(
      new Set([
        t,
        fleetClientToken(key, 1, 'on-demand', 1),
        fleetClientToken(key, 1, 'spot', 2),
        fleetClientToken(key, 2, 'spot', 1),
      ]).size,
    ).toBe(4);
  });
});

describe('backoff', () => {
  test('delay is jittered within an exponentially growing cap', () => {
    const policy = { baseMs: 100, maxMs: 1000 };
    expect(backoffDelay(policy, 1, () => 0.999)).toBe(99);
    expect(backoffDelay(policy, 3, () => 0.999)).toBe(399);
    expect(backoffDelay(policy, 10, () => 0.999)).toBe(999);
    expect(backoffDelay(policy, 3, () => 0)).toBe(0);
  });
  test('pending retries space out to at most 15 minutes', () => {
    expect(nextPendingAttemptAt(0, 1)).toBe(60_000);
    expect(nextPendingAttemptAt(0, 3)).toBe(240_000);
    expect(nextPendingAttemptAt(0, 20)).toBe(900_000);
  });
  test('budget check', () => {
    expect(fitsBudget(1000, 2000, 500, 400)).toBe(true);
    expect(fitsBudget(1000, 2000, 500, 600)).toBe(false);
    expect(pastDeadline(0, 100, 100)).toBe(true);
    expect(pastDeadline(0, 100, 99)).toBe(false);
  });
});

describe('runner config checks', () => {
  test.each([
    ['', /empty/],
    ['a,b', /comma/],
    ['a b', /whitespace/],
    ['x'.repeat(257), /longer/],
  ])('label %j is rejected', (label, message) => {
    expect(labelProblem(label)).toMatch(message);
  });
  test('good labels pass', () => expect(labelProblem('gpu-a100')).toBeUndefined());

  test('a stored config edited badly by hand is described', () => {
    expect(storedConfigProblems({ name: 'x' })).toEqual(
      expect.arrayContaining([expect.stringMatching(/labels/), expect.stringMatching(/instanceTypes/)]),
    );
    expect(storedConfigProblems(null)).toEqual(['config is not a JSON object']);
    expect(
      storedConfigProblems({
        name: 'x',
        labels: ['self-hosted'],
        instanceTypes: ['m7i.large'],
        architecture: 'x64',
        spotStrategy: 'spotPreferred',
        launchTemplateId: 'lt-1',
        subnetIds: ['subnet-1'],
        maxJobRuntimeMinutes: 360,
        order: 0,
      }),
    ).toEqual([]);
  });

  test('handoff key is the instance ARN', () => {
    expect(handoffKey('aws', 'eu-west-1', '123456789012', 'i-0abc')).toBe(
      'arn:aws:ec2:eu-west-1:123456789012:instance/i-0abc',
    );
  });
});
