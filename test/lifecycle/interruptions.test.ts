/**
 * Spot interruptions and stolen runners, end to end on the local cloud: EC2's two-minute warning
 * (and the rebalance recommendation) reach the interruption Lambda, the reconciler re-runs a job an
 * interruption failed once its run has completed, and an `in_progress` that names another job's
 * runner makes the webhook launch a replacement for that job. Every job runs to completion once,
 * or, failed by an interruption while it ran, is re-run exactly once on on-demand.
 */
import { StateStore } from '../../lambda/adapters/state-store';
import { captureOutput } from '../local-cloud/handlers';
import { World } from '../local-cloud/world';
import { leftovers, NOTHING_LEFT } from './live-records';

type Plan = 'before-start' | 'during' | 'rebalance' | undefined;
let world: World;
/** What happens to the next spot instance first seen. */
let nextPlan: Plan;
const output = captureOutput();

beforeAll(async () => {
  world = await World.create({
    interruptSpot: () => {
      const plan = nextPlan;
      nextPlan = undefined;
      return plan;
    },
  });
  world.startSchedules();
});
afterAll(async () => {
  output.stop();
  await world.stop();
});

const JOB = { labels: ['self-hosted', 'linux'], durationMs: 5 * 60_000 };
const instancesOf = (jobId: number) =>
  world.cloud.ec2.instances().filter((i) => i.tags['ephemeral-runners:job-key'] === `github.com/${jobId}/1`);

const nothingLeft = () => leftovers(world);

test('a warning before the job started: a replacement away from the pool, and the job runs once', async () => {
  nextPlan = 'before-start';
  const jobId = world.queueJob(JOB);
  await world.runToQuiescence(3 * 3600_000);

  const launched = instancesOf(jobId);
  expect(launched).toHaveLength(2);
  const [first, second] = launched;
  expect(first.market).toBe('spot');
  // Away from the interrupted pool: not the same instance type in the same subnet.
  expect(`${second.instanceType}/${second.subnetId}`).not.toBe(`${first.instanceType}/${first.subnetId}`);
  expect(world.interruptionResults.some((r) => r.startsWith('replaced: relaunched: launched'))).toBe(true);
  expect({
    starts: world.jobs.get(jobId)!.starts,
    status: world.cloud.github.job(jobId)?.conclusion,
  }).toEqual({
    starts: 1,
    status: 'success',
  });
  expect(await nothingLeft()).toEqual(NOTHING_LEFT);
});

test('a rebalance recommendation before the job started also replaces the runner', async () => {
  nextPlan = 'rebalance';
  const jobId = world.queueJob(JOB);
  await world.runToQuiescence(3 * 3600_000);
  expect(instancesOf(jobId)).toHaveLength(2);
  expect(world.jobs.get(jobId)!.starts).toBe(1);
  expect(await nothingLeft()).toEqual(NOTHING_LEFT);
});

test('a warning while the job runs: the job fails, and is re-run exactly once, on-demand, after its run completes', async () => {
  nextPlan = 'during';
  const jobId = world.queueJob(JOB);
  await world.runToQuiescence(3 * 3600_000);

  expect(world.cloud.github.job(jobId)?.conclusion).toBe('failure');
  const reruns = world.cloud.github.rerunRequests.filter((r) => r.by === 'app');
  expect(reruns.map((r) => ({ runId: r.runId, kind: r.kind }))).toEqual([
    { runId: world.cloud.github.job(jobId)!.runId, kind: 'failed-jobs' },
  ]);
  const rerunJob = [...world.jobs.entries()].find(([, j]) => j.rerunOf === jobId);
  expect(rerunJob?.[1]).toMatchObject({ starts: 1, market: 'on-demand' });
  expect(world.cloud.github.job(rerunJob![0])?.conclusion).toBe('success');
  // Nothing waits for another re-run.
  const store = new StateStore(world.cloud.dynamo.client, world.cloud.tableName);
  expect(await store.interruptions.reruns(10)).toEqual([]);
  expect(await nothingLeft()).toEqual(NOTHING_LEFT);
});

test('a job a person re-ran first is not re-run again', async () => {
  nextPlan = 'during';
  const jobId = world.queueJob(JOB);
  const before = world.cloud.github.rerunRequests.length;
  // Run until the job failed, then re-run it by hand before the reconciler's next run.
  while (world.cloud.github.job(jobId)?.status !== 'completed') await world.runUntil(world.now() + 30_000);
  world.cloud.github.rerunByPerson(world.cloud.github.job(jobId)!.runId);
  await world.runToQuiescence(3 * 3600_000);
  const requests = world.cloud.github.rerunRequests.slice(before);
  expect(requests.map((r) => r.by)).toEqual(['person']);
  expect(await nothingLeft()).toEqual(NOTHING_LEFT);
});

