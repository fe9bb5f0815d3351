// What the emulator says about jobs: `workflow_job` webhook deliveries (shape, order, the outbox and
// the delivery log) and `GET /repos/{owner}/{repo}/actions/jobs/{job_id}`, through the real Octokit.
import type { Octokit } from '@octokit/rest';
import { randomUUID } from 'node:crypto';
import type { OutboxDelivery } from '../github-emulator';
import { APP_ID, failure, NARROW_INSTALLATION, ORG_INSTALLATION, useGitHubFixture } from './fixture';

const USER_INSTALLATION = 103;

// Every key GitHub's webhook schema and REST `job` schema give a workflow job.
const JOB_KEYS = [
  'check_run_url',
  'completed_at',
  'conclusion',
  'created_at',
  'head_branch',
  'head_sha',
  'html_url',
  'id',
  'labels',
  'name',
  'node_id',
  'run_attempt',
  'run_id',
  'run_url',
  'runner_group_id',
  'runner_group_name',
  'runner_id',
  'runner_name',
  'started_at',
  'status',
  'steps',
  'url',
  'workflow_name',
];

const jobOf = (d: OutboxDelivery) => d.payload.workflow_job as Record<string, unknown>;

describe('GitHubEmulator workflow_job events and the job route', () => {
  const fx = useGitHubFixture();
  let octokit: Octokit | undefined;
  const gh = () => (octokit ??= fx.appOctokit(ORG_INSTALLATION));

  async function connectedOrgRunner(labels: string[]) {
    const name = `ev-${randomUUID()}`;
    const res = await gh().rest.actions.generateRunnerJitconfigForOrg({
      org: 'octo-org',
      name,
      runner_group_id: 1,
      labels,
    });
    fx.emu.connectRunner(res.data.encoded_jit_config);
    return { id: res.data.runner.id, name };
  }

  beforeAll(() => {
    fx.emu.addInstallation({
      id: USER_INSTALLATION,
      appId: APP_ID,
      account: 'octo-user',
      accountType: 'User',
    });
  });
  beforeEach(() => {
    for (const j of fx.emu.jobs()) fx.emu.cancelJob(j.id);
    for (const r of fx.emu.runners()) fx.emu.removeRunner(r.id);
    fx.emu.takeDeliveries();
  });

  it('emits queued → in_progress → completed, shaped like GitHub’s payloads, with server-clock times', async () => {
    const jobId = fx.emu.queueJob({
      repository: 'octo-org/app',
      labels: ['self-hosted', 'linux'],
      name: 'test (20)',
      runAttempt: 2,
    });
    fx.emu.advanceClock(30);
    const runner = await connectedOrgRunner(['self-hosted', 'linux', 'x64']);
    fx.emu.advanceClock(90);
    fx.emu.finishJob(jobId);
    fx.emu.advanceClock(-120);

    const deliveries = fx.emu.takeDeliveries();
    expect(deliveries.map((d) => [d.event, d.action, jobOf(d).id, jobOf(d).status])).toEqual([
      ['workflow_job', 'queued', jobId, 'queued'],
      ['workflow_job', 'in_progress', jobId, 'in_progress'],
      ['workflow_job', 'completed', jobId, 'completed'],
    ]);
    expect(fx.emu.takeDeliveries()).toEqual([]);
    expect(new Set(deliveries.map((d) => d.guid)).size).toBe(3);
    for (const d of deliveries) {
      expect(d.guid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(JSON.parse(d.body)).toEqual(d.payload);
      expect(Object.keys(jobOf(d)).sort()).toEqual(JOB_KEYS);
    }

    const [queued, inProgress, completed] = deliveries;
    expect(jobOf(queued)).toMatchObject({
      labels: ['self-hosted', 'linux'],
      name: 'test (20)',
      run_attempt: 2,
      conclusion: null,
      completed_at: null,
      runner_id: null,
      runner_name: null,
      runner_group_id: null,
      runner_group_name: null,
      steps: [],
      workflow_name: 'CI',
      head_branch: 'main',
      head_sha: expect.stringMatching(/^[0-9a-f]{40}$/),
      url: `${fx.emu.apiUrl}/repos/octo-org/app/actions/jobs/${jobId}`,
    });
    expect(jobOf(queued).started_at).toBe(jobOf(queued).created_at);
    expect(jobOf(inProgress)).toMatchObject({
      runner_id: runner.id,
      runner_name: runner.name,
      runner_group_id: 1,
      runner_group_name: 'Default',
      conclusion: null,
    });
    expect(jobOf(completed)).toMatchObject({ conclusion: 'success', runner_name: runner.name });
    const at = (d: OutboxDelivery, key: string) => Date.parse(jobOf(d)[key] as string);
    expect(at(inProgress, 'started_at') - at(queued, 'created_at')).toBeGreaterThanOrEqual(29_000);
    expect(at(completed, 'completed_at') - at(inProgress, 'started_at')).toBeGreaterThanOrEqual(89_000);

    expect(queued.payload).toMatchObject({
      action: 'queued',
      repository: {
        name: 'app',
        full_name: 'octo-org/app',
        private: true,
        owner: { login: 'octo-org', type: 'Organization', id: expect.any(Number) },
      },
      organization: { login: 'octo-org', id: expect.any(Number) },
      sender: { login: expect.any(String), type: 'User' },
      installation: { id: ORG_INSTALLATION, node_id: expect.any(String) },
    });
  });

  it('omits organization for a user account’s repository', () => {
    fx.emu.queueJob({ repository: 'octo-user/dots', labels: ['self-hosted'] });
    const [d] = fx.emu.takeDeliveries();
    expect(d.payload).not.toHaveProperty('organization');
    expect(d.payload).toMatchObject({
      repository: { full_name: 'octo-user/dots', owner: { login: 'octo-user', type: 'User' } },
      installation: { id: USER_INSTALLATION },
    });
  });

  it('reports cancelled and lost jobs as completed with null or kept runner fields', async () => {
    const queued = fx.emu.queueJob({ repository: 'octo-org/app', labels: ['nobody-has-this'] });
    fx.emu.cancelJob(queued);
    const runner = await connectedOrgRunner(['self-hosted']);
    const running = fx.emu.queueJob({ repository: 'octo-org/app', labels: ['self-hosted'] });
    fx.emu.runnerLost(runner.id);
    const seen = fx.emu
      .takeDeliveries()
      .map((d) => [d.action, jobOf(d).id, jobOf(d).conclusion, jobOf(d).runner_name]);
    expect(seen).toEqual([
      ['queued', queued, null, null],
      ['completed', queued, 'cancelled', null],
      ['queued', running, null, null],
      ['in_progress', running, null, runner.name],
      ['completed', running, 'failure', runner.name],
    ]);
  });

  it('logs delivery results in the app’s delivery log; a later attempt of a guid is a redelivery', async () => {
    fx.emu.queueJob({ repository: 'octo-org/app', labels: ['self-hosted'] });
    const [d] = fx.emu.takeDeliveries();
    const first = fx.emu.recordDeliveryResult(d.guid, 502);
    const second = fx.emu.recordDeliveryResult(d.guid, 200);
    const listed = (await fx.appOctokit().rest.apps.listWebhookDeliveries({ per_page: 100 })).data;
    const repo = d.payload.repository as { id: number };
    expect(listed.find((x) => x.id === first)).toMatchObject({
      guid: d.guid,
      event: 'workflow_job',
      action: 'queued',
      status_code: 502,
      redelivery: false,
      installation_id: ORG_INSTALLATION,
      repository_id: repo.id,
    });
    expect(listed.find((x) => x.id === second)).toMatchObject({
      guid: d.guid,
      status_code: 200,
      redelivery: true,
    });
    expect(() => fx.emu.recordDeliveryResult(randomUUID(), 200)).toThrow(/no webhook event/);
  });

  it('answers GET job in GitHub’s shape, the same object the latest event carried', async () => {
    const runner = await connectedOrgRunner(['self-hosted']);
    const jobId = fx.emu.queueJob({ repository: 'octo-org/app', labels: ['self-hosted'] });
    const latest = fx.emu.takeDeliveries().at(-1) as OutboxDelivery;
    const res = await gh().rest.actions.getJobForWorkflowRun({
      owner: 'octo-org',
      repo: 'App',
      job_id: jobId,
    });
    expect(res.status).toBe(200);
    expect(res.headers['x-accepted-github-permissions']).toBe('actions=read');
    expect(res.data).toEqual(jobOf(latest));
    expect(res.data).toMatchObject({
      status: 'in_progress',
      runner_name: runner.name,
      run_attempt: 1,
      steps: [],
    });
  });

  it('answers 404 for an unknown job or another repository’s, and 403 without the actions permission', async () => {
    const jobId = fx.emu.queueJob({ repository: 'octo-org/app', labels: ['self-hosted'] });
    const get = (repo: string, id: number) =>
      gh().rest.actions.getJobForWorkflowRun({ owner: 'octo-org', repo, job_id: id });
    const unknown = await failure(get('app', jobId + 1));
    expect(unknown.status).toBe(404);
    expect(unknown.response.data).toMatchObject({
      message: 'Not Found',
      documentation_url: 'https://docs.github.com/rest/actions/workflow-jobs#get-a-job-for-a-workflow-run',
    });
    expect((await failure(get('other', jobId))).status).toBe(404);

    const narrowJob = fx.emu.queueJob({ repository: 'narrow-org/app', labels: ['self-hosted'] });
    const forbidden = await failure(
      fx
        .appOctokit(NARROW_INSTALLATION)
        .rest.actions.getJobForWorkflowRun({ owner: 'narrow-org', repo: 'app', job_id: narrowJob }),
    );
    expect(forbidden.status).toBe(403);
    expect(forbidden.response.data.message).toBe('Resource not accessible by integration');
    expect(forbidden.response.headers['x-accepted-github-permissions']).toBe('actions=read');
  });

  it('injects faults on the job route', async () => {
    const jobId = fx.emu.queueJob({ repository: 'octo-org/app', labels: ['self-hosted'] });
    const get = () =>
      gh().rest.actions.getJobForWorkflowRun({ owner: 'octo-org', repo: 'app', job_id: jobId });
    await get(); // the token is minted before the faults are planned
    fx.emu.failNext('getJob', 1, 503);
    fx.emu.rateLimitNext('getJob', 1, 'secondary-429', 7);
    expect((await failure(get())).status).toBe(503);
    const limited = await failure(get());
    expect([limited.status, limited.response.headers['retry-after']]).toEqual([429, '7']);
    expect((await get()).status).toBe(200);
    fx.emu.setFailureRate('getJob', 1, 500);
    expect((await failure(get())).status).toBe(500);
    expect(fx.emu.callCount('getJob')).toBe(5);
  });
});
