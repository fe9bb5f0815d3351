/**
 * Spot interruptions when things fail around them. EventBridge delivers EC2's events at best effort
 * (a warning or a state change may never come), and the interruption Lambda may stop at any of its
 * calls (Lambda retries an asynchronous invocation twice, one and then two minutes later). Whatever
 * is lost, a job an interruption failed is re-run exactly once, a job it did not reach runs once,
 * and nothing is left behind.
 */
import { Ec2Event, isStateChangeEvent } from '../local-cloud/ec2-events';
import { GateCall, GateDecision, Interceptor } from '../local-cloud/gate';
import { captureOutput } from '../local-cloud/handlers';
import { World } from '../local-cloud/world';
import { leftovers, NOTHING_LEFT } from './live-records';

type Plan = 'before-start' | 'during' | undefined;
let world: World;
let nextPlan: Plan;
/** Which EC2 events of the current test EventBridge loses. */
let lose: (e: Ec2Event) => boolean = () => false;
/** Stops the next interruption Lambda invocation (the first try only; its retries run whole). */
let armed: Interceptor | undefined;
/** Stops scheduled reconciler runs (each run gets a fresh interceptor from it). */
let reconcilerKill: (() => Interceptor | undefined) | undefined;
/** Whether the next instance to boot dies there (before reading its JIT config). */
let nextBootDies = false;
const output = captureOutput();

beforeAll(async () => {
  world = await World.create({
    seed: 21,
    interruptSpot: () => {
      const plan = nextPlan;
      nextPlan = undefined;
      return plan;
    },
    dropEc2Event: (e) => lose(e),
    killInterrupt: () => {
      const kill = armed;
      armed = undefined;
      return kill;
    },
    killReconciler: () => reconcilerKill?.(),
    bootOutcome: () => {
      const dies = nextBootDies;
      nextBootDies = false;
      return dies ? 'dies' : 'ok';
    },
    landLateAfterMs: () => 20_000,
    // Each case interrupts one spot instance: the breaker would soon make every launch on-demand.
    cloud: { extraEnv: { SPOT_CIRCUIT_BREAKER: 'off' } },
  });
  world.startSchedules();
});
afterAll(async () => {
  output.stop();
  await world.stop();
});
afterEach(() => {
  lose = () => false;
  armed = undefined;
  reconcilerKill = undefined;
});

const JOB = { labels: ['self-hosted', 'linux'], durationMs: 5 * 60_000 };

const nothingLeft = () => leftovers(world);

/** The app's re-runs of `jobId`'s run, and how the re-run jobs of `jobId` ran. */
function rerunsOf(jobId: number) {
  const runId = world.cloud.github.job(jobId)!.runId;
  return {
    requests: world.cloud.github.rerunRequests.filter((r) => r.by === 'app' && r.runId === runId).length,
    reruns: [...world.jobs.values()]
      .filter((j) => j.rerunOf === jobId)
      .map((j) => ({ starts: j.starts, market: j.market })),
  };
}
const RERUN_ONCE_ON_DEMAND = { requests: 1, reruns: [{ starts: 1, market: 'on-demand' }] };

const isWarning = (e: Ec2Event) => e['detail-type'] === 'EC2 Spot Instance Interruption Warning';

describe('lost events', () => {
  test('the warning for a running job is lost: the instance’s end records the job, re-run once', async () => {
    lose = isWarning;
    nextPlan = 'during';
    const jobId = world.queueJob(JOB);
    await world.runToQuiescence(3 * 3600_000);
    expect(world.cloud.github.job(jobId)?.conclusion).toBe('failure');
    expect(rerunsOf(jobId)).toEqual(RERUN_ONCE_ON_DEMAND);
    expect(output.text()).toContain(
      'a spot interruption ended a running job and no warning was handled for it',
    );
    expect(await nothingLeft()).toEqual(NOTHING_LEFT);
  });

  test('the warning and every state change are lost: the scheduled run finds the ended instance', async () => {
    lose = (e) => isWarning(e) || isStateChangeEvent(e);
    nextPlan = 'during';
    const jobId = world.queueJob(JOB);
    await world.runToQuiescence(3 * 3600_000);
    expect(world.cloud.github.job(jobId)?.conclusion).toBe('failure');
    expect(rerunsOf(jobId)).toEqual(RERUN_ONCE_ON_DEMAND);
    expect(await nothingLeft()).toEqual(NOTHING_LEFT);
  });

  test('a runner that died at boot, its job cancelled, its state changes lost: the next run voids its JIT config', async () => {
    lose = isStateChangeEvent;
    nextBootDies = true;
    const jobId = world.queueJob({ ...JOB, cancelAfterMs: 20_000 });
    await world.runToQuiescence(3 * 3600_000);
    expect(world.cloud.github.job(jobId)?.conclusion).toBe('cancelled');
    expect(output.text()).toContain('the JIT config of an instance that ended before reading it was voided');
    expect(await nothingLeft()).toEqual(NOTHING_LEFT);
  });

  test('the warning before the job started is lost: the lost launch is relaunched, the job runs once', async () => {
    lose = isWarning;
    nextPlan = 'before-start';
    const jobId = world.queueJob(JOB);
    await world.runToQuiescence(3 * 3600_000);
    expect(world.jobs.get(jobId)).toMatchObject({ starts: 1 });
    expect(world.cloud.github.job(jobId)?.conclusion).toBe('success');
    expect(rerunsOf(jobId).requests).toBe(0);
    expect(await nothingLeft()).toEqual(NOTHING_LEFT);
  });
});