describe('a runner taken by another job', () => {
  let stealing: World;
  /** Boot delays of the next instances, in launch order. */
  const boots: number[] = [];
  beforeAll(async () => {
    stealing = await World.create({
      seed: 3,
      bootDelayMs: () => boots.shift() ?? 60_000,
      cloud: {
        configs: [
          { name: 'linux-x64', labels: ['self-hosted', 'linux', 'x64'] },
          { name: 'linux-x64-large', labels: ['self-hosted', 'linux', 'x64', 'large'] },
        ],
      },
    });
    stealing.startSchedules();
  });
  afterAll(() => stealing.stop());

  test('a replacement is launched for the job its runner was launched for, and both jobs run once', async () => {
    // The generic job's runner boots slowly; the large job's runner, online first, takes the oldest
    // queued job whose labels it satisfies: the generic one.
    boots.push(80_000, 30_000);
    const generic = stealing.queueJob({ labels: ['self-hosted', 'linux'], durationMs: 5 * 60_000 });
    await stealing.settle();
    const large = stealing.queueJob({
      labels: ['self-hosted', 'linux', 'x64', 'large'],
      durationMs: 5 * 60_000,
    });
    await stealing.settle();
    await stealing.runToQuiescence(3 * 3600_000);

    const runnerOf = (id: number) => stealing.cloud.github.job(id)?.runnerName ?? '';
    expect(runnerOf(generic)).toContain(`-${large}-1-1-`); // taken by the large job's runner
    expect(stealing.stolen).toBe(1);
    expect(stealing.stolenReplaced).toBe(1);
    expect(runnerOf(large)).toContain(`-${large}-1-2-`); // the replacement, attempt 2
    for (const id of [generic, large]) expect(stealing.jobs.get(id)!.starts).toBe(1);
    const f = await stealing.figures();
    expect({
      instances: f.leakedInstances,
      registrations: f.leakedRegistrations,
      handoffs: f.leakedHandoffs,
    }).toEqual({
      instances: 0,
      registrations: 0,
      handoffs: 0,
    });
  });
});

describe('binding labels', () => {
  let bound: World;
  const boots: number[] = [];
  beforeAll(async () => {
    bound = await World.create({
      seed: 5,
      bootDelayMs: () => boots.shift() ?? 60_000,
      cloud: {
        configs: [
          { name: 'linux-x64', labels: ['self-hosted', 'linux', 'x64'] },
          { name: 'linux-x64-large', labels: ['self-hosted', 'linux', 'x64', 'large'] },
        ],
        extraEnv: { BINDING_LABEL_PATTERN: '^bind-' },
      },
    });
    bound.startSchedules();
  });
  afterAll(() => bound.stop());

  test('a runner launched for a bound job takes only that job; each job runs once on its own runner', async () => {
    // As in the stolen-runner case, the large job's runner comes online first; bound, it cannot
    // take the generic job.
    boots.push(80_000, 30_000);
    const generic = bound.queueJob({
      labels: ['self-hosted', 'linux', 'bind-1-build-0'],
      durationMs: 5 * 60_000,
    });
    await bound.settle();
    const large = bound.queueJob({
      labels: ['self-hosted', 'linux', 'x64', 'large', 'bind-2-build-0'],
      durationMs: 5 * 60_000,
    });
    await bound.settle();
    // Registered with the config's labels and the job's binding label.
    const labelsOf = (jobId: number) =>
      bound.cloud.github
        .runners()
        .find((r) => r.name.includes(`-${jobId}-1-1-`))
        ?.labels.map(String)
        .sort();
    expect(labelsOf(generic)).toEqual(['bind-1-build-0', 'linux', 'self-hosted', 'x64']);
    expect(labelsOf(large)).toEqual(['bind-2-build-0', 'large', 'linux', 'self-hosted', 'x64']);
    await bound.runToQuiescence(3 * 3600_000);

    expect(bound.cloud.github.job(generic)?.runnerName).toContain(`-${generic}-1-1-`);
    expect(bound.cloud.github.job(large)?.runnerName).toContain(`-${large}-1-1-`);
    expect(bound.stolen).toBe(0);
    for (const id of [generic, large]) expect(bound.jobs.get(id)!.starts).toBe(1);
  });
});

