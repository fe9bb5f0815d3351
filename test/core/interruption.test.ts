import {
  classifyTakenRunner,
  decideInterruption,
  decideSpotEnded,
  decideStolen,
  InterruptionFacts,
  MAX_STOLEN_REPLACEMENTS,
  SPOT_TERMINATION_REASON,
  SpotEndFacts,
} from '../../lambda/core/interruption';
import { JobRecord } from '../../lambda/core/job-record';
import { InstanceView } from '../../lambda/core/fleet-views';

const KEY = { host: 'github.com', jobId: 11, runAttempt: 1 };
const OTHER = { host: 'github.com', jobId: 22, runAttempt: 1 };
const instance: InstanceView = {
  instanceId: 'i-1',
  state: 'running',
  launchTime: 0,
  jobKey: 'github.com/11/1',
  runnerName: 'linux-11-1-1-abcdef',
  market: 'spot',
};
const job = (over: Partial<JobRecord> = {}): JobRecord => ({
  key: KEY,
  runId: 5,
  repository: 'acme/app',
  installationId: 1,
  labels: ['self-hosted'],
  configName: 'linux',
  deliveryId: 'd',
  status: 'launched',
  createdAt: 0,
  launchAttempts: 1,
  instanceId: 'i-1',
  runnerName: 'linux-11-1-1-abcdef',
  ...over,
});
const facts = (over: Partial<InterruptionFacts>): InterruptionFacts => ({
  kind: 'spot-warning',
  instance,
  ownJob: job(),
  replaceOnRebalance: true,
  ...over,
});
const running = (over: Partial<JobRecord> = {}) =>
  job({ status: 'running', takenByRunner: 'linux-11-1-1-abcdef', ...over });

test.each<[string, Partial<InterruptionFacts>, string]>([
  ['a warning before the job started replaces it', {}, 'replace'],
  ['a rebalance before the job started replaces it', { kind: 'rebalance' }, 'replace'],
  [
    'a rebalance with replaceOnRebalance off does nothing',
    { kind: 'rebalance', replaceOnRebalance: false },
    'ignore',
  ],
  ['a warning while its job runs marks it interrupted', { ownJob: running() }, 'mark-interrupted'],
  ['a rebalance while its job runs does nothing', { kind: 'rebalance', ownJob: running() }, 'ignore'],
  [
    'a second warning for a job already marked does nothing',
    { ownJob: running({ interruptedAt: 5 }) },
    'ignore',
  ],
  [
    'a warning for a runner that took another job marks that job',
    {
      ownJob: job({ runnerTakenBy: 'github.com/22/1' }),
      takenJob: running({ key: OTHER }),
    },
    'mark-interrupted',
  ],
  [
    'a runner taken by another job is never "replaced" for its own job (the steal did that)',
    { ownJob: job({ runnerTakenBy: 'github.com/22/1' }) },
    'retire',
  ],
  ['a runner whose job is final is retired', { ownJob: job({ status: 'completed' }) }, 'retire'],
  ['a runner with no record is retired', { ownJob: undefined }, 'retire'],
  [
    'an instance whose record names another instance is retired',
    { ownJob: job({ instanceId: 'i-2' }) },
    'retire',
  ],
  ['a job being launched settles the instance itself', { ownJob: job({ status: 'launching' }) }, 'ignore'],
  ['not an instance of ours', { instance: undefined }, 'ignore'],
  ['an instance already going', { instance: { ...instance, state: 'shutting-down' } }, 'ignore'],
])('%s', (_name, over, action) => {
  expect(decideInterruption(facts(over)).action).toBe(action);
});

test('the marked job is the one running on the instance', () => {
  const taken = running({ key: OTHER });
  const v = decideInterruption(facts({ ownJob: job({ runnerTakenBy: 'github.com/22/1' }), takenJob: taken }));
  expect(v).toEqual({ action: 'mark-interrupted', job: taken });
});

test.each([
  ['its own runner', KEY, 'own'],
  ['the runner launched for another job', OTHER, 'stolen'],
  ['a runner that is not ours', undefined, 'foreign'],
] as const)('an in_progress on %s', (_name, parsed, kind) => {
  expect(classifyTakenRunner(KEY, parsed).kind).toBe(kind);
});

