/**
 * Deliveries that go wrong: 1,000 short jobs over about six virtual hours on one runner config,
 * with 10% of first webhook deliveries failing (evenly a 5xx or a 429 from API Gateway, a timeout
 * after the Lambda ran, or dropped on the way), 20% of settle rounds handling their deliveries in
 * reverse order, and 5% of jobs cancelled while queued, so that a `completed` overtakes its
 * `queued`. Only the reconciler's redeliveries can repair a failed delivery: GitHub never retries.
 * The world runs until nothing is left to do; then every job must have run once or been cancelled,
 * and no instance may have been launched for a job GitHub had already completed.
 */
import { DeliveryFault, World } from '../local-cloud/world';

const MIN = 60_000;
const HOUR = 60 * MIN;
const FAULTS: DeliveryFault['kind'][] = ['5xx', '429', 'timeout', 'dropped'];

/** What the run counted. */
export interface DeliveriesFigures {
  jobs: number;
  /** Delivery attempts (first or redelivered) GitHub logged as failed. */
  failedDeliveries: number;
  /** Redeliveries the reconciler asked GitHub for. */
  redelivered: number;
  /** Jobs that ran. */
  launched: number;
  /** Jobs run more than once. */
  duplicates: number;
  /** Jobs never run and not cancelled. */
  lost: number;
  /** Instances launched for a job after the webhook had recorded its `completed`. Goal 0. */
  launchedAfterCompletion: number;
  /**
   * Instances launched for a job GitHub had completed but whose `completed` had not yet reached the
   * deployment (handled at the same moment, or still failing); each launch undoes itself when its
   * record write is refused, or the reconciler reaps it.
   */
  launchesRacingCompletion: number;
}

/** Runs the deliveries scenario; the same `seed` replays the same run. */
export async function deliveriesRun(jobs = 1000, seed = 11): Promise<DeliveriesFigures> {
  const world = await World.create({
    seed,
    deliveryFault: (_d, random) => {
      const r = random();
      return r < 0.1 ? { kind: FAULTS[Math.floor((r / 0.1) * FAULTS.length)] } : undefined;
    },
    reorder: (random) => random() < 0.2,
  });
  try {
    const random = world.random;
    const start = world.now();
    // Arrivals on whole minutes, so that several jobs' deliveries share a settle round and a
    // reversed round has something to reorder.
    const byMinute = new Map<number, number>();
    for (let i = 0; i < jobs; i++) {
      const minute = Math.floor(random() * 6 * 60);
      byMinute.set(minute, (byMinute.get(minute) ?? 0) + 1);
    }
    for (const [minute, count] of byMinute) {
      world.at(start + minute * MIN, 'jobs', () => {
        for (let i = 0; i < count; i++) {
          const durationMs = MIN + Math.floor(random() * 4 * MIN);
          const cancel = random() < 0.05;
          // Half the cancellations come before the next settle: `queued` and `completed` share a
          // round. The others come while the runner boots, after the `queued` was (or failed to be)
          // delivered; a failed `queued` is then redelivered after its `completed`.
          const later = cancel && random() < 0.5;
          const id = world.queueJob({
            labels: ['self-hosted', 'linux'],
            durationMs,
            cancelAfterMs: later ? 5_000 + Math.floor(random() * 55_000) : undefined,
          });
          if (cancel && !later) world.cancelQueued(id);
        }
      });
    }
    // EC2 lists a terminated instance for about an hour; forgetting keeps the scans short.
    for (let h = 1; h <= 10; h++)
      world.at(start + h * HOUR, 'forget', () => void world.cloud.ec2.forgetTerminated());
    world.startSchedules();
    await world.runUntil(start + 6 * HOUR);
    await world.runToQuiescence(3 * HOUR);
    const f = await world.figures();
    return {
      jobs: f.jobs,
      failedDeliveries: f.failedDeliveries,
      redelivered: f.redelivered,
      launched: f.ran,
      duplicates: f.duplicates,
      lost: f.lost,
      launchedAfterCompletion: f.launchedAfterCompletion,
      launchesRacingCompletion: f.launchesRacingCompletion,
    };
  } finally {
    await world.stop();
  }
}
