/**
 * Webhook deliveries that fail or arrive out of order. GitHub never retries a failed delivery by
 * itself: the reconciler lists the App's deliveries and asks for each failed one again. Each way a
 * first `queued` delivery can fail (a 5xx or a 429 from API Gateway, a timeout after the Lambda
 * ran, dropped on the way) must end with the job run exactly once after exactly one redelivery; a
 * `completed` that overtakes its `queued` must leave that `queued` nothing to launch.
 */
import { captureOutput } from '../local-cloud/handlers';
import { DeliveryFault, World } from '../local-cloud/world';
import { leftovers as leftoversOf, NOTHING_LEFT as NOTHING_LEFT_OF_WORLD } from './live-records';

let world: World;
/** The job whose first `queued` delivery fails, and how. */
let armed: { jobId: number; fault: DeliveryFault } | undefined;
/** Whether the next settle round with deliveries handles them in reverse order. */
let reverseNext = false;
const output = captureOutput();

beforeAll(async () => {
  world = await World.create({
    deliveryFault: (d) => {
      const jobId = (d.payload as { workflow_job: { id: number } }).workflow_job.id;
      if (d.action !== 'queued' || armed?.jobId !== jobId) return undefined;
      const fault = armed.fault;
      armed = undefined;
      return fault;
    },
    reorder: () => {
      const reverse = reverseNext;
      reverseNext = false;
      return reverse;
    },
  });
});
afterAll(async () => {
  output.stop();
  await world.stop();
});

const JOB = { labels: ['self-hosted', 'linux'], durationMs: 4 * 60_000 };

/** Every instance ever launched for a job (terminated ones included: nothing forgets them here). */
const launchedFor = (jobId: number) =>
  world.cloud.ec2.instances().filter((i) => i.tags['ephemeral-runners:job-key'] === `github.com/${jobId}/1`)
    .length;

const leftovers = async () => ({
  ...(await leftoversOf(world)),
  launchedAfterCompletion: (await world.figures()).launchedAfterCompletion,
});

const NOTHING_LEFT = { ...NOTHING_LEFT_OF_WORLD, launchedAfterCompletion: 0 };

describe.each(['5xx', '429', 'timeout', 'dropped'] as const)('a queued delivery that fails (%s)', (kind) => {
  test('is redelivered once, and the job runs once', async () => {
    const jobId = world.queueJob(JOB);
    armed = { jobId, fault: { kind } };
    await world.settle();
    expect(armed).toBeUndefined(); // the fault was applied
    const queued = world.deliveriesOf(jobId).find((d) => d.action === 'queued')!;
    // Only a timeout lets the Lambda run (and launch) before GitHub gives up on the answer.
    expect(launchedFor(jobId)).toBe(kind === 'timeout' ? 1 : 0);

    await world.runToQuiescence(3 * 3600_000);
    world.stopSchedules();

    expect(world.redeliveriesByGuid.get(queued.guid)).toBe(1);
    expect({
      starts: world.jobs.get(jobId)!.starts,
      status: world.cloud.github.job(jobId)?.status,
      launched: launchedFor(jobId),
    }).toEqual({ starts: 1, status: 'completed', launched: 1 });
    expect(await leftovers()).toEqual(NOTHING_LEFT);
  });
});

test('a completed that overtakes its queued launches nothing', async () => {
  const jobId = world.queueJob(JOB);
  // Cancelled before the next settle: the `queued` and the `completed` share one round.
  expect(world.cancelQueued(jobId)).toBe(true);
  reverseNext = true;
  const logged = world.log.length;
  await world.settle();
  const order = world.log
    .slice(logged)
    .filter((l) => l.startsWith('delivery ') && l.includes(` ${jobId}: `))
    .map((l) => l.split(' ')[1]);
  expect(order).toEqual(['completed', 'queued']);

  await world.runToQuiescence(3 * 3600_000);
  world.stopSchedules();

  expect({
    starts: world.jobs.get(jobId)!.starts,
    status: world.cloud.github.job(jobId)?.status,
    launched: launchedFor(jobId),
  }).toEqual({ starts: 0, status: 'completed', launched: 0 });
  expect(await leftovers()).toEqual(NOTHING_LEFT);
});
