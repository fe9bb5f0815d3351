import {
  classifyTakenRunner,
  decideInterruption,
  decideStolen,
  InterruptionFacts,
  MAX_STOLEN_REPLACEMENTS,
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
