/**
 * launchJob's undo paths, with in-memory adapters: the faults here (a write that lands but loses its
 * answer, a handoff that keeps failing) cannot be injected into dynalite.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Ec2Launcher } from '../../lambda/adapters/ec2-launcher';
import { GitHubRunners } from '../../lambda/adapters/github';
import { JobRecord, StateStore } from '../../lambda/adapters/state-store';
import { launchJob, LaunchDeps } from '../../lambda/launch/launch-job';
import { testConfig } from '../local-cloud/local-cloud';

const key = { host: 'github.com', jobId: 9, runAttempt: 1 };

function world(
  faults: {
    markThrowsAfterWrite?: boolean;
    handoffFails?: boolean;
    markRefused?: boolean;
    githubRefuses?: boolean;
  } = {},
) {
  const launched: string[] = [];
  const terminated: string[] = [];
  const deletedRunners: number[] = [];
  const record: { -readonly [K in keyof JobRecord]?: JobRecord[K] } = {
    status: 'launching',
    leaseOwner: 'me',
  };
  let markCalls = 0;
  const store = {
    async putHandoff() {
      if (faults.handoffFails)
        throw Object.assign(new Error('boom'), {
          name: 'InternalServerError',
          $metadata: { httpStatusCode: 500 },
        });
    },
    async deleteHandoff() {},
    async markLaunched(_k: unknown, owner: string, launch: { instanceId: string }) {
      markCalls++;
      if (faults.markRefused || record.status !== 'launching' || record.leaseOwner !== owner) return false;
      Object.assign(record, { status: 'launched', instanceId: launch.instanceId, leaseOwner: undefined });
      if (faults.markThrowsAfterWrite && markCalls === 1)
        throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
      return true;
    },
    async getJob() {
      return record as JobRecord;
    },
    async deferJob(_k: unknown, owner: string, reason: string) {
      if (record.status !== 'launching' || record.leaseOwner !== owner) return false;
      Object.assign(record, { status: 'pending', lastError: reason });
      return true;
    },
    async reopenLaunch(_k: unknown, instanceId: string, reason: string) {
      if (record.status !== 'launched' || record.instanceId !== instanceId) return false;
      Object.assign(record, { status: 'pending', lastError: reason, instanceId: undefined });
      return true;
    },
  };
  const github: GitHubRunners = {
    async generateJitConfig() {
      if (faults.githubRefuses)
        throw Object.assign(new Error('Resource not accessible by integration'), {
          status: 403,
          response: { headers: {} },
        });
      return { runnerId: 77, encodedJitConfig: 'JIT' };
    },
    async deleteRunner(_i, _s, id) {
      deletedRunners.push(id);
    },
  };
  const ec2 = {
    async launch() {
      launched.push('i-1');
      return { launched: true as const, instanceId: 'i-1' };
    },
    async terminate(ids: readonly string[]) {
      terminated.push(...ids);
    },
  };
  const deps: LaunchDeps = {
    github,
    ec2: ec2 as unknown as Ec2Launcher,
    store: store as unknown as StateStore,
    logger: new Logger({ logLevel: 'SILENT' }),
    runnerScope: 'org',
    runnerGroupId: 1,
    instanceArnPrefix: 'arn:aws:ec2:us-east-1:1:instance/',
    ownerTag: 'o',
    sleep: async () => undefined,
  };
  const run = (launchAttempt = 1) =>
    launchJob(deps, {
      key,
      repository: 'acme/app',
      installationId: 1,
      config: testConfig(),
      launchAttempt,
      leaseOwner: 'me',
      deadline: Date.now() + 5000,
    });
  return { run, record, launched, terminated, deletedRunners };
}

test('a record write that landed but lost its answer is a launch, not an undo', async () => {
  const w = world({ markThrowsAfterWrite: true });
  expect(await w.run()).toMatchObject({ status: 'launched', instanceId: 'i-1' });
  expect(w.record.status).toBe('launched');
  expect(w.terminated).toEqual([]);
  expect(w.deletedRunners).toEqual([]);
});

test('a handoff that keeps failing: instance terminated, registration deleted, job reopened for the retry', async () => {
  const w = world({ handoffFails: true });
  const outcome = await w.run();
  expect(outcome).toMatchObject({ status: 'deferred' });
  expect(w.terminated).toEqual(['i-1']);
  expect(w.deletedRunners).toEqual([77]);
  expect(w.record).toMatchObject({ status: 'pending', instanceId: undefined });
});

test('a job that ended during the launch: everything undone, nothing reopened', async () => {
  const w = world({ markRefused: true });
  w.record.status = 'completed';
  expect(await w.run()).toMatchObject({ status: 'abandoned' });
  expect(w.terminated).toEqual(['i-1']);
  expect(w.deletedRunners).toEqual([77]);
  expect(w.record.status).toBe('completed');
});

test('a first attempt launches while it registers; a retry registers first and launches nothing if GitHub refuses', async () => {
  const first = world({ githubRefuses: true });
  expect(await first.run(1)).toMatchObject({ status: 'deferred' });
  expect(first.launched).toEqual(['i-1']); // in parallel, for speed
  expect(first.terminated).toEqual(['i-1']); // and undone

  const retry = world({ githubRefuses: true });
  const outcome = await retry.run(2);
  expect(outcome).toMatchObject({ status: 'deferred' });
  expect(outcome.status === 'deferred' && outcome.reason).toMatch(/^GitHub: rejected \(403\)/);
  expect(retry.launched).toEqual([]);
  expect(retry.record.status).toBe('pending');
});
