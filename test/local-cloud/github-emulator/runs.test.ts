// Workflow runs and re-runs: the pure rules (a run's status and conclusion from its jobs, what
// GitHub re-runs and when it refuses) as tables, then the routes through the real Octokit: get a
// run, list an attempt's jobs page by page, re-run failed jobs or one job (403 while the run is in
// progress, 201 after, a new attempt of queued jobs with their events), permissions and faults.
import type { Octokit } from '@octokit/rest';
import { randomUUID } from 'node:crypto';
import type { OutboxDelivery } from '../github-emulator';
import { APP_ID, failure, ORG_INSTALLATION, useGitHubFixture } from './fixture';
import type { EmulatedJob } from './jobs';
import {
  attemptStatus,
  decideRerunFailedJobs,
  decideRerunJob,
  deriveRun,
  latestExecutions,
  runConclusion,
  type EmulatedRun,
} from './runs';

function job(id: number, fields: Partial<EmulatedJob> = {}): EmulatedJob {
  return {
    id,
    runId: 1,
    runAttempt: 1,
    repository: 'octo-org/app',
    installationId: 1,
    labels: ['self-hosted'],
    status: 'completed',
    conclusion: 'success',
    runnerId: null,
    runnerName: null,
    runnerGroupId: null,
    runnerGroupName: null,
    createdAt: `2026-01-01T00:00:0${id % 10}Z`,
    startedAt: `2026-01-01T00:00:0${id % 10}Z`,
    completedAt: null,
    name: `job-${id}`,
    workflowName: 'CI',
    headBranch: 'main',
    headSha: '0'.repeat(40),
    rerunOf: null,
    ...fields,
  };
}

const ok = { status: 'completed', conclusion: 'success' } as const;
const failed = { status: 'completed', conclusion: 'failure' } as const;
const cancelled = { status: 'completed', conclusion: 'cancelled' } as const;
const running = { status: 'in_progress', conclusion: null } as const;
const queued = { status: 'queued', conclusion: null } as const;

describe('run rules', () => {
  it.each([
    [[queued, queued], 'queued'],
    [[queued, running], 'in_progress'],
    [[queued, ok], 'in_progress'], // one job done, another not started: the run is under way
    [[ok, failed], 'completed'],
    [[{ status: 'waiting', conclusion: null } as const, queued], 'waiting'],
  ] as const)('an attempt whose jobs are %j is %s', (states, expected) => {
    expect(attemptStatus(states.map((s, i) => job(i + 1, s)))).toBe(expected);
  });

  it.each([
    [[ok, ok], 'success'],
    [[ok, failed, cancelled], 'failure'],
    [[ok, cancelled], 'cancelled'],
  ] as const)('a completed run whose latest executions are %j concludes %s', (states, expected) => {
    expect(runConclusion(states.map((s, i) => job(i + 1, s)))).toBe(expected);
  });

  it('judges a re-run run by the latest execution of each job, and its status by the latest attempt', () => {
    const jobs = [
      job(1, failed),
      job(2, ok),
      job(3, { ...failed, runAttempt: 2, name: 'job-1', rerunOf: 1 }),
      job(4, { ...ok, runAttempt: 3, name: 'job-1', rerunOf: 3 }),
    ];
    expect(latestExecutions(jobs).map((j) => j.id)).toEqual([2, 4]);
    expect(deriveRun(jobs)).toMatchObject({ runAttempt: 3, status: 'completed', conclusion: 'success' });
    const rerunning = [...jobs.slice(0, 3), job(4, { ...queued, runAttempt: 3, rerunOf: 3 })];
    expect(deriveRun(rerunning)).toMatchObject({ runAttempt: 3, status: 'queued', conclusion: null });
    expect(deriveRun([])).toBeUndefined();
  });

  it.each([
    ['an in-progress run', [failed, running], { ok: false, message: 'This workflow is already running' }],
    ['a queued run', [queued], { ok: false, message: 'This workflow is already running' }],
    ['a run with nothing failed', [ok, ok], { ok: false, message: 'This workflow run cannot be retried' }],
    ['a run with a failed and a cancelled job', [failed, ok, cancelled], { ok: true, ids: [1, 3] }],
  ] as const)('rerun-failed-jobs on %s', (_name, states, expected) => {
    const run = deriveRun(states.map((s, i) => job(i + 1, s))) as EmulatedRun;
    const decision = decideRerunFailedJobs(run);
    expect(decision.ok ? { ok: true, ids: decision.jobs.map((j) => j.id) } : decision).toEqual(expected);
  });

  it('re-runs only what is still failed: a job that succeeded on re-run is not re-run again', () => {
    const jobs = [job(1, failed), job(2, failed), job(3, { ...ok, runAttempt: 2, rerunOf: 1 })];
    const decision = decideRerunFailedJobs(deriveRun(jobs) as EmulatedRun);
    expect(decision.ok && decision.jobs.map((j) => j.id)).toEqual([2]);
  });

  it('a per-job re-run: refused while the run runs; else that job’s latest execution, whatever its conclusion', () => {
    const jobs = [job(1, failed), job(2, ok), job(3, { ...failed, runAttempt: 2, rerunOf: 1 })];
    const run = deriveRun(jobs) as EmulatedRun;
    const pick = (id: number) => {
      const d = decideRerunJob(run, jobs.find((j) => j.id === id) as EmulatedJob);
      return d.ok ? d.jobs.map((j) => j.id) : d.message;
    };
    expect([pick(1), pick(2), pick(3)]).toEqual([[3], [2], [3]]);
    const inProgress = deriveRun([job(1, failed), job(2, running)]) as EmulatedRun;
    expect(decideRerunJob(inProgress, jobs[0])).toEqual({
      ok: false,
      message: 'The workflow run containing this job is already running',
    });
  });
});