describe('the spot circuit breaker, and re-runs without the Actions permission', () => {
  let tripped: World;
  let plans: Plan[] = [];
  beforeAll(async () => {
    tripped = await World.create({
      seed: 9,
      interruptSpot: () => plans.shift(),
      cloud: {
        // No `actions: write`: GitHub refuses the App's re-runs.
        installationPermissions: {
          organization_self_hosted_runners: 'write',
          actions: 'read',
          metadata: 'read',
        },
      },
    });
    tripped.startSchedules();
  });
  afterAll(() => tripped.stop());

  test('two spot interruptions within 15 minutes: the next launch of the config is on-demand', async () => {
    plans = ['before-start', undefined, 'before-start', undefined];
    const first = tripped.queueJob(JOB);
    await tripped.runToQuiescence(3 * 3600_000);
    const second = tripped.queueJob(JOB);
    await tripped.runToQuiescence(3 * 3600_000);
    // Two warnings: the second opened the breaker, so its replacement was already on-demand.
    expect(tripped.interruptions.beforeStart).toBe(2);
    const market = (jobId: number) =>
      tripped.cloud.ec2
        .instances()
        .filter((i) => i.tags['ephemeral-runners:job-key'] === `github.com/${jobId}/1`)
        .map((i) => i.market);
    expect(market(first)).toEqual(['spot', 'spot']);
    expect(market(second)).toEqual(['spot', 'on-demand']);
    const third = tripped.queueJob(JOB);
    await tripped.settle();
    expect(market(third)).toEqual(['on-demand']);
    expect(output.text()).toContain('spot circuit breaker opened');
    await tripped.runToQuiescence(3 * 3600_000);
  });

  test('a re-run GitHub refuses for want of the permission is logged naming it, and not asked again', async () => {
    // The breaker closes 30 minutes after it opened, logged once; spot again from then on.
    await tripped.runUntil(tripped.now() + 31 * 60_000);
    expect(output.text()).toContain('spot circuit breaker closed');
    plans = ['during'];
    const jobId = tripped.queueJob(JOB);
    await tripped.runToQuiescence(3 * 3600_000);
    expect(tripped.cloud.github.job(jobId)?.conclusion).toBe('failure');
    expect(tripped.cloud.github.callCount('rerunFailedJobs', 403)).toBe(1);
    expect(tripped.cloud.github.rerunRequests).toEqual([]);
    expect(output.text()).toContain('the GitHub App needs the \\"Actions: write\\" repository permission');
    const store = new StateStore(tripped.cloud.dynamo.client, tripped.cloud.tableName);
    expect(await store.interruptions.reruns(10)).toEqual([]);
  });
});

describe('a warning for a runner that took another job, before that job’s in_progress arrived', () => {
  let late: World;
  const boots: number[] = [];
  let dropInProgressOf: number | undefined;
  let planNext: Plan;
  beforeAll(async () => {
    late = await World.create({
      seed: 4,
      bootDelayMs: () => boots.shift() ?? 60_000,
      interruptSpot: () => {
        const plan = planNext;
        planNext = undefined;
        return plan;
      },
      // The generic job's first in_progress is lost: only the reconciler's redelivery brings it, after
      // EC2's warning for the instance it runs on.
      deliveryFault: (d) => {
        const id = (d.payload as { workflow_job: { id: number } }).workflow_job.id;
        return d.action === 'in_progress' && id === dropInProgressOf ? { kind: 'dropped' } : undefined;
      },
      cloud: {
        configs: [
          { name: 'linux-x64', labels: ['self-hosted', 'linux', 'x64'] },
          { name: 'linux-x64-large', labels: ['self-hosted', 'linux', 'x64', 'large'] },
        ],
      },
    });
    late.startSchedules();
  });
  afterAll(() => late.stop());

  test('the job is still recorded as interrupted and re-run exactly once', async () => {
    boots.push(80_000, 30_000);
    const generic = late.queueJob({ labels: ['self-hosted', 'linux'], durationMs: 5 * 60_000 });
    dropInProgressOf = generic;
    await late.settle();
    planNext = undefined; // the generic job's own instance is not interrupted
    const large = late.queueJob({ labels: ['self-hosted', 'linux', 'x64', 'large'], durationMs: 5 * 60_000 });
    // The large job's instance, whose runner takes the generic job, is interrupted while it runs it.
    planNext = 'during';
    await late.settle();
    await late.runToQuiescence(3 * 3600_000);

    expect(late.cloud.github.job(generic)?.runnerName).toContain(`-${large}-1-1-`);
    expect(late.cloud.github.job(generic)?.conclusion).toBe('failure');
    const reruns = [...late.jobs.values()].filter((j) => j.rerunOf === generic);
    expect(reruns.map((j) => j.starts)).toEqual([1]);
    expect(late.cloud.github.rerunRequests.filter((r) => r.by === 'app')).toHaveLength(1);
  });
});
