/**
 * The lifecycle day: a simulated day in virtual time on the local cloud (GitHub's scheduler, EC2,
 * dynalite, the three built Lambdas in killable containers). At least 2,000 jobs with mixed label
 * sets, so runners are taken by other jobs; 5% cancelled while queued; 3% of boots failing (half
 * die, half hang); 5% of webhook invocations stopped at a random call (before it leaves, in flight,
 * or after it landed); 2% of retry runs stopped likewise; 1% of GitHub calls hung; 5% of spot
 * instances interrupted (half before their job started, half while it ran); 3% of EC2 events lost
 * (EventBridge delivers them at best effort); 5% of interruption Lambda runs stopped at a random
 * call (Lambda retries them); 5% of reconciler runs stopped likewise; 20% of jobs with a binding
 * label. Then the world
 * runs until nothing is left to do, and the figures are counted from what exists.
 */
import type { GateDecision, Interceptor } from '../local-cloud/gate';
import { World, WorldRunFigures } from '../local-cloud/world';

const MIN = 60_000;
const HOUR = 60 * MIN;

/** The label sets jobs ask for, with their shares: generic jobs can take any runner. */
const LABEL_MIX: [number, string[]][] = [
  [0.3, ['self-hosted', 'linux', 'x64']],
  [0.25, ['self-hosted', 'linux']],
  [0.2, ['self-hosted', 'linux', 'arm64']],
  [0.25, ['self-hosted', 'linux', 'x64', 'large']],
];
/** Share of jobs whose workflow adds a binding label (`bind-{run}-{job}-{index}`). */
const BOUND_SHARE = 0.2;

/** Stops an invocation, `share` of them, at one of its first `calls` calls, in a random phase. */
function killAtRandom(random: () => number, share: number, calls = 7): Interceptor | undefined {
  if (random() >= share) return undefined;
  const nth = Math.floor(random() * calls);
  const phases: Exclude<GateDecision, 'pass'>[] = ['kill-before', 'kill-in-flight', 'kill-after'];
  const decision = phases[Math.floor(random() * phases.length)];
  let seen = 0;
  return () => (seen++ === nth ? decision : 'pass');
}

/** Runs the day; `jobs` at least 2,000 for the figures the README quotes. */
export async function lifecycleDay(
  jobs = 2000,
  seed = 7,
  /** Given, gets each lost job's post-mortem (what exists about it) before the world stops. */
  onLost?: (postMortems: Record<string, unknown>[]) => void,
  /** Multiplies every fault share (a stress run to make rare paths common); the README's day is 1. */
  faultScale = 1,
): Promise<WorldRunFigures & { virtualHours: number }> {
  const k = faultScale;
  const world = await World.create({
    seed,
    cloud: {
      configs: [
        { name: 'linux-x64', labels: ['self-hosted', 'linux', 'x64'] },
        { name: 'linux-arm64', labels: ['self-hosted', 'linux', 'arm64'], architecture: 'arm64' },
        { name: 'linux-x64-large', labels: ['self-hosted', 'linux', 'x64', 'large'] },
      ],
      // A hung call costs its request timeout (real time), bounded by the caller's deadline.
      extraEnv: { GITHUB_REQUEST_TIMEOUT_MS: '1500', BINDING_LABEL_PATTERN: '^bind-' },
    },
    // 5% of spot instances interrupted: half before their runner took a job, half while it runs one.
    interruptSpot: (random) => {
      const r = random();
      return r < 0.025 * k ? 'before-start' : r < 0.05 * k ? 'during' : undefined;
    },
    bootOutcome: (_id, random) => {
      const r = random();
      return r < 0.015 * k ? 'dies' : r < 0.03 * k ? 'hangs' : 'ok';
    },
    killWebhook: (_d, random) => killAtRandom(random, 0.05 * k),
    killRetry: (random) => killAtRandom(random, 0.02 * k),
    // EventBridge delivers EC2 events at best effort: 3% lost. 5% of interruption Lambda runs stopped.
    dropEc2Event: (_e, random) => random() < 0.03 * k,
    killInterrupt: (random) => killAtRandom(random, 0.05 * k),
    // 5% of scheduled reconciler runs stopped at one of their first 40 calls (a run makes more).
    killReconciler: (random) => killAtRandom(random, 0.05 * k, 40),
    landLateAfterMs: (random) => 10_000 + Math.floor(random() * 4 * MIN),
  });
  try {
    world.cloud.github.setHangRate('all', 0.01 * k, seed);
    const random = world.random;
    const start = world.now();
    // Most jobs in working hours (08:00–18:00), the rest spread over the day.
    const times = Array.from({ length: jobs }, () =>
      random() < 0.8 ? 8 * HOUR + random() * 10 * HOUR : random() * 24 * HOUR,
    ).sort((a, b) => a - b);
    for (const t of times) {
      const r = random();
      let acc = 0;
      const mix = LABEL_MIX.find(([share]) => (acc += share) > r)?.[1] ?? LABEL_MIX[0][1];
      const labels = random() < BOUND_SHARE ? [...mix, `bind-${Math.floor(t)}-build-0`] : mix;
      const durationMs = 2 * MIN + Math.floor(random() * 18 * MIN);
      const cancelAfterMs = random() < 0.05 ? 5_000 + Math.floor(random() * 2 * MIN) : undefined;
      world.at(start + t, 'job', () => void world.queueJob({ labels, durationMs, cancelAfterMs }));
    }
    // EC2 lists a terminated instance for about an hour.
    for (let h = 1; h <= 30; h++)
      world.at(start + h * HOUR, 'forget', () => void world.cloud.ec2.forgetTerminated());
    world.startSchedules();
    await world.runUntil(start + 24 * HOUR);
    await world.runToQuiescence(6 * HOUR);
    world.cloud.github.setHangRate('all', 0, seed);
    const figures = await world.figures();
    if (onLost) onLost(await Promise.all(world.lostJobIds().map((id) => world.postMortem(id))));
    return { ...figures, virtualHours: Math.round((world.now() - start) / HOUR) };
  } finally {
    await world.stop();
  }
}
