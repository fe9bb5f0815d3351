import {
  decideRerun,
  MAX_RERUN_TRIES,
  RerunFacts,
  RunJobView,
  RERUN_ENTRY_MAX_AGE_MS,
} from '../../lambda/core/rerun-plan';

const NOW = 100 * 3_600_000;
const entry = {
  repository: 'acme/app',
  installationId: 1,
  runId: 9,
  jobId: 1,
  runAttempt: 1,
  interruptedAt: NOW - 60_000,
};
const j = (id: number, conclusion: string | null, name = `job${id}`): RunJobView => ({
  id,
  name,
  status: conclusion ? 'completed' : 'in_progress',
  conclusion,
});
const facts = (over: Partial<RerunFacts> = {}): RerunFacts => ({
  entry,
  run: { status: 'completed', runAttempt: 1 },
  attemptJobs: [j(1, 'failure'), j(2, 'success')],
  interruptedJobIds: new Set([1]),
  now: NOW,
  ...over,
});

test.each<[string, Partial<RerunFacts>, string]>([
  ['the run completed, only the interrupted job failed: re-run the failed jobs', {}, 'rerun-failed'],
  [
    'the run is still in progress: wait (GitHub refuses)',
    { run: { status: 'in_progress', runAttempt: 1 } },
    'wait',
  ],
  [
    'the run was re-run already (by a person): never again',
    { run: { status: 'completed', runAttempt: 2 } },
    'drop',
  ],
  [
    'another job failed for another reason: re-run only the interrupted one',
    { attemptJobs: [j(1, 'failure'), j(2, 'failure')] },
    'rerun-job',
  ],
  [
    'two interrupted jobs and nothing else failed: one re-run of the failed jobs',
    { attemptJobs: [j(1, 'failure'), j(2, 'failure')], interruptedJobIds: new Set([1, 2]) },
    'rerun-failed',
  ],
  ['the job succeeded despite the warning', { attemptJobs: [j(1, 'success')] }, 'drop'],
  ['a person cancelled the job', { attemptJobs: [j(1, 'cancelled')] }, 'drop'],
  ['the job is not in its attempt', { attemptJobs: [j(2, 'failure')] }, 'drop'],
  ['GitHub no longer has the run', { run: undefined }, 'drop'],
  ['an entry a day old', { entry: { ...entry, interruptedAt: NOW - RERUN_ENTRY_MAX_AGE_MS - 1 } }, 'drop'],
  [
    'asked before with no known answer, and the run moved on: done',
    { entry: { ...entry, requestedAt: NOW - 1, requestTries: 1 }, run: { status: 'queued', runAttempt: 2 } },
    'drop',
  ],
  [
    'asked before with no known answer, the run not re-run: ask again',
    { entry: { ...entry, requestedAt: NOW - 1, requestTries: 1 } },
    'rerun-failed',
  ],
  [
    `asked ${MAX_RERUN_TRIES} times with no answer: give up`,
    { entry: { ...entry, requestedAt: NOW - 1, requestTries: MAX_RERUN_TRIES } },
    'drop',
  ],
])('%s', (_name, over, action) => {
  expect(decideRerun(facts(over)).action).toBe(action);
});

test('the names of the jobs a re-run of the failed jobs brings back, for the on-demand marker', () => {
  const v = decideRerun(
    facts({
      attemptJobs: [j(1, 'failure', 'b'), j(2, 'failure', 'a'), j(3, 'success', 'c')],
      interruptedJobIds: new Set([1, 2]),
    }),
  );
  expect(v).toEqual({ action: 'rerun-failed', jobNames: ['a', 'b'] });
});

test('a re-run after a person re-ran names the reason', () => {
  const v = decideRerun(facts({ run: { status: 'completed', runAttempt: 2 } }));
  expect(v).toMatchObject({ action: 'drop', reason: expect.stringContaining('already re-run') });
});
