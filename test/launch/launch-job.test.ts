/**
 * launchJob's order of writes and its undo and settle paths, with in-memory adapters: the faults
 * here (a write that lands but loses its answer, a handoff that keeps failing) cannot be injected
 * into dynalite. Every adapter call is logged in order, so "reopen before undo" is checked.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Ec2Launcher } from '../../lambda/adapters/ec2-launcher';
import { GitHubRunners } from '../../lambda/adapters/github';
import { JobRecord, StateStore } from '../../lambda/adapters/state-store';
import { InstanceView, RegistrationView } from '../../lambda/core/fleet-views';
import { attemptRunnerName, launchJob, LaunchDeps } from '../../lambda/launch/launch-job';
import { testConfig } from '../local-cloud/local-cloud';

const key = { host: 'github.com', jobId: 9, runAttempt: 1 };
const OWNER = 'o';

interface Faults {
  markThrowsAfterWrite?: boolean;
  markThrows?: boolean;
  handoffFails?: boolean;
  markRefused?: boolean;
  githubRefuses?: boolean;
  /** What earlier attempts left. */
  earlier?: { instances: InstanceView[]; registrations: RegistrationView[]; handoffs: string[] };
}

function world(faults: Faults = {}) {
  const calls: string[] = [];
  const record: { -readonly [K in keyof JobRecord]?: JobRecord[K] } = {
    status: 'launching',
    leaseOwner: 'me',
  };
  let markCalls = 0;
  const fail = (name: string) =>
    Object.assign(new Error('boom'), { name, $metadata: { httpStatusCode: 500 } });
  const jobs = {
    async markLaunched(_k: unknown, owner: string, launch: { instanceId: string; runnerName: string }) {
      calls.push(`record:${launch.instanceId}`);
      markCalls++;
      if (faults.markThrows) throw fail('InternalServerError');
      if (faults.markRefused || record.status !== 'launching' || record.leaseOwner !== owner) return false;
      Object.assign(record, {
        status: 'launched',
        instanceId: launch.instanceId,
        runnerName: launch.runnerName,
      });
      if (faults.markThrowsAfterWrite && markCalls === 1)
        throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
      return true;
    },
    async attachInstanceToRunning(_k: unknown, launch: { instanceId: string; runnerName: string }) {
      calls.push('attach');
      if (record.status !== 'running' || record.takenByRunner !== launch.runnerName) return false;
      record.instanceId = launch.instanceId;
      return true;
    },
    async get() {
      return record as JobRecord;
    },
    async defer(_k: unknown, owner: string, reason: string) {
      calls.push('defer');
      if (record.status !== 'launching' || record.leaseOwner !== owner) return false;
      Object.assign(record, { status: 'pending', lastError: reason });
      return true;
    },
  };
  const handoffs = {
    async put(arn: string) {
      calls.push(`handoff:${arn.split('/').pop()}`);
      if (faults.handoffFails) throw fail('InternalServerError');
      return true;
    },
    async void(arn: string) {
      calls.push(`void-handoff:${arn.split('/').pop()}`);
    },
    async exists(arn: string) {
      return faults.earlier?.handoffs.includes(arn.split('/').pop()!) ?? false;
    },
  };
  const github: GitHubRunners = {
    async generateJitConfig(_i, _s, name) {
      calls.push(`register:${name}`);
      if (faults.githubRefuses)
        throw Object.assign(new Error('Resource not accessible by integration'), {
          status: 403,
          response: { headers: {} },
        });
      return { runnerId: 77, encodedJitConfig: 'JIT' };
    },
    async deleteRunner(_i, _s, id) {
      calls.push(`deregister:${id}`);
    },
    async listRunners(_i, _s, options) {
      calls.push(`list-runners:${options?.name}`);
      return {
        runners: (faults.earlier?.registrations ?? []).filter((r) => r.name === options?.name),
        complete: true,
      };
    },
    async getJob() {
      return 'not-found' as const;
    },
    async listDeliveries() {
      throw new Error('the launch path never lists deliveries');
    },
    async redeliver() {
      throw new Error('the launch path never redelivers');
    },
    async getRun() {
      throw new Error('the launch path never reads runs');
    },
    async listAttemptJobs() {
      throw new Error('the launch path never lists a run attempt');
    },
    async rerun() {
      throw new Error('the launch path never re-runs');
    },
  };
  const ec2 = {
    async launch() {
      calls.push('fleet');
      return { launched: true as const, instanceId: 'i-1' };
    },
    async terminate(ids: readonly string[]) {
      calls.push(`terminate:${ids.join(',')}`);
    },
    async describeOwned() {
      calls.push('describe');
      return { instances: faults.earlier?.instances ?? [], complete: true };
    },
  };
  const deps: LaunchDeps = {
    github,
    ec2: ec2 as unknown as Ec2Launcher,
    store: { jobs, handoffs } as unknown as StateStore,
    logger: new Logger({ logLevel: 'SILENT' }),
    runnerScope: 'org',
    runnerGroupId: 1,
    instanceArnPrefix: 'arn:aws:ec2:us-east-1:1:instance/',
    ownerTag: OWNER,
    bootTimeoutMs: 600_000,
    sleep: async () => undefined,
  };
  const run = (launchAttempt = 1, settledThrough?: number) =>
    launchJob(deps, {
      key,
      repository: 'acme/app',
      installationId: 1,
      config: testConfig(),
      launchAttempt,
      settledThrough,
      leaseOwner: 'me',
      deadline: Date.now() + 5000,
    });
  return { run, record, calls };
}

