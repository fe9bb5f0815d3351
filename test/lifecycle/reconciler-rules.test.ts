/**
 * The reconciler's rules end to end, in virtual time on the local cloud: a boot that hangs, a
 * runner left idle by a cancelled job, an instance past its hard timeout. Each is repaired by the
 * scheduled run, and nothing is left over.
 */
import { StateStore } from '../../lambda/adapters/state-store';
import { captureOutput } from '../local-cloud/handlers';
import { World } from '../local-cloud/world';

const MIN = 60_000;
const output = captureOutput();
afterAll(() => output.stop());

async function withWorld(options: Parameters<typeof World.create>[0], fn: (w: World) => Promise<void>) {
  const world = await World.create(options);
  try {
    await fn(world);
  } finally {
    await world.stop();
  }
}

const record = (w: World, jobId: number) =>
  new StateStore(w.cloud.dynamo.client, w.cloud.tableName).jobs.get({
    host: 'github.com',
    jobId,
    runAttempt: 1,
  });

test('boot timeout: a runner that never comes online is reaped and its job relaunched; the job runs once', async () => {
  let first = true;
  await withWorld(
    {
      bootOutcome: () => {
        const outcome = first ? 'hangs' : 'ok';
        first = false;
        return outcome;
      },
    },
    async (w) => {
      const jobId = w.queueJob({ labels: ['self-hosted', 'linux'], durationMs: 3 * MIN });
      expect(await w.runToQuiescence(3 * 3600_000)).toBe(true);
      const f = await w.figures();
      expect(f).toMatchObject({ ran: 1, lost: 0, duplicates: 0, leakedInstances: 0, leakedRegistrations: 0 });
      expect(f.instances).toBe(2); // the hung one, and its replacement
      expect(w.jobs.get(jobId)!.startedAt! - w.jobs.get(jobId)!.queuedAt).toBeGreaterThanOrEqual(10 * MIN);
      expect(output.text()).toMatch(/"reason":"boot-timeout"/);
    },
  );
});

test('a runner whose job was cancelled while queued is deregistered and terminated, not left idle', async () => {
  await withWorld({}, async (w) => {
    w.queueJob({ labels: ['self-hosted', 'linux'], durationMs: 3 * MIN, cancelAfterMs: 10_000 });
    expect(await w.runToQuiescence(3 * 3600_000)).toBe(true);
    const f = await w.figures();
    expect(f).toMatchObject({ ran: 0, cancelled: 1, lost: 0, leakedInstances: 0, leakedRegistrations: 0 });
    // Reaped by the first reconciler run after the orphan grace (5 min), well before the idle timeout.
    expect(f.idleInstanceMinutesPerJob).toBeLessThan(10);
  });
});

test('hard timeout: an instance past launch + bootTimeout + maxJobRuntime + 10 min is terminated and the record says why', async () => {
  await withWorld({ cloud: { configs: [{ maxJobRuntimeMinutes: 5 }] } }, async (w) => {
    const jobId = w.queueJob({ labels: ['self-hosted', 'linux'], durationMs: 120 * MIN });
    expect(await w.runToQuiescence(6 * 3600_000)).toBe(true);
    expect(w.cloud.github.job(jobId)).toMatchObject({ status: 'completed', conclusion: 'failure' });
    expect(await record(w, jobId)).toMatchObject({
      status: 'expired',
      finalReason: expect.stringMatching(/hard timeout/),
    });
    expect((await w.figures()).leakedInstances).toBe(0);
  });
});
