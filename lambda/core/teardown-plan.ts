/**
 * The removal of a deployment, pure: given what exists (this deployment's instances, the runner
 * registrations listed in the scopes it used), what to terminate and what to deregister, and whether
 * nothing is left. The shell (lambda/teardown) lists, plans, acts and lists again until done or out of time.
 */
import { InstanceView } from './fleet-views';
import { ListedScope } from './reconcile-plan';
import { parseRunnerName } from './runner-name';

/** What one round of the removal sees. */
export interface TeardownSnapshot {
  /** The GitHub host whose runner names are ours. */
  readonly host: string;
  /** This deployment's owner tag: the digest in our runner names covers it. */
  readonly ownerTag: string;
  /** The owner-tagged instances, any state. */
  readonly instances: readonly InstanceView[];
  /** Registrations of every scope this deployment used. */
  readonly scopes: readonly ListedScope[];
}

/** One registration to delete. */
export interface Deregistration {
  readonly scope: string;
  readonly runnerId: number;
  readonly runnerName: string;
}

/** What one round does. */
export interface TeardownPlan {
  /** Instances that still hold (or may again hold) a runner: terminated. */
  readonly terminate: string[];
  /** Our registrations, busy or not: GitHub refuses a busy one until its instance is gone. */
  readonly deregister: Deregistration[];
  /** Instances shutting down: their network interfaces still block the security group. */
  readonly shuttingDown: string[];
}

/** States whose instance TerminateInstances still has to end (stopped instances too: they keep their ENI). */
const TO_TERMINATE = new Set(['pending', 'running', 'stopping', 'stopped']);

/** Plans one round of the removal. */
export function planTeardown(snapshot: TeardownSnapshot): TeardownPlan {
  const terminate = snapshot.instances.filter((i) => TO_TERMINATE.has(i.state)).map((i) => i.instanceId);
  const shuttingDown = snapshot.instances.filter((i) => i.state === 'shutting-down').map((i) => i.instanceId);
  const deregister = snapshot.scopes.flatMap((s) =>
    s.registrations
      .filter((r) => parseRunnerName(r.name, snapshot.host, snapshot.ownerTag) !== undefined)
      .map((r) => ({ scope: s.scope, runnerId: r.id, runnerName: r.name })),
  );
  return { terminate, deregister, shuttingDown };
}

/**
 * Whether the removal is complete: no instance is left that is not terminated, and every scope was
 * listed completely and holds none of our registrations.
 */
export function teardownComplete(snapshot: TeardownSnapshot): boolean {
  const plan = planTeardown(snapshot);
  return (
    plan.terminate.length === 0 &&
    plan.shuttingDown.length === 0 &&
    plan.deregister.length === 0 &&
    snapshot.scopes.every((s) => s.complete)
  );
}
