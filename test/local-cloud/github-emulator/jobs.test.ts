// The emulator's job scheduler: the pure matching rules (labels, scope, order) as tables, then the
// lifecycle through the real Octokit: runners registered by JIT calls, connected with their JIT
// config, taking, finishing, losing and cancelling jobs, as GitHub hands jobs to runners.
import type { Octokit } from '@octokit/rest';
import { randomUUID } from 'node:crypto';
import { failure, ORG_INSTALLATION, useGitHubFixture } from './fixture';
import { labelsSatisfy, nextAssignment, scopeServesRepository, type EmulatedJob } from './jobs';
import type { EmulatedRunner } from './state';

function runner(id: number, fields: Partial<EmulatedRunner> = {}): EmulatedRunner {
  return {
    id,
    name: `r-${id}`,
    labels: ['self-hosted', 'linux'],
    scope: 'octo-org',
    scopeKind: 'org',
    runnerGroupId: 1,
    workFolder: '_work',
    jitConfig: `jit-${id}`,
    status: 'online',
    busy: false,
    ...fields,
  };
}

function job(id: number, fields: Partial<EmulatedJob> = {}): EmulatedJob {
  return {
    id,
    runId: 1,
    runAttempt: 1,
    repository: 'octo-org/app',
    installationId: 1,
    labels: ['self-hosted'],
    status: 'queued',
    conclusion: null,
    runnerId: null,
    runnerName: null,
    runnerGroupId: null,
    runnerGroupName: null,
    createdAt: '2026-01-01T00:00:00Z',
    startedAt: '2026-01-01T00:00:00Z',
    completedAt: null,
    name: 'build',
    workflowName: 'CI',
    headBranch: 'main',
    headSha: '0'.repeat(40),
    rerunOf: null,
    ...fields,
  };
}

describe('job matching rules', () => {
  it.each([
    [['self-hosted', 'linux', 'x64'], ['self-hosted', 'linux'], true],
    [['Self-Hosted', 'LINUX'], ['self-hosted', 'linux'], true],
    [['self-hosted', 'linux'], ['self-hosted', 'linux', 'gpu'], false],
    [['self-hosted'], ['linux'], false],
    [['a', 'b'], ['b', 'a'], true],
  ])('runner labels %j satisfy job labels %j: %s', (have, want, expected) => {
    expect(labelsSatisfy(have, want)).toBe(expected);
  });

  it.each([
    ['org', 'octo-org', 'octo-org/app', true],
    ['org', 'OCTO-ORG', 'octo-org/App', true],
    ['org', 'other-org', 'octo-org/app', false],
    ['repo', 'octo-org/app', 'Octo-Org/APP', true],
    ['repo', 'octo-org/other', 'octo-org/app', false],
    ['repo', 'octo-org', 'octo-org/app', false],
  ] as const)('a %s runner of %s serves %s: %s', (scopeKind, scope, repository, expected) => {
    expect(scopeServesRepository(runner(1, { scopeKind, scope }), repository)).toBe(expected);
  });

  it('offers the oldest queued job that some runner can take, to the eligible runner with the lowest id', () => {
    const jobs = [
      job(10, { status: 'in_progress' }),
      job(11, { labels: ['gpu'] }), // nobody can take it: it must not hold up job 12
      job(12),
      job(13),
    ];
    const runners = [
      runner(7),
      runner(3, { status: 'offline' }),
      runner(4, { busy: true }),
      runner(5, { labels: ['linux'] }),
      runner(6),
      runner(2, { scopeKind: 'repo', scope: 'octo-org/other' }),
    ];
    const pick = nextAssignment(jobs, runners, () => false);
    expect([pick?.job.id, pick?.runner.id]).toEqual([12, 6]);
    // A runner that already had its one job (ephemeral) is not offered another.
    const again = nextAssignment(jobs, runners, (id) => id === 6);
    expect([again?.job.id, again?.runner.id]).toEqual([12, 7]);
    expect(nextAssignment([job(11, { labels: ['gpu'] })], runners, () => false)).toBeUndefined();
  });
});