const nameOf = (attempt: number) => attemptRunnerName({ ownerTag: OWNER }, 'linux', key, attempt);
const instance = (id: string, attempt: number, state: InstanceView['state'] = 'running'): InstanceView => ({
  instanceId: id,
  state,
  launchTime: Date.now() - attempt * 1000,
  runnerName: nameOf(attempt),
  jobKey: 'github.com/9/1',
  market: 'spot',
});

test('the handoff is written before the record says launched', async () => {
  const w = world();
  expect(await w.run()).toMatchObject({ status: 'launched', instanceId: 'i-1' });
  const order = w.calls.filter((c) => c.startsWith('handoff') || c.startsWith('record'));
  expect(order).toEqual(['handoff:i-1', 'record:i-1']);
});

test('a record write that landed but lost its answer is a launch, not an undo', async () => {
  const w = world({ markThrowsAfterWrite: true });
  expect(await w.run()).toMatchObject({ status: 'launched', instanceId: 'i-1' });
  expect(w.record.status).toBe('launched');
  expect(w.calls.filter((c) => c.startsWith('terminate') || c.startsWith('deregister'))).toEqual([]);
});

test('a record write that keeps failing leaves the whole launch for the next attempt to adopt', async () => {
  const w = world({ markThrows: true });
  expect(await w.run()).toMatchObject({ status: 'deferred' });
  expect(w.calls.filter((c) => c.startsWith('terminate') || c.startsWith('deregister'))).toEqual([]);
});

test('a handoff that keeps failing: the job is reopened first, then the instance and registration undone', async () => {
  const w = world({ handoffFails: true });
  expect(await w.run()).toMatchObject({ status: 'deferred' });
  expect(w.record).toMatchObject({ status: 'pending' });
  const defer = w.calls.indexOf('defer');
  expect(defer).toBeGreaterThan(-1);
  expect(w.calls.indexOf('terminate:i-1')).toBeGreaterThan(defer);
  expect(w.calls.indexOf('deregister:77')).toBeGreaterThan(defer);
});

test('a job that ended during the launch: everything undone, nothing reopened', async () => {
  const w = world({ markRefused: true });
  w.record.status = 'completed';
  expect(await w.run()).toMatchObject({ status: 'abandoned' });
  expect(w.calls).toEqual(expect.arrayContaining(['terminate:i-1', 'deregister:77', 'void-handoff:i-1']));
  expect(w.record.status).toBe('completed');
});

test('a job taken over by another lease holder: nothing undone (the new owner settles this attempt)', async () => {
  const w = world({ markRefused: true });
  w.record.leaseOwner = 'someone-else';
  expect(await w.run()).toMatchObject({ status: 'abandoned' });
  expect(w.calls.filter((c) => c.startsWith('terminate') || c.startsWith('deregister'))).toEqual([]);
});

test('a runner that took its job before the record was written makes the launch, attached to the record', async () => {
  const w = world();
  Object.assign(w.record, { status: 'running', takenByRunner: nameOf(1) });
  expect(await w.run()).toMatchObject({ status: 'launched', instanceId: 'i-1' });
  expect(w.calls).toContain('attach');
  expect(w.record.instanceId).toBe('i-1');
  expect(w.calls.filter((c) => c.startsWith('terminate'))).toEqual([]);
});

test('a first attempt launches while it registers; a retry registers first and launches nothing if GitHub refuses', async () => {
  const first = world({ githubRefuses: true });
  expect(await first.run(1)).toMatchObject({ status: 'deferred' });
  expect(first.calls).toContain('fleet'); // in parallel, for speed
  expect(first.calls).toContain('terminate:i-1'); // and undone, after the reopen
  expect(first.calls.indexOf('terminate:i-1')).toBeGreaterThan(first.calls.indexOf('defer'));

  const retry = world({ githubRefuses: true });
  const outcome = await retry.run(2, 1);
  expect(outcome).toMatchObject({ status: 'deferred' });
  expect(outcome.status === 'deferred' && outcome.reason).toMatch(/^GitHub: rejected \(403\)/);
  expect(retry.calls).not.toContain('fleet');
  expect(retry.record.status).toBe('pending');
});

describe('a retry settles what earlier attempts left before launching', () => {
  test('a whole earlier launch (instance, registration, handoff) is adopted: nothing new is launched', async () => {
    const w = world({
      earlier: {
        instances: [instance('i-0', 1)],
        registrations: [{ id: 5, name: nameOf(1), status: 'offline', busy: false }],
        handoffs: ['i-0'],
      },
    });
    expect(await w.run(2)).toMatchObject({ status: 'launched', instanceId: 'i-0', adopted: true });
    expect(w.calls).not.toContain('fleet');
    expect(w.calls.some((c) => c.startsWith('register'))).toBe(false);
    expect(w.record).toMatchObject({ status: 'launched', instanceId: 'i-0', runnerName: nameOf(1) });
  });

  test('an instance without handoff and an orphaned registration are undone, then the attempt launches', async () => {
    const w = world({
      earlier: {
        instances: [instance('i-0', 1)],
        registrations: [
          { id: 5, name: nameOf(1), status: 'offline', busy: false },
          { id: 6, name: nameOf(2), status: 'offline', busy: false },
        ],
        handoffs: [],
      },
    });
    expect(await w.run(3)).toMatchObject({ status: 'launched', instanceId: 'i-1' });
    expect(w.calls).toEqual(expect.arrayContaining(['terminate:i-0', 'deregister:5', 'deregister:6']));
    expect(w.calls.indexOf('terminate:i-0')).toBeLessThan(w.calls.indexOf('fleet'));
  });

  test('attempts recorded as settled are not looked for again', async () => {
    const w = world();
    await w.run(2, 1);
    expect(w.calls).not.toContain('describe');
  });
});
