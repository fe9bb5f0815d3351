/**
 * What a new launch attempt does with what earlier attempts of the same job left behind: adopt a
 * launch that was complete but never recorded, or clean up the rest. Pure: the adapters list the
 * job's instances (by its job-key tag), the registrations of the earlier attempts (by name) and which
 * handoff items still exist.
 */
import { InstanceView, isAlive, RegistrationView } from './fleet-views';

/** What the earlier attempts of one job left. */
export interface LeftBehind {
  /** Instances carrying the job's job-key tag, of earlier attempts (any state). */
  readonly instances: readonly InstanceView[];
  /** Registrations of earlier attempts, found by their names. */
  readonly registrations: readonly RegistrationView[];
  /** Instance ids whose JIT handoff item still exists (written, not yet read by the instance). */
  readonly handoffsPresent: ReadonlySet<string>;
  /**
   * Runner names never to adopt: the record gave them up (their spot instance is being interrupted,
   * or another job took them). Such a launch is undone like any other leftover, unless it is busy.
   */
  readonly notAdoptable?: ReadonlySet<string>;
}

/** What to do about it. */
export interface Settlement {
  /** An earlier attempt whose launch is whole: record it instead of launching anew. */
  readonly adopt?: { readonly instanceId: string; readonly runnerName: string; readonly runnerId: number };
  readonly terminate: readonly string[];
  /** Registrations to delete (never a busy one: GitHub refuses, and it is running a job). */
  readonly deleteRegistrations: readonly number[];
  /** Handoff items to delete, of instances being terminated. */
  readonly deleteHandoffs: readonly string[];
}

/**
 * A launch is whole when its instance is alive, its registration exists and the runner has (or can
 * read) its JIT config: the handoff item is still there, or the runner is online or busy, which it
 * can only be after reading it. The newest whole launch is adopted; every other leftover is undone.
 * A busy registration is never deleted and its instance never terminated: it is running a job.
 */
export function settleEarlierAttempts(left: LeftBehind): Settlement {
  const regByName = new Map(left.registrations.map((r) => [r.name, r]));
  const alive = left.instances.filter(isAlive);
  const whole = alive
    .filter((i) => !(i.runnerName && left.notAdoptable?.has(i.runnerName)))
    .filter((i) => {
      const reg = i.runnerName ? regByName.get(i.runnerName) : undefined;
      return (
        reg !== undefined && (left.handoffsPresent.has(i.instanceId) || reg.status === 'online' || reg.busy)
      );
    })
    .sort((a, b) => b.launchTime - a.launchTime);
  const adopted = whole[0];
  const adoptedReg = adopted?.runnerName ? regByName.get(adopted.runnerName) : undefined;
  const busyNames = new Set(left.registrations.filter((r) => r.busy).map((r) => r.name));
  const terminate = alive
    .filter((i) => i !== adopted && !(i.runnerName && busyNames.has(i.runnerName)))
    .map((i) => i.instanceId);
  return {
    adopt:
      adopted && adoptedReg
        ? { instanceId: adopted.instanceId, runnerName: adoptedReg.name, runnerId: adoptedReg.id }
        : undefined,
    terminate,
    deleteRegistrations: left.registrations.filter((r) => !r.busy && r !== adoptedReg).map((r) => r.id),
    deleteHandoffs: left.instances
      .filter((i) => i !== adopted && left.handoffsPresent.has(i.instanceId))
      .map((i) => i.instanceId),
  };
}

/** Whether a settlement has anything to undo. */
export function hasUndo(s: Settlement): boolean {
  return s.terminate.length + s.deleteRegistrations.length + s.deleteHandoffs.length > 0;
}
