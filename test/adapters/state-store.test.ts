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
      Array.from({ length: 100 }, (_, i) => store.jobs.claim(job, 'runner-1', `o${i}`, 1000, 60_000)),
    );
    expect(results.filter(Boolean)).toHaveLength(1);
    expect((await store.jobs.get(job.key))?.status).toBe('launching');
  });

  test('a claimed job is due only once its lease expires, and then to one taker', async () => {
    const job = newJob();
    expect(await store.jobs.claim(job, 'runner-1', 'a', 1000, 60_000)).toBe(true);
    expect((await store.jobs.due(30_000, 100)).jobs.map((j) => j.key.jobId)).not.toContain(job.key.jobId);
    expect((await store.jobs.due(61_000, 100)).jobs.map((j) => j.key.jobId)).toContain(job.key.jobId);
    expect(
      await store.jobs.takeOver({ key: job.key, launchAttempts: 1 }, 'runner-2', 'b', 30_000, 60_000),
    ).toBeUndefined();
    const takers = await Promise.all(
      ['b', 'c', 'd'].map((o) =>
        store.jobs.takeOver({ key: job.key, launchAttempts: 1 }, 'runner-2', o, 61_001, 60_000),
      ),
    );
    const won = takers.filter((t) => t !== undefined);
    expect(won).toHaveLength(1);
    expect(won[0]?.launchAttempts).toBe(2);
    // The old owner lost its lease: it can no longer record anything.
    expect(await store.jobs.markLaunched(job.key, 'a', launch, 62_000)).toBe(false);
    expect(await store.jobs.markLaunched(job.key, won[0]!.leaseOwner!, launch, 62_000)).toBe(true);
    expect((await store.jobs.due(10_000_000, 100)).jobs.map((j) => j.key.jobId)).not.toContain(job.key.jobId);
  });

  test('deferred jobs come back at their next attempt time', async () => {
    const job = newJob();
    await store.jobs.claim(job, 'runner-1', 'a', 1000, 60_000);
    expect(await store.jobs.defer(job.key, 'a', 'capacity', 5000, false)).toBe(true);
    expect(await store.jobs.get(job.key)).toMatchObject({ status: 'pending', lastError: 'capacity' });
    expect(
      await store.jobs.takeOver({ key: job.key, launchAttempts: 1 }, 'runner-2', 'b', 4999, 60_000),
    ).toBeUndefined();
    expect(
      await store.jobs.takeOver({ key: job.key, launchAttempts: 1 }, 'runner-2', 'b', 5000, 60_000),
    ).toMatchObject({
      status: 'launching',
      leaseOwner: 'b',
    });
  });

  test('waiting, then queued twice: one claim', async () => {
    const job = newJob();
    await store.jobs.recordWaiting(job, 1000);
    expect((await store.jobs.get(job.key))?.status).toBe('waiting');
    expect(await store.jobs.claim(job, 'runner-1', 'a', 2000, 60_000)).toBe(true);
    await store.jobs.recordWaiting(job, 2500); // a late waiting does not reopen a claimed job
    expect(await store.jobs.claim(job, 'runner-1', 'b', 3000, 60_000)).toBe(false);
    expect((await store.jobs.get(job.key))?.leaseOwner).toBe('a');
  });

  test('completed stops a pending launch; in_progress of a foreign job is not recorded', async () => {
    const job = newJob();
    await store.jobs.claim(job, 'runner-1', 'a', 1000, 60_000);
    await store.jobs.defer(job.key, 'a', 'capacity', 2000, false);
    expect(await store.jobs.recordCompleted(job.key, 'cancelled', 3000)).toMatchObject({ status: 'pending' });
    expect(
      await store.jobs.takeOver({ key: job.key, launchAttempts: 1 }, 'runner-2', 'b', 10_000_000, 60_000),
    ).toBeUndefined();
    expect(await store.jobs.recordInProgress({ ...job.key, jobId: 1 }, 'x', 1)).toBeUndefined();
    expect(await store.jobs.recordCompleted(job.key, 'success', 4000)).toBeUndefined(); // already final
  });

  test('reopening a launch is guarded by its instance id', async () => {
    const job = newJob();
    await store.jobs.claim(job, 'runner-1', 'a', 1000, 60_000);
    await store.jobs.markLaunched(job.key, 'a', launch, 1500);
    expect(await store.jobs.reopenLaunch(job.key, 'i-other', 'x', 2000)).toBe(false);
    expect(await store.jobs.reopenLaunch(job.key, 'i-1', 'handoff failed', 2000)).toBe(true);
    expect(await store.jobs.get(job.key)).toMatchObject({ status: 'pending', instanceId: undefined });
  });

  test('handoff items carry the JIT config under the instance ARN with a TTL', async () => {
    const arn = 'arn:aws:ec2:us-east-1:123456789012:instance/i-9';
    await store.handoffs.put(arn, 'SECRET', 1_000_000);
    const out = await dynamo.client.send(new GetItemCommand({ TableName: 'state', Key: { pk: { S: arn } } }));
    expect(out.Item?.jitConfig?.S).toBe('SECRET');
    expect(Number(out.Item?.expiresAt?.N)).toBe(1000 + 3600);
    // A retried write finds its own config: written. A voided slot keeps no config and takes none.
    expect(await store.handoffs.put(arn, 'SECRET', 1_000_000)).toBe(true);
    await store.handoffs.void(arn, 1_000_000);
    const voided = await dynamo.client.send(
      new GetItemCommand({ TableName: 'state', Key: { pk: { S: arn } } }),
    );
    expect(voided.Item?.jitConfig).toBeUndefined();
    expect(await store.handoffs.put(arn, 'LATE', 1_000_001)).toBe(false);
    expect(await store.handoffs.exists(arn)).toBe(false);
  });

  test('a take-over names its attempt and holds only if nobody moved the job since it was listed', async () => {
    const job = newJob();
    await store.jobs.claim(job, 'runner-1', 'a', 1000, 60_000);
    const stale = { key: job.key, launchAttempts: 0 };
    expect(await store.jobs.takeOver(stale, 'runner-x', 'b', 61_001, 60_000)).toBeUndefined();
    const taken = await store.jobs.takeOver(
      { key: job.key, launchAttempts: 1 },
      'runner-2',
      'b',
      61_001,
      60_000,
    );
    expect(taken).toMatchObject({ launchAttempts: 2, attemptRunnerName: 'runner-2', leaseOwner: 'b' });
  });

  test('the live index holds a record from its claim until it is final', async () => {
    const liveIds = async () => (await store.jobs.live(500)).jobs.map((j) => j.key.jobId);
    const a = newJob();
    const b = newJob();
    await store.jobs.claim(a, 'r', 'o', 1000, 60_000);
    await store.jobs.recordWaiting(b, 1000);
    expect(await liveIds()).toEqual(expect.arrayContaining([a.key.jobId, b.key.jobId]));
    await store.jobs.recordCompleted(a.key, 'success', 2000);
    expect(
      await store.jobs.finalize(b.key, { status: 'expired', reason: 'GitHub does not know it' }, 2000),
    ).toBe(true);
    expect(await store.jobs.finalize(b.key, { status: 'expired', reason: 'again' }, 3000)).toBe(false);
    const ids = await liveIds();
    expect(ids).not.toContain(a.key.jobId);
    expect(ids).not.toContain(b.key.jobId);
    expect(await store.jobs.get(b.key)).toMatchObject({
      status: 'expired',
      finalReason: 'GitHub does not know it',
    });
  });

  test('an instance gone is noted once, only for the launch the record names', async () => {
    const job = newJob();
    await store.jobs.claim(job, 'r', 'a', 1000, 60_000);
    await store.jobs.markLaunched(job.key, 'a', launch, 1500);
    expect(await store.jobs.recordInstanceGone(job.key, 'i-other', 2000)).toBeUndefined();
    expect(await store.jobs.recordInstanceGone(job.key, 'i-1', 2000)).toMatchObject({ instanceGoneAt: 2000 });
    expect(await store.jobs.recordInstanceGone(job.key, 'i-1', 3000)).toBeUndefined();
    // Reopened, the record forgets the gone instance.
    expect(await store.jobs.reopenLaunch(job.key, 'i-1', 'lost', 4000)).toBe(true);
    expect(await store.jobs.get(job.key)).toMatchObject({ status: 'pending', instanceGoneAt: undefined });
  });

  test('a waiting record whose queued never came is made due; a runner that took its job before the record gets its instance', async () => {
    const waiting = newJob();
    await store.jobs.recordWaiting(waiting, 1000);
    expect(await store.jobs.makeWaitingDue(waiting.key, 5000)).toBe(true);
    expect((await store.jobs.due(5000, 500)).jobs.map((j) => j.key.jobId)).toContain(waiting.key.jobId);

    const job = newJob();
    await store.jobs.claim(job, 'r', 'a', 1000, 60_000);
    await store.jobs.recordInProgress(job.key, 'r', 1200);
    expect(await store.jobs.attachInstanceToRunning(job.key, { ...launch, runnerName: 'other' }, 1300)).toBe(
      false,
    );
    expect(await store.jobs.attachInstanceToRunning(job.key, { ...launch, runnerName: 'r' }, 1300)).toBe(
      true,
    );
    expect(await store.jobs.get(job.key)).toMatchObject({
      status: 'running',
      instanceId: 'i-1',
      leaseOwner: undefined,
    });
  });

  test('handoff existence is read without the JIT config', async () => {
    const arn = 'arn:aws:ec2:us-east-1:123456789012:instance/i-7';
    expect(await store.handoffs.exists(arn)).toBe(false);
    await store.handoffs.put(arn, 'SECRET', 1_000_000);
    expect(await store.handoffs.exists(arn)).toBe(true);
  });

  test('the reconciler lease admits one run at a time; the scope registry round-trips', async () => {
    const runs = await Promise.all(
      ['r1', 'r2', 'r3'].map((o) => store.reconciler.acquireLease(o, 1000, 60_000)),
    );
    expect(runs.filter(Boolean)).toHaveLength(1);
    expect(await store.reconciler.acquireLease('r4', 30_000, 60_000)).toBe(false);
    expect(await store.reconciler.acquireLease('r4', 61_001, 60_000)).toBe(true); // the first run died
    await store.reconciler.releaseLease('r4');
    expect(await store.reconciler.acquireLease('r5', 61_002, 60_000)).toBe(true);
    await store.reconciler.saveScopes([{ scope: 'org:acme', installationId: 7, lastSeen: 123 }], 1000);
    expect(await store.reconciler.scopes()).toEqual([
      { scope: 'org:acme', installationId: 7, lastSeen: 123 },
    ]);
  });
  test('an interruption is marked once, on the runner the job ran on, also after the job failed', async () => {
    const started = async (conclusion?: string) => {
      const job = newJob();
      await store.jobs.claim(job, 'r', 'a', 1000, 60_000);
      await store.jobs.markLaunched(job.key, 'a', launch, 2000);
      await store.jobs.recordInProgress(job.key, 'r', 3000);
      if (conclusion) await store.jobs.recordCompleted(job.key, conclusion, 4000);
      return job.key;
    };
    const running = await started();
    expect(await store.jobs.markInterrupted(running, 'other-runner', 5000)).toBe(false);
    expect(await store.jobs.markInterrupted(running, 'r', 5000)).toBe(true);
    expect(await store.jobs.markInterrupted(running, 'r', 6000)).toBe(false); // once
    expect((await store.jobs.get(running))?.interruptedAt).toBe(5000);
    // EC2's end of the instance may be told after GitHub's end of the job.
    expect(await store.jobs.markInterrupted(await started('failure'), 'r', 5000)).toBe(true);
    expect(await store.jobs.markInterrupted(await started('success'), 'r', 5000)).toBe(false);
    expect(await store.jobs.markInterrupted(await started('cancelled'), 'r', 5000)).toBe(false);
  });

  test('a runner item keeps what was noted of its runner, each write keeping the others', async () => {
    const name = `runner-${++n}`;
    expect(await store.interruptions.runner(name)).toEqual({});
    await store.interruptions.noteRunnerTakenBy(name, 'github.com/5/1', 1000);
    expect(await store.interruptions.noteRunnerInterrupted(name, 2000)).toBe('github.com/5/1');
    await store.interruptions.noteRunnerInterrupted(name, 3000); // the first warning's time stays
    await store.interruptions.noteRunnerEndSeen(name, 4000);
    expect(await store.interruptions.runner(name)).toEqual({
      takenBy: 'github.com/5/1',
      interruptedAt: 2000,
      endSeenAt: 4000,
    });
  });
});
