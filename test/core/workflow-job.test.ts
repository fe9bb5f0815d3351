import { RequestError } from '../../lambda/core/delivery';
import { parseJson, parseWorkflowJob, workflowJobAction } from '../../lambda/core/workflow-job';

const payload = (over: Record<string, unknown> = {}, job: Record<string, unknown> = {}) => ({
  action: 'queued',
  workflow_job: {
    id: 42,
    run_id: 7,
    run_attempt: 1,
    labels: ['self-hosted', 'linux'],
    runner_name: null,
    conclusion: null,
    name: 'build',
    ...job,
  },
  repository: { full_name: 'acme/app', name: 'app', owner: { login: 'acme' } },
  installation: { id: 99 },
  ...over,
});

function rejection(fn: () => unknown): RequestError {
  try {
    fn();
  } catch (e) {
    if (e instanceof RequestError) return e;
    throw e;
  }
  throw new Error('expected a RequestError');
}

describe('parseWorkflowJob', () => {
  test('a queued job', () => {
    expect(parseWorkflowJob(payload())).toEqual({
      action: 'queued',
      jobId: 42,
      runId: 7,
      runAttempt: 1,
      labels: ['self-hosted', 'linux'],
      repository: 'acme/app',
      owner: 'acme',
      repo: 'app',
      installationId: 99,
      runnerName: null,
      conclusion: null,
      jobName: 'build',
      runAttemptDefaulted: false,
    });
  });

  test('a payload without run_attempt (older GHES) is attempt 1, and says so', () => {
    const job = parseWorkflowJob(payload({}, { run_attempt: undefined }));
    expect(job).toMatchObject({ runAttempt: 1, runAttemptDefaulted: true });
  });

  test.each([
    'acme/..',
    '../orgs',
    'acme/.',
    'acme/app%2F..',
    'acme/app?x=1',
    'acme/app#frag',
    'acme/app\u0000',
    'acme/ap\np',
    '-acme/app',
    `${'a'.repeat(40)}/app`,
    `acme/${'r'.repeat(101)}`,
    'acme/app/extra',
  ])('an impossible repository name is refused (422): %j', (fullName) => {
    const name = fullName.replace('\\u0000', '\u0000');
    expect(() => parseWorkflowJob(payload({ repository: { full_name: name } }))).toThrow(
      expect.objectContaining({ statusCode: 422 }),
    );
  });

  test.each(['acme/app', 'my-org/repo.name_1', 'octocat_acme/dotfiles', 'a/.github'])(
    'a name GitHub allows is accepted: %s',
    (fullName) => {
      expect(parseWorkflowJob(payload({ repository: { full_name: fullName } })).repository).toBe(fullName);
    },
  );

  test('in_progress carries the runner that took the job', () => {
    const job = parseWorkflowJob(payload({ action: 'in_progress' }, { runner_name: 'r-1' }));
    expect(job.runnerName).toBe('r-1');
  });

  test.each([
    ['missing workflow_job', { workflow_job: undefined }, {}, /workflow_job is missing/],
    ['string job id', {}, { id: '42' }, /workflow_job.id/],
    ['negative attempt', {}, { run_attempt: -1 }, /run_attempt/],
    ['labels not a list', {}, { labels: 'self-hosted' }, /labels/],
    ['labels with a number', {}, { labels: ['self-hosted', 3] }, /labels/],
    ['no installation', { installation: undefined }, {}, /installation/],
    ['bad full_name', { repository: { full_name: 'nope' } }, {}, /full_name/],
    ['runner_name a number', {}, { runner_name: 5 }, /runner_name/],
  ])('%s → 422 naming the field', (_n, over, job, message) => {
    const e = rejection(() => parseWorkflowJob(payload(over, job)));
    expect(e.statusCode).toBe(422);
    expect(e.message).toMatch(message);
  });

  test('malformed JSON and non-objects are 400', () => {
    expect(rejection(() => parseJson('{nope')).statusCode).toBe(400);
    expect(rejection(() => workflowJobAction([1, 2])).statusCode).toBe(400);
    expect(rejection(() => workflowJobAction('text')).statusCode).toBe(400);
  });

  test('unknown actions are recognised as such, not rejected', () => {
    expect(workflowJobAction({ action: 'requested' })).toBeUndefined();
    expect(workflowJobAction({ action: 'waiting' })).toBe('waiting');
  });
});