describe('GitHubEmulator workflow runs and re-runs', () => {
  const fx = useGitHubFixture();
  const READ_ONLY_INSTALLATION = 103;
  let octokit: Octokit | undefined;
  const gh = () => (octokit ??= fx.appOctokit(ORG_INSTALLATION));
  const repo = { owner: 'octo-org', repo: 'app' } as const;

  beforeAll(() => {
    fx.emu.addInstallation({
      id: READ_ONLY_INSTALLATION,
      appId: APP_ID,
      account: 'read-org',
      permissions: { administration: 'write', actions: 'read', metadata: 'read' },
    });
  });
  beforeEach(() => fx.emu.takeDeliveries());

  /** A run of `names.length` jobs with labels nobody else uses; answers the run and job ids. */
  function queueRun(names: string[], repository = 'octo-org/app') {
    const labels = ['self-hosted', `l-${randomUUID()}`];
    const first = fx.emu.queueJob({ repository, labels, name: names[0] });
    const runId = fx.emu.job(first)?.runId as number;
    const rest = names.slice(1).map((name) => fx.emu.queueJob({ repository, labels, name, runId }));
    return { runId, labels, jobIds: [first, ...rest] };
  }

  /** Registers and connects an org runner with `labels`; answers its id. */
  async function connectRunner(labels: string[]): Promise<number> {
    const res = await gh().rest.actions.generateRunnerJitconfigForOrg({
      org: 'octo-org',
      name: `r-${randomUUID()}`,
      runner_group_id: 1,
      labels,
    });
    fx.emu.connectRunner(res.data.encoded_jit_config);
    return res.data.runner.id;
  }

  const getRun = (runId: number) => gh().rest.actions.getWorkflowRun({ ...repo, run_id: runId });
  const attemptJobs = (runId: number, attempt: number) =>
    gh().rest.actions.listJobsForWorkflowRunAttempt({ ...repo, run_id: runId, attempt_number: attempt });
  const jobOf = (d: OutboxDelivery) => d.payload.workflow_job as Record<string, unknown>;

  it('answers GET run in GitHub’s shape, its status following its jobs', async () => {
    const { runId, labels, jobIds } = queueRun(['build', 'test']);
    const res = await getRun(runId);
    expect(res.status).toBe(200);
    expect(res.headers['x-accepted-github-permissions']).toBe('actions=read');
    // Every field GitHub's workflow-run schema requires, plus the REST-only ones.
    for (const key of [
      'id',
      'name',
      'node_id',
      'check_suite_id',
      'check_suite_node_id',
      'head_branch',
      'head_sha',
      'path',
      'display_title',
      'run_number',
      'event',
      'status',
      'conclusion',
      'workflow_id',
      'url',
      'html_url',
      'pull_requests',
      'created_at',
      'updated_at',
      'actor',
      'run_attempt',
      'referenced_workflows',
      'run_started_at',
      'triggering_actor',
      'jobs_url',
      'logs_url',
      'check_suite_url',
      'artifacts_url',
      'cancel_url',
      'rerun_url',
      'previous_attempt_url',
      'workflow_url',
      'head_commit',
      'repository',
      'head_repository',
    ]) {
      expect(res.data).toHaveProperty(key);
    }
    expect(res.data).toMatchObject({
      id: runId,
      name: 'CI',
      head_branch: 'main',
      head_sha: fx.emu.job(jobIds[0])?.headSha,
      status: 'queued',
      conclusion: null,
      run_attempt: 1,
      previous_attempt_url: null,
      url: `${fx.emu.apiUrl}/repos/octo-org/app/actions/runs/${runId}`,
      html_url: `${fx.emu.webUrl}/octo-org/app/actions/runs/${runId}`,
      jobs_url: `${fx.emu.apiUrl}/repos/octo-org/app/actions/runs/${runId}/jobs`,
      repository: { full_name: 'octo-org/app' },
    });

    await connectRunner(labels);
    expect((await getRun(runId)).data).toMatchObject({ status: 'in_progress', conclusion: null });
    fx.emu.finishJob(jobIds[0]);
    await connectRunner(labels);
    fx.emu.finishJob(jobIds[1]);
    expect((await getRun(runId)).data).toMatchObject({ status: 'completed', conclusion: 'success' });
    expect(fx.emu.run(runId)).toEqual({
      id: runId,
      repository: 'octo-org/app',
      runAttempt: 1,
      status: 'completed',
      conclusion: 'success',
      jobIds,
    });
  });

  it('a lost runner fails its job (a completed event); the run completes with its last job', async () => {
    const { runId, labels, jobIds } = queueRun(['a', 'b']);
    const lost = await connectRunner(labels);
    await connectRunner(labels);
    fx.emu.takeDeliveries();

    fx.emu.runnerLost(lost);
    const [event] = fx.emu.takeDeliveries();
    expect([event.action, jobOf(event).id, jobOf(event).conclusion]).toEqual([
      'completed',
      jobIds[0],
      'failure',
    ]);
    expect(fx.emu.job(jobIds[0])).toMatchObject({ status: 'completed', conclusion: 'failure' });
    expect((await getRun(runId)).data).toMatchObject({ status: 'in_progress', conclusion: null });

    fx.emu.finishJob(jobIds[1]);
    expect((await getRun(runId)).data).toMatchObject({ status: 'completed', conclusion: 'failure' });
  });

  it('refuses re-runs with 403 while the run is in progress', async () => {
    const { runId, labels, jobIds } = queueRun(['a', 'b']);
    const lost = await connectRunner(labels);
    fx.emu.runnerLost(lost); // a failed; b still queued

    const all = await failure(gh().rest.actions.reRunWorkflowFailedJobs({ ...repo, run_id: runId }));
    expect(all.status).toBe(403);
    expect(all.response.data).toEqual({
      message: 'This workflow is already running',
      documentation_url:
        'https://docs.github.com/rest/actions/workflow-runs#re-run-failed-jobs-from-a-workflow-run',
      status: '403',
    });
    const one = await failure(gh().rest.actions.reRunJobForWorkflowRun({ ...repo, job_id: jobIds[0] }));
    expect([one.status, one.response.data.message]).toEqual([
      403,
      'The workflow run containing this job is already running',
    ]);
    expect(one.response.headers['x-accepted-github-permissions']).toBe('actions=write');
    expect(fx.emu.rerunRequests.filter((r) => r.runId === runId)).toEqual([]);
    expect(fx.emu.jobs().filter((j) => j.runId === runId)).toHaveLength(2);
  });

  it('re-runs the failed and cancelled jobs as attempt 2: new queued jobs, their events, then scheduled', async () => {
    const { runId, labels, jobIds } = queueRun(['a', 'b', 'c']);
    const [a, b, c] = jobIds;
    fx.emu.runnerLost(await connectRunner(labels)); // a fails
    await connectRunner(labels);
    fx.emu.finishJob(b); // b succeeds
    fx.emu.cancelJob(c); // c is cancelled
    fx.emu.takeDeliveries();

    const res = await gh().rest.actions.reRunWorkflowFailedJobs({ ...repo, run_id: runId });
    expect([res.status, res.data]).toEqual([201, {}]);
    const attempt2 = fx.emu.jobs().filter((j) => j.runId === runId && j.runAttempt === 2);
    expect(attempt2.map((j) => [j.name, j.rerunOf, j.status])).toEqual([
      ['a', a, 'queued'],
      ['c', c, 'queued'],
    ]);
    for (const j of attempt2) {
      const original = fx.emu.job(j.rerunOf as number);
      expect(j.id).not.toBe(original?.id);
      expect(j).toMatchObject({
        repository: original?.repository,
        labels: original?.labels,
        installationId: original?.installationId,
        headSha: original?.headSha,
      });
    }
    const events = fx.emu.takeDeliveries();
    expect(events.map((d) => [d.action, jobOf(d).id, jobOf(d).run_attempt, jobOf(d).status])).toEqual(
      attempt2.map((j) => ['queued', j.id, 2, 'queued']),
    );
    expect(fx.emu.rerunRequests.at(-1)).toMatchObject({
      by: 'app',
      kind: 'failed-jobs',
      repository: 'octo-org/app',
      runId,
      jobId: null,
      runAttempt: 2,
      newJobIds: attempt2.map((j) => j.id),
    });

    const run = (await getRun(runId)).data;
    expect(run).toMatchObject({ run_attempt: 2, status: 'queued', conclusion: null });
    expect(run.previous_attempt_url).toBe(
      `${fx.emu.apiUrl}/repos/octo-org/app/actions/runs/${runId}/attempts/1`,
    );
    expect((await attemptJobs(runId, 1)).data.jobs.map((j) => j.id)).toEqual([a, b, c]);
    const listed = (await attemptJobs(runId, 2)).data;
    expect(listed.total_count).toBe(2);
    expect(listed.jobs.map((j) => [j.name, j.run_attempt, j.status])).toEqual([
      ['a', 2, 'queued'],
      ['c', 2, 'queued'],
    ]);

    // Scheduled as any queued job: a matching runner takes the new attempt's jobs.
    await connectRunner(labels);
    await connectRunner(labels);
    expect(fx.emu.takeDeliveries().map((d) => [d.action, jobOf(d).id])).toEqual(
      attempt2.map((j) => ['in_progress', j.id]),
    );
    for (const j of attempt2) fx.emu.finishJob(j.id);
    expect((await getRun(runId)).data).toMatchObject({
      run_attempt: 2,
      status: 'completed',
      conclusion: 'success',
    });
    // Nothing failed any more.
    const again = await failure(gh().rest.actions.reRunWorkflowFailedJobs({ ...repo, run_id: runId }));
    expect([again.status, again.response.data.message]).toEqual([403, 'This workflow run cannot be retried']);
  });

  it('re-runs one job as the next attempt, even a successful one; another repository’s job is 404', async () => {
    const { runId, labels, jobIds } = queueRun(['a', 'b']);
    await connectRunner(labels);
    await connectRunner(labels);
    fx.emu.finishJob(jobIds[0], 'failure');
    fx.emu.finishJob(jobIds[1]);
    fx.emu.takeDeliveries();

    const res = await gh().rest.actions.reRunJobForWorkflowRun({
      ...repo,
      job_id: jobIds[1],
      enable_debug_logging: true,
    });
    expect([res.status, res.data]).toEqual([201, {}]);
    const [rerun] = fx.emu.jobs().filter((j) => j.runId === runId && j.runAttempt === 2);
    expect(rerun).toMatchObject({ name: 'b', rerunOf: jobIds[1], status: 'queued' });
    expect(fx.emu.takeDeliveries().map((d) => [d.action, jobOf(d).id])).toEqual([['queued', rerun.id]]);
    expect(fx.emu.rerunRequests.at(-1)).toMatchObject({
      by: 'app',
      kind: 'job',
      jobId: jobIds[1],
      runAttempt: 2,
    });

    const other = queueRun(['x'], 'octo-org/other');
    const wrongRepo = await failure(
      gh().rest.actions.reRunJobForWorkflowRun({ ...repo, job_id: other.jobIds[0] }),
    );
    expect([wrongRepo.status, wrongRepo.response.data.message]).toEqual([404, 'Not Found']);
    expect((await failure(getRun(other.runId))).status).toBe(404);
    expect(
      (await failure(gh().rest.actions.reRunWorkflowFailedJobs({ ...repo, run_id: other.runId }))).status,
    ).toBe(404);
    expect((await failure(attemptJobs(runId, 3))).status).toBe(404);
    expect((await failure(attemptJobs(runId, 0))).status).toBe(404);
  });

  it('lists an attempt’s jobs with per_page and page as GitHub pages them, Link header included', async () => {
    const names = Array.from({ length: 5 }, (_, i) => `shard-${i}`);
    const { runId, jobIds } = queueRun(names);
    const page2 = await gh().rest.actions.listJobsForWorkflowRunAttempt({
      ...repo,
      run_id: runId,
      attempt_number: 1,
      per_page: 2,
      page: 2,
    });
    expect(page2.data.total_count).toBe(5);
    expect(page2.data.jobs.map((j) => j.id)).toEqual(jobIds.slice(2, 4));
    const base = `${fx.emu.apiUrl}/repos/octo-org/app/actions/runs/${runId}/attempts/1/jobs?per_page=2&page=`;
    expect(page2.headers.link).toBe(
      `<${base}1>; rel="prev", <${base}3>; rel="next", <${base}3>; rel="last", <${base}1>; rel="first"`,
    );
    const all = await gh().paginate(gh().rest.actions.listJobsForWorkflowRunAttempt, {
      ...repo,
      run_id: runId,
      attempt_number: 1,
      per_page: 2,
    });
    expect(all.map((j) => j.id)).toEqual(jobIds);
    expect((await attemptJobs(runId, 1)).headers.link).toBeUndefined();
  });

  it('needs actions: write to re-run: "Resource not accessible by integration" without it', async () => {
    const readOnly = fx.appOctokit(READ_ONLY_INSTALLATION);
    const target = { owner: 'read-org', repo: 'app' };
    const labels = ['self-hosted', `l-${randomUUID()}`];
    const jobId = fx.emu.queueJob({ repository: 'read-org/app', labels });
    const runId = fx.emu.job(jobId)?.runId as number;
    fx.emu.cancelJob(jobId);

    expect((await readOnly.rest.actions.getWorkflowRun({ ...target, run_id: runId })).data.conclusion).toBe(
      'cancelled',
    );
    const refused = await failure(
      readOnly.rest.actions.reRunWorkflowFailedJobs({ ...target, run_id: runId }),
    );
    expect([refused.status, refused.response.data.message]).toEqual([
      403,
      'Resource not accessible by integration',
    ]);
    expect(refused.response.headers['x-accepted-github-permissions']).toBe('actions=write');
    const perJob = await failure(readOnly.rest.actions.reRunJobForWorkflowRun({ ...target, job_id: jobId }));
    expect([perJob.status, perJob.response.data.message]).toEqual([
      403,
      'Resource not accessible by integration',
    ]);
    expect(fx.emu.run(runId)?.runAttempt).toBe(1);
  });

  it('a person re-runs the failed jobs the same way; the app is then refused while that attempt runs', async () => {
    const { runId, labels, jobIds } = queueRun(['a', 'b']);
    const lost = await connectRunner(labels);
    expect(() => fx.emu.rerunByPerson(runId)).toThrow(/This workflow is already running/);
    fx.emu.runnerLost(lost);
    await connectRunner(labels);
    fx.emu.finishJob(jobIds[1]);
    fx.emu.takeDeliveries();

    const ids = fx.emu.rerunByPerson(runId);
    expect(ids.map((id) => fx.emu.job(id))).toMatchObject([{ name: 'a', runAttempt: 2, rerunOf: jobIds[0] }]);
    expect(fx.emu.takeDeliveries().map((d) => [d.action, jobOf(d).id])).toEqual([['queued', ids[0]]]);
    expect(fx.emu.rerunRequests.at(-1)).toMatchObject({ by: 'person', kind: 'failed-jobs', newJobIds: ids });
    const refused = await failure(gh().rest.actions.reRunWorkflowFailedJobs({ ...repo, run_id: runId }));
    expect([refused.status, refused.response.data.message]).toEqual([
      403,
      'This workflow is already running',
    ]);
    expect(() => fx.emu.rerunByPerson(12345)).toThrow(/no workflow run 12345/);
  });

  it('injects faults on the run routes', async () => {
    const { runId } = queueRun(['a']);
    await getRun(runId); // the token is minted before the faults are planned
    fx.emu.failNext('getRun', 1, 502);
    expect((await failure(getRun(runId))).status).toBe(502);
    fx.emu.setFailureRate('listJobsForRunAttempt', 1, 503);
    expect((await failure(attemptJobs(runId, 1))).status).toBe(503);
    fx.emu.rateLimitNext('rerunFailedJobs', 1, 'secondary-403', 60);
    const limited = await failure(gh().rest.actions.reRunWorkflowFailedJobs({ ...repo, run_id: runId }));
    expect([limited.status, limited.response.headers['retry-after']]).toEqual([403, '60']);
    fx.emu.hangNext('rerunJob', 1);
    const [jobId] = fx.emu.run(runId)?.jobIds ?? [];
    await failure(
      gh().rest.actions.reRunJobForWorkflowRun({
        ...repo,
        job_id: jobId,
        request: { signal: AbortSignal.timeout(200) },
      }),
    );
    expect(fx.emu.calls.filter((c) => c.injected).map((c) => [c.route, c.status])).toEqual([
      ['getRun', 502],
      ['listJobsForRunAttempt', 503],
      ['rerunFailedJobs', 403],
      ['rerunJob', 0],
    ]);
    expect(fx.emu.rerunRequests.filter((r) => r.runId === runId)).toEqual([]);
  });
});
