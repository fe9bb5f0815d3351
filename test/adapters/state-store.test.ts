import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { NewJob, StateStore } from '../../lambda/adapters/state-store';
import { createStateTable, LocalDynamo, startDynamo } from '../local-cloud/dynamodb';

let dynamo: LocalDynamo;
let store: StateStore;
let n = 0;

beforeAll(async () => {
  dynamo = await startDynamo();
  await createStateTable(dynamo.client, 'state');
  store = new StateStore(dynamo.client, 'state');
});
afterAll(() => dynamo.stop());

const newJob = (): NewJob => ({
  key: { host: 'github.com', jobId: 1000 + ++n, runAttempt: 1 },
  runId: 5,
  repository: 'acme/app',
  installationId: 9,
  labels: ['self-hosted', 'linux'],
  configName: 'linux',
  deliveryId: `d-${n}`,
});

const launch = { instanceId: 'i-1', runnerName: 'r', runnerId: 3, market: 'spot' };

describe('StateStore against dynalite', () => {
  test('100 concurrent claims of one job: exactly one wins', async () => {
    const job = newJob();
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) => store.claimJob(job, `o${i}`, 1000, 60_000)),
    );
    expect(results.filter(Boolean)).toHaveLength(1);
    expect((await store.getJob(job.key))?.status).toBe('launching');
  });

  test('a claimed job is due only once its lease expires, and then to one taker', async () => {
    const job = newJob();
    expect(await store.claimJob(job, 'a', 1000, 60_000)).toBe(true);
    expect((await store.dueJobs(30_000, 100)).jobs.map((j) => j.key.jobId)).not.toContain(job.key.jobId);
    expect((await store.dueJobs(61_000, 100)).jobs.map((j) => j.key.jobId)).toContain(job.key.jobId);
    expect(await store.acquireDueJob(job.key, 'b', 30_000, 60_000)).toBeUndefined();
    const takers = await Promise.all(
      ['b', 'c', 'd'].map((o) => store.acquireDueJob(job.key, o, 61_001, 60_000)),
    );
    const won = takers.filter((t) => t !== undefined);
    expect(won).toHaveLength(1);
    expect(won[0]?.launchAttempts).toBe(2);
    // The old owner lost its lease: it can no longer record anything.
    expect(await store.markLaunched(job.key, 'a', launch, 62_000)).toBe(false);
    expect(await store.markLaunched(job.key, won[0]!.leaseOwner!, launch, 62_000)).toBe(true);
    expect((await store.dueJobs(10_000_000, 100)).jobs.map((j) => j.key.jobId)).not.toContain(job.key.jobId);
  });

  test('deferred jobs come back at their next attempt time', async () => {
    const job = newJob();
    await store.claimJob(job, 'a', 1000, 60_000);
    expect(await store.deferJob(job.key, 'a', 'capacity', 5000)).toBe(true);
    expect(await store.getJob(job.key)).toMatchObject({ status: 'pending', lastError: 'capacity' });
    expect(await store.acquireDueJob(job.key, 'b', 4999, 60_000)).toBeUndefined();
    expect(await store.acquireDueJob(job.key, 'b', 5000, 60_000)).toMatchObject({
      status: 'launching',
      leaseOwner: 'b',
    });
  });

  test('waiting, then queued twice: one claim', async () => {
    const job = newJob();
    await store.recordWaiting(job, 1000);
    expect((await store.getJob(job.key))?.status).toBe('waiting');
    expect(await store.claimJob(job, 'a', 2000, 60_000)).toBe(true);
    await store.recordWaiting(job, 2500); // a late waiting does not reopen a claimed job
    expect(await store.claimJob(job, 'b', 3000, 60_000)).toBe(false);
    expect((await store.getJob(job.key))?.leaseOwner).toBe('a');
  });

  test('completed stops a pending launch; in_progress of a foreign job is not recorded', async () => {
    const job = newJob();
    await store.claimJob(job, 'a', 1000, 60_000);
    await store.deferJob(job.key, 'a', 'capacity', 2000);
    expect(await store.recordCompleted(job.key, 'cancelled', 3000)).toMatchObject({ status: 'pending' });
    expect(await store.acquireDueJob(job.key, 'b', 10_000_000, 60_000)).toBeUndefined();
    expect(await store.recordInProgress({ ...job.key, jobId: 1 }, 'x', 1)).toBeUndefined();
    expect(await store.recordCompleted(job.key, 'success', 4000)).toBeUndefined(); // already final
  });

  test('reopening a launch is guarded by its instance id', async () => {
    const job = newJob();
    await store.claimJob(job, 'a', 1000, 60_000);
    await store.markLaunched(job.key, 'a', launch, 1500);
    expect(await store.reopenLaunch(job.key, 'i-other', 'x', 2000)).toBe(false);
    expect(await store.reopenLaunch(job.key, 'i-1', 'handoff failed', 2000)).toBe(true);
    expect(await store.getJob(job.key)).toMatchObject({ status: 'pending', instanceId: undefined });
  });

  test('handoff items carry the JIT config under the instance ARN with a TTL', async () => {
    const arn = 'arn:aws:ec2:us-east-1:123456789012:instance/i-9';
    await store.putHandoff(arn, 'SECRET', 1_000_000);
    const out = await dynamo.client.send(new GetItemCommand({ TableName: 'state', Key: { pk: { S: arn } } }));
    expect(out.Item?.jitConfig?.S).toBe('SECRET');
    expect(Number(out.Item?.expiresAt?.N)).toBe(1000 + 3600);
    await store.deleteHandoff(arn);
    expect(
      (await dynamo.client.send(new GetItemCommand({ TableName: 'state', Key: { pk: { S: arn } } }))).Item,
    ).toBeUndefined();
  });
});
