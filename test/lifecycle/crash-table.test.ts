/**
 * One test per row of the crash table (lambda/core/crash-table.ts): a real webhook or retry
 * invocation of the built bundles is stopped at that step (its container killed before the call
 * leaves, while it is in flight, or after it landed but before its answer), then the retry and the
 * reconciler run on their schedules in virtual time until nothing is left to do. Every job must end
 * run exactly once by one runner, and nothing may be left over: no instance, no registration, no
 * handoff item, no live record.
 */
import { CRASH_TABLE, CrashRow, LaunchStep } from '../../lambda/core/crash-table';
import { GateCall, Interceptor, KilledCall } from '../local-cloud/gate';
import { captureOutput } from '../local-cloud/handlers';
import { World } from '../local-cloud/world';
import { leftovers as leftoversOf } from './live-records';

let world: World;
let armed: { jobId: number; interceptor: Interceptor } | undefined;
/** Instances whose boot hangs (never connect), so that only the reconciler can remove them. */
const hanging = new Set<string>();
const output = captureOutput();

beforeAll(async () => {
  world = await World.create({
    bootOutcome: (id) => (hanging.has(id) ? 'hangs' : 'ok'),
    killWebhook: (d) => {
      const jobId = (d.payload as { workflow_job: { id: number } }).workflow_job.id;
      if (d.action !== 'queued' || armed?.jobId !== jobId) return undefined;
      const interceptor = armed.interceptor;
      armed = undefined;
      return interceptor;
    },
  });
});
afterAll(async () => {
  output.stop();
  await world.stop();
});

const isPut = (c: GateCall) => c.upstream === 'dynamodb' && c.target.endsWith('.PutItem');
const isUpdate = (c: GateCall) => c.upstream === 'dynamodb' && c.target.endsWith('.UpdateItem');
const MATCH: Record<LaunchStep, { match: (c: GateCall) => boolean; webhookNth: number; retryNth: number }> = {
  claim: { match: isPut, webhookNth: 0, retryNth: -1 },
  'take-over': { match: isUpdate, webhookNth: -1, retryNth: 0 },
  'settle-find': {
    match: (c) => c.upstream === 'ec2' && c.target === 'DescribeInstances',
    webhookNth: -1,
    retryNth: 0,
  },
  register: {
    match: (c) => c.upstream === 'github' && c.target.includes('generate-jitconfig'),
    webhookNth: 0,
    retryNth: 0,
  },
  'create-fleet': {
    match: (c) => c.upstream === 'ec2' && c.target === 'CreateFleet',
    webhookNth: 0,
    retryNth: 0,
  },
  handoff: { match: isPut, webhookNth: 1, retryNth: 0 },
  'record-launched': { match: isUpdate, webhookNth: 0, retryNth: 1 },
  defer: { match: isUpdate, webhookNth: 0, retryNth: -1 },
};

/** Kills the container at the `nth` call that `match` accepts. */
function killAt(match: (c: GateCall) => boolean, nth: number, row: CrashRow): Interceptor {
  let seen = 0;
  const decision =
    row.phase === 'before' ? 'kill-before' : row.phase === 'after' ? 'kill-after' : 'kill-in-flight';
  return (call) => (match(call) && seen++ === nth ? decision : 'pass');
}

const JOB = { labels: ['self-hosted', 'linux'], durationMs: 4 * 60_000 };

/** What exists for one job: its live instances (job-key tag) and its registrations (by name). */
function leftFor(jobId: number) {
  const alive = (i: { state: string; tags: Record<string, string> }) =>
    (i.state === 'pending' || i.state === 'running') &&
    i.tags['ephemeral-runners:job-key'] === `github.com/${jobId}/1`;
  return {
    instances: world.cloud.ec2.instances().filter(alive).length,
    registrations: world.cloud.github.runners().filter((r) => r.name.includes(`-${jobId}-1-`)).length,
  };
}

const leftovers = () => leftoversOf(world);

describe.each(
  CRASH_TABLE.map((row) => [`${row.invocation} stops at ${row.step} (${row.phase})`, row] as const),
)('%s', (_name, row) => {
  test(`repaired by ${row.repairedBy}: the job runs once, nothing is left`, async () => {
    const spec = MATCH[row.step];
    const killsBefore = world.kills.length;
    let jobId: number;
    if (row.invocation === 'webhook') {
      const nth = spec.webhookNth;
      if (row.step === 'defer') world.cloud.ec2.setVcpuQuotaExceeded(true); // the launch fails: the job is deferred
      jobId = world.queueJob(JOB);
      armed = { jobId, interceptor: killAt(spec.match, nth, row) };
      await world.settle();
      world.cloud.ec2.setVcpuQuotaExceeded(false);
    } else {
      // The webhook's launch fails (vCPU quota) and defers the job; the retry is then stopped.
      world.cloud.ec2.setVcpuQuotaExceeded(true);
      jobId = world.queueJob(JOB);
      await world.settle();
      world.cloud.ec2.setVcpuQuotaExceeded(false);
      await world.runUntil(world.now() + 61_000);
      await world.runRetry(killAt(spec.match, spec.retryNth, row));
    }
    const kill: KilledCall | undefined = world.kills[killsBefore];
    expect(kill?.target).toMatch(/PutItem|UpdateItem|DescribeInstances|generate-jitconfig|CreateFleet/);

    const lease = () => world.runUntil(world.now() + 91_000);
    if (row.phase === 'in-flight') {
      // The next attempt runs first; then the stopped invocation's call lands.
      await lease();
      await world.runRetry();
      const before = new Set(world.cloud.ec2.instances().map((i) => i.instanceId));
      await kill!.landLate!().catch(() => undefined);
      for (const i of world.cloud.ec2.instances()) if (!before.has(i.instanceId)) hanging.add(i.instanceId);
      await world.settle();
    }
    // The first repairs: the retry at the lease expiry (or the deferral's next attempt).
    await lease();
    await world.runRetry();
    const afterRetry = leftFor(jobId);
    if (row.repairedBy === 'reconciler (orphan)' || row.repairedBy === 'reconciler (ghost)') {
      // The retry cannot see what landed after it looked: one extra instance or registration remains...
      expect(afterRetry.instances + afterRetry.registrations).toBeGreaterThan(2);
      // ...until the reconciler's run after the grace period.
      await world.runUntil(world.now() + 6 * 60_000);
      await world.runReconciler();
      const afterReconciler = leftFor(jobId);
      expect(afterReconciler.instances).toBeLessThanOrEqual(1);
      expect(afterReconciler.registrations).toBeLessThanOrEqual(1);
    } else if (row.repairedBy !== 'redelivery') {
      // Repaired by the next attempt alone: at most one instance and one registration for the job.
      expect(afterRetry.instances).toBeLessThanOrEqual(1);
      expect(afterRetry.registrations).toBeLessThanOrEqual(1);
    }
    await world.runToQuiescence(3 * 3600_000);
    if (row.repairedBy === 'redelivery') {
      // Nothing was recorded; the reconciler asked GitHub to redeliver the failed delivery.
      expect(world.log.some((l) => l.startsWith(`redelivery queued ${jobId}:`))).toBe(true);
    }
    world.stopSchedules();

    const sim = world.jobs.get(jobId)!;
    expect({ starts: sim.starts, status: world.cloud.github.job(jobId)?.status }).toEqual({
      starts: 1,
      status: 'completed',
    });
    expect(await leftovers()).toEqual({ instances: 0, registrations: 0, handoffs: 0, live: [] });
  });
});