test.each<[string, JobRecord | undefined, string]>([
  ['a job still waiting for the runner gets a replacement', job(), 'replace'],
  ['no record', undefined, 'ignore'],
  ['a job that started on another runner', running({ takenByRunner: 'x' }), 'ignore'],
  ['a job already relaunched', job({ runnerName: 'linux-11-1-2-abcdef' }), 'ignore'],
  ['a final job', job({ status: 'completed' }), 'ignore'],
  [
    `a job whose runners were taken ${MAX_STOLEN_REPLACEMENTS} times already`,
    job({ stolenReplacements: MAX_STOLEN_REPLACEMENTS }),
    'give-up',
  ],
  ['a job one short of the limit', job({ stolenReplacements: MAX_STOLEN_REPLACEMENTS - 1 }), 'replace'],
])('stolen runner: %s', (_name, record, action) => {
  expect(decideStolen(record, 'linux-11-1-1-abcdef').action).toBe(action);
});

test.each<[string, string[] | undefined, string]>([
  [
    'the spare runner of the job that took it can take it: no replacement',
    ['self-hosted', 'linux', 'x64'],
    'leave-to-spare',
  ],
  ['labels compare case-insensitively', ['SELF-HOSTED', 'Linux'], 'leave-to-spare'],
  ['the spare runner lacks a label of the job: a replacement', ['self-hosted', 'x64'], 'replace'],
  ['no spare runner: a replacement', undefined, 'replace'],
])('stolen runner, with a spare: %s', (_name, spare, action) => {
  expect(decideStolen(job({ labels: ['self-hosted', 'linux'] }), 'linux-11-1-1-abcdef', spare).action).toBe(
    action,
  );
});

describe('an instance EC2 ended: the backstop for a lost warning', () => {
  const ended: InstanceView = { ...instance, state: 'terminated', stateReason: SPOT_TERMINATION_REASON };
  const failed = (over: Partial<JobRecord> = {}) =>
    running({ status: 'completed', conclusion: 'failure', ...over });
  const endFacts = (over: Partial<SpotEndFacts>): SpotEndFacts => ({
    instance: ended,
    ownJob: running(),
    ...over,
  });
  test.each<[string, Partial<SpotEndFacts>, string]>([
    ['its job was running: recorded as interrupted', {}, 'mark-interrupted'],
    ['GitHub told of the failure first: still recorded', { ownJob: failed() }, 'mark-interrupted'],
    ['the warning was handled: nothing to do', { ownJob: running({ interruptedAt: 5 }) }, 'ignore'],
    [
      'its job succeeded before the end: not ours to re-run',
      { ownJob: failed({ conclusion: 'success' }) },
      'ignore',
    ],
    ['a person cancelled the job: not re-run', { ownJob: failed({ conclusion: 'cancelled' }) }, 'ignore'],
    [
      'ended by its own shutdown after the job',
      { instance: { ...ended, stateReason: 'Client.UserInitiatedShutdown' } },
      'ignore',
    ],
    ['ended before its job started: the lost-launch repair relaunches it', { ownJob: job() }, 'ignore'],
    [
      'its runner took another job, which was running: that job is recorded',
      {
        ownJob: job({ runnerTakenBy: 'github.com/22/1' }),
        takenJob: running({ key: OTHER }),
      },
      'mark-interrupted',
    ],
    [
      'the job ran on another runner (a replacement): not this one',
      {
        ownJob: running({ takenByRunner: 'linux-11-1-2-fedcba' }),
      },
      'ignore',
    ],
    ['no runner name on the instance', { instance: { ...ended, runnerName: undefined } }, 'ignore'],
  ])('%s', (_name, over, action) => {
    expect(decideSpotEnded(endFacts(over)).action).toBe(action);
  });

  test('the job recorded is the one that ran on the runner', () => {
    const taken = running({ key: OTHER });
    expect(
      decideSpotEnded(endFacts({ ownJob: job({ runnerTakenBy: 'github.com/22/1' }), takenJob: taken })),
    ).toEqual({
      action: 'mark-interrupted',
      job: taken,
    });
  });
});