describe('GitHubEmulator job scheduler', () => {
  const fx = useGitHubFixture();
  let octokit: Octokit | undefined;
  const gh = () => (octokit ??= fx.appOctokit(ORG_INSTALLATION));

  async function repoRunner(repo: string, labels: string[]) {
    const name = `repo-${randomUUID()}`;
    const res = await gh().rest.actions.generateRunnerJitconfigForRepo({
      owner: 'octo-org',
      repo,
      name,
      runner_group_id: 1,
      labels,
    });
    return { id: res.data.runner.id, name, jit: res.data.encoded_jit_config };
  }

  async function orgRunner(labels: string[], runnerGroupId = 1) {
    const name = `org-${randomUUID()}`;
    const res = await gh().rest.actions.generateRunnerJitconfigForOrg({
      org: 'octo-org',
      name,
      runner_group_id: runnerGroupId,
      labels,
    });
    return { id: res.data.runner.id, name, jit: res.data.encoded_jit_config };
  }

  // Each test starts from no jobs in flight and no runners, so leftovers cannot take its jobs.
  beforeEach(() => {
    for (const j of fx.emu.jobs()) fx.emu.cancelJob(j.id);
    for (const r of fx.emu.runners()) fx.emu.removeRunner(r.id);
    fx.emu.takeDeliveries();
  });

  it('gives a job to the runner whose labels include all of its labels, case-insensitively, in a scope reaching the repo', async () => {
    const otherRepo = await repoRunner('other', ['self-hosted', 'linux']);
    const org = await orgRunner(['SELF-HOSTED', 'Linux', 'x64']);
    const tooFewLabels = await repoRunner('app', ['self-hosted']);
    for (const r of [otherRepo, org, tooFewLabels]) {
      expect(fx.emu.connectRunner(r.jit)).toMatchObject({ status: 'online', busy: false });
    }
    const jobId = fx.emu.queueJob({ repository: 'octo-org/app', labels: ['self-hosted', 'linux'] });

    expect(fx.emu.job(jobId)).toMatchObject({
      status: 'in_progress',
      runnerId: org.id,
      runnerName: org.name,
      runnerGroupId: 1,
      runnerGroupName: 'Default',
    });
    const seen = await gh().rest.actions.getSelfHostedRunnerForOrg({ org: 'octo-org', runner_id: org.id });
    expect(seen.data).toMatchObject({ status: 'online', busy: true });
    expect(
      fx.emu
        .runners()
        .filter((r) => r.busy)
        .map((r) => r.id),
    ).toEqual([org.id]);
    // A busy runner cannot be deleted while it runs the job.
    expect(
      (await failure(gh().rest.actions.deleteSelfHostedRunnerFromOrg({ org: 'octo-org', runner_id: org.id })))
        .status,
    ).toBe(422);
  });

  it('lets a repo runner of that repository take it, the lowest id first, and reports its group', async () => {
    fx.emu.addRunnerGroup('octo-org', 9);
    const first = await repoRunner('app', ['self-hosted', 'gpu']);
    const second = await repoRunner('app', ['self-hosted', 'gpu']);
    const grouped = await orgRunner(['self-hosted', 'arm64'], 9);
    fx.emu.connectRunnerById(second.id);
    fx.emu.connectRunnerById(first.id);
    fx.emu.connectRunner(grouped.jit);

    const a = fx.emu.queueJob({ repository: 'octo-org/app', labels: ['gpu'] });
    const b = fx.emu.queueJob({ repository: 'octo-org/app', labels: ['GPU'] });
    const c = fx.emu.queueJob({ repository: 'octo-org/app', labels: ['arm64'] });
    expect(fx.emu.job(a)?.runnerId).toBe(first.id);
    expect(fx.emu.job(b)?.runnerId).toBe(second.id);
    expect(fx.emu.job(c)).toMatchObject({
      runnerId: grouped.id,
      runnerGroupId: 9,
      runnerGroupName: 'group-9',
    });
  });

  it('hands the oldest job to whichever matching runner connects first: a runner takes another job’s place', async () => {
    const labels = ['self-hosted', 'linux'];
    const jobA = fx.emu.queueJob({ repository: 'octo-org/app', labels });
    const runnerA = await orgRunner(labels); // launched for job A
    const jobB = fx.emu.queueJob({ repository: 'octo-org/app', labels });
    const runnerB = await orgRunner(labels); // launched for job B, but boots first
    expect([fx.emu.job(jobA)?.status, fx.emu.job(jobB)?.status]).toEqual(['queued', 'queued']);

    expect(fx.emu.connectRunner(runnerB.jit)).toMatchObject({ busy: true });
    expect(fx.emu.job(jobA)).toMatchObject({ status: 'in_progress', runnerName: runnerB.name });
    expect(fx.emu.job(jobB)?.status).toBe('queued');
    fx.emu.connectRunner(runnerA.jit);
    expect(fx.emu.job(jobB)).toMatchObject({ status: 'in_progress', runnerName: runnerA.name });
    expect(jobA).toBeGreaterThan(2 ** 32);
    expect(jobB).toBeGreaterThan(jobA);
  });

  it('leaves a runner idle when no queued job matches, and a job queued when no runner does', async () => {
    const gpuJob = fx.emu.queueJob({ repository: 'octo-org/app', labels: ['self-hosted', 'gpu'] });
    const armJob = fx.emu.queueJob({ repository: 'octo-org/other', labels: ['self-hosted', 'arm64'] });
    const armForApp = await repoRunner('app', ['self-hosted', 'arm64']);
    expect(fx.emu.connectRunner(armForApp.jit)).toMatchObject({ status: 'online', busy: false });
    expect(fx.emu.job(gpuJob)?.status).toBe('queued');
    expect(fx.emu.job(armJob)?.status).toBe('queued');
    // The runner stays available: a matching job queued later is taken at once.
    const later = fx.emu.queueJob({ repository: 'octo-org/app', labels: ['ARM64'] });
    expect(fx.emu.job(later)?.runnerId).toBe(armForApp.id);
  });

  it('refuses to connect a runner whose registration was deleted', async () => {
    const r = await repoRunner('app', ['self-hosted']);
    const jobId = fx.emu.queueJob({ repository: 'octo-org/app', labels: ['self-hosted'] });
    const deleted = await gh().rest.actions.deleteSelfHostedRunnerFromRepo({
      owner: 'octo-org',
      repo: 'app',
      runner_id: r.id,
    });
    expect(deleted.status).toBe(204);
    expect(fx.emu.connectRunner(r.jit)).toBeUndefined();
    expect(fx.emu.connectRunnerById(r.id)).toBeUndefined();
    expect(fx.emu.job(jobId)?.status).toBe('queued');
  });

  it('finishes a job: completed with its conclusion, and the ephemeral registration is gone', async () => {
    const r = await repoRunner('app', ['self-hosted']);
    const jobId = fx.emu.queueJob({ repository: 'octo-org/app', labels: ['self-hosted'] });
    expect(() => fx.emu.finishJob(jobId)).toThrow(/queued/);
    fx.emu.connectRunner(r.jit);
    const next = fx.emu.queueJob({ repository: 'octo-org/app', labels: ['self-hosted'] });
    fx.emu.finishJob(jobId, 'failure');

    expect(fx.emu.job(jobId)).toMatchObject({ status: 'completed', conclusion: 'failure', runnerId: r.id });
    expect(fx.emu.job(jobId)?.completedAt).toEqual(expect.any(String));
    expect(fx.emu.runners().map((x) => x.id)).not.toContain(r.id);
    const gone = await failure(
      gh().rest.actions.getSelfHostedRunnerForRepo({ owner: 'octo-org', repo: 'app', runner_id: r.id }),
    );
    expect(gone.status).toBe(404);
    expect(fx.emu.job(next)?.status).toBe('queued');
  });

  it('fails the running job when its runner is lost, keeping the registration offline', async () => {
    const r = await orgRunner(['self-hosted']);
    fx.emu.connectRunner(r.jit);
    const jobId = fx.emu.queueJob({ repository: 'octo-org/app', labels: ['self-hosted'] });
    expect(fx.emu.job(jobId)?.status).toBe('in_progress');
    fx.emu.runnerLost(r.id);

    expect(fx.emu.job(jobId)).toMatchObject({
      status: 'completed',
      conclusion: 'failure',
      runnerName: r.name,
    });
    const seen = await gh().rest.actions.getSelfHostedRunnerForOrg({ org: 'octo-org', runner_id: r.id });
    expect(seen.data).toMatchObject({ status: 'offline', busy: false });
    // An ephemeral runner gets one job: even back online it takes no other.
    const another = fx.emu.queueJob({ repository: 'octo-org/app', labels: ['self-hosted'] });
    expect(fx.emu.connectRunnerById(r.id)).toMatchObject({ status: 'online', busy: false });
    expect(fx.emu.job(another)?.status).toBe('queued');
  });

  it('cancels a queued job and a running one; the running one’s runner deregisters', async () => {
    const queued = fx.emu.queueJob({ repository: 'octo-org/app', labels: ['nobody-has-this'] });
    expect(fx.emu.cancelJob(queued)).toBe(true);
    expect(fx.emu.job(queued)).toMatchObject({
      status: 'completed',
      conclusion: 'cancelled',
      runnerId: null,
    });
    expect(fx.emu.cancelJob(queued)).toBe(false);

    const r = await orgRunner(['self-hosted']);
    fx.emu.connectRunner(r.jit);
    const running = fx.emu.queueJob({ repository: 'octo-org/app', labels: ['self-hosted'] });
    expect(fx.emu.job(running)?.runnerId).toBe(r.id);
    expect(fx.emu.cancelJob(running)).toBe(true);
    expect(fx.emu.job(running)).toMatchObject({
      status: 'completed',
      conclusion: 'cancelled',
      runnerId: r.id,
    });
    expect(fx.emu.runners().map((x) => x.id)).not.toContain(r.id);
    expect(() => fx.emu.cancelJob(12345)).toThrow(/no job 12345/);
  });

  it('refuses a job no installation of this emulator covers, or one without labels', () => {
    expect(() => fx.emu.queueJob({ repository: 'stranger/app', labels: ['x'] })).toThrow(
      /0 installations cover stranger\/app/,
    );
    expect(() => fx.emu.queueJob({ repository: 'octo-org/app', labels: [] })).toThrow(/at least one label/);
  });
});