/** Kills the container at its `nth` call, with `decision`; counts the calls it saw. */
function killAt(nth: number, decision: Exclude<GateDecision, 'pass'>, seen: GateCall[]): Interceptor {
  return (call) => {
    seen.push(call);
    return seen.length - 1 === nth ? decision : 'pass';
  };
}

const PHASES = ['kill-before', 'kill-in-flight', 'kill-after'] as const;

/**
 * Runs one interruption of `plan` with the interruption Lambda stopped at every call in turn, in
 * each phase, until a stop at call n finds no n-th call: the whole invocation was covered. Returns
 * what `outcome` says of each case, named by the call it stopped at.
 */
async function everyCall(
  plan: Exclude<Plan, undefined>,
  outcome: (jobId: number) => unknown,
): Promise<{ calls: number; cases: Record<string, unknown> }> {
  const cases: Record<string, unknown> = {};
  for (let nth = 0; ; nth++) {
    for (const decision of PHASES) {
      const seen: GateCall[] = [];
      armed = killAt(nth, decision, seen);
      nextPlan = plan;
      const killsBefore = world.kills.length;
      const jobId = world.queueJob(JOB);
      await world.runToQuiescence(3 * 3600_000);
      // The invocation ended before its n-th call: every call has had its stops.
      if (world.kills.length === killsBefore) return { calls: nth, cases };
      cases[`${nth} ${seen[nth].target} ${decision}`] = { ...(await nothingLeft()), outcome: outcome(jobId) };
    }
  }
}

/** Every case of `cases` with what is expected of it. */
const expectedFor = (cases: Record<string, unknown>, outcome: unknown) =>
  Object.fromEntries(Object.keys(cases).map((k) => [k, { ...NOTHING_LEFT, outcome }]));

describe('the interruption Lambda stopped at each of its calls', () => {
  test('while the job runs: the job is still re-run exactly once, on-demand', async () => {
    const { calls, cases } = await everyCall('during', (jobId) => ({
      conclusion: world.cloud.github.job(jobId)?.conclusion,
      ...rerunsOf(jobId),
    }));
    expect(calls).toBeGreaterThanOrEqual(4);
    expect(cases).toEqual(expectedFor(cases, { conclusion: 'failure', ...RERUN_ONCE_ON_DEMAND }));
    expect(world.asyncErrors).toEqual([]);
  }, 600_000);

  test('before the job started: the job runs once, and nothing of the given-up runner is left', async () => {
    const { calls, cases } = await everyCall('before-start', (jobId) => ({
      conclusion: world.cloud.github.job(jobId)?.conclusion,
      starts: world.jobs.get(jobId)?.starts,
    }));
    // The replacement's launch (register, CreateFleet, handoff, record) is part of the invocation.
    expect(calls).toBeGreaterThanOrEqual(8);
    expect(cases).toEqual(expectedFor(cases, { conclusion: 'success', starts: 1 }));
    expect(world.asyncErrors).toEqual([]);
  }, 600_000);
});

describe('the reconciler stopped as it asks for the re-run', () => {
  /**
   * Stops the first reconciler run that lists the interrupted attempt's jobs at the `k`-th call
   * after that listing: the re-run entry's write-ahead, the on-demand marker, the re-run request.
   */
  function afterAttemptJobs(k: number, decision: Exclude<GateDecision, 'pass'>, killed: string[]) {
    return () => {
      if (killed.length > 0) return undefined;
      let listed = false;
      let after = 0;
      return (call: GateCall): GateDecision => {
        if (killed.length > 0) return 'pass';
        if (!listed) {
          listed = /\/actions\/runs\/\d+\/attempts\/\d+\/jobs/.test(call.target);
          return 'pass';
        }
        if (after++ !== k) return 'pass';
        killed.push(call.target);
        return decision;
      };
    };
  }

  test('at each of its three calls, in each phase: the job is re-run exactly once, on-demand', async () => {
    const cases: Record<string, unknown> = {};
    const targets: (string | undefined)[] = [];
    for (let k = 0; k < 3; k++)
      for (const decision of PHASES) {
        const killed: string[] = [];
        reconcilerKill = afterAttemptJobs(k, decision, killed);
        nextPlan = 'during';
        const jobId = world.queueJob(JOB);
        await world.runToQuiescence(3 * 3600_000);
        const target = killed[0]?.replace(/runs\/\d+/, 'runs/N');
        targets.push(target);
        cases[`${k} ${target} ${decision}`] = {
          ...(await nothingLeft()),
          outcome: { conclusion: world.cloud.github.job(jobId)?.conclusion, ...rerunsOf(jobId) },
        };
      }
    expect(targets).toEqual([
      ...Array(3).fill('DynamoDB_20120810.UpdateItem'),
      ...Array(3).fill('DynamoDB_20120810.UpdateItem'),
      ...Array(3).fill('POST /repos/acme/app/actions/runs/N/rerun-failed-jobs'),
    ]);
    expect(cases).toEqual(expectedFor(cases, { conclusion: 'failure', ...RERUN_ONCE_ON_DEMAND }));
  }, 600_000);
});
