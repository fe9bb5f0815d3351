/**
 * What to do when EC2 warns that one of our spot instances will be interrupted (two minutes'
 * notice) or recommends rebalancing it, and when a runner launched for one job takes another.
 * Pure: the handlers read the records and the instance, and carry the verdict out.
 */
import { JobKey, formatJobKey } from './job-key';
import { JobRecord } from './job-record';
import { InstanceView } from './fleet-views';

/** The two EC2 events that say a spot instance is at risk. */
export type InterruptionKind = 'spot-warning' | 'rebalance';

/** EventBridge detail types of the two events. */
export const INTERRUPTION_DETAIL_TYPES: Record<InterruptionKind, string> = {
  'spot-warning': 'EC2 Spot Instance Interruption Warning',
  rebalance: 'EC2 Instance Rebalance Recommendation',
};

/** What the handler knows when an interruption event comes. */
export interface InterruptionFacts {
  readonly kind: InterruptionKind;
  /** The instance as EC2 describes it (undefined: gone, or not of this deployment). */
  readonly instance?: InstanceView;
  /** The record of the job the instance was launched for (its job-key tag). */
  readonly ownJob?: JobRecord;
  /** The record of the job the instance's runner took instead, when it was taken by another job. */
  readonly takenJob?: JobRecord;
  /** Whether a rebalance recommendation replaces a runner whose job has not started. */
  readonly replaceOnRebalance: boolean;
}

/** The verdict. */
export type InterruptionVerdict =
  /** The job has not started: launch it anew, away from the instance's pool, and give the instance up. */
  | { readonly action: 'replace'; readonly job: JobRecord }
  /** A job runs on the instance and will fail: record it, so it is re-run once when its run completes. */
  | { readonly action: 'mark-interrupted'; readonly job: JobRecord }
  /** The runner has no job of ours waiting on it (spare, or its job ended): deregister it and terminate. */
  | { readonly action: 'retire' }
  | { readonly action: 'ignore'; readonly reason: string };

/** Decides what an interruption event means for the job on the instance. */
export function decideInterruption(f: InterruptionFacts): InterruptionVerdict {
  const instance = f.instance;
  if (!instance) return { action: 'ignore', reason: 'not an instance of this deployment' };
  if (instance.state !== 'pending' && instance.state !== 'running')
    return { action: 'ignore', reason: `the instance is already ${instance.state}` };
  const runner = instance.runnerName;
  const own = f.ownJob;
  const runningHere = (job: JobRecord | undefined): job is JobRecord =>
    job !== undefined && job.status === 'running' && runner !== undefined && job.takenByRunner === runner;
  for (const job of [own, f.takenJob]) {
    if (!runningHere(job)) continue;
    if (f.kind === 'rebalance')
      return {
        action: 'ignore',
        reason: 'a job runs on the instance; a rebalance recommendation is not an interruption',
      };
    if (job.interruptedAt !== undefined)
      return { action: 'ignore', reason: 'already recorded as interrupted' };
    return { action: 'mark-interrupted', job };
  }
  if (own && own.status === 'launched' && own.instanceId === instance.instanceId && !own.runnerTakenBy) {
    if (f.kind === 'rebalance' && !f.replaceOnRebalance)
      return { action: 'ignore', reason: 'replaceOnRebalance is off' };
    return { action: 'replace', job: own };
  }
  if (own && (own.status === 'launching' || own.status === 'pending'))
    return { action: 'ignore', reason: `its job is ${own.status}: the next attempt settles this instance` };
  return { action: 'retire' };
}

/** The state reason EC2 gives an instance it interrupted. */
export const SPOT_TERMINATION_REASON = 'Server.SpotInstanceTermination';

/** What the reconciler knows of an instance that has ended (shutting-down or terminated). */
export interface SpotEndFacts {
  readonly instance: InstanceView;
  /** The record of the job the instance was launched for. */
  readonly ownJob?: JobRecord;
  /** The record of the job its runner took instead, when another job took it. */
  readonly takenJob?: JobRecord;
}

/** What an instance's end means for the job that ran on it. */
export type SpotEndVerdict =
  | { readonly action: 'mark-interrupted'; readonly job: JobRecord }
  | { readonly action: 'ignore'; readonly reason: string };

/**
 * The backstop for a lost interruption warning (EventBridge delivers EC2 events at best effort, and
 * the interruption Lambda may fail every try): an instance EC2 ended as a spot interruption while a
 * job of ours ran on its runner failed that job, which is then recorded as interrupted (re-run once
 * when its run completes), as the warning would have. The job may already be `completed` (failed):
 * GitHub may tell of the failure before EC2 tells of the end.
 */
export function decideSpotEnded(f: SpotEndFacts): SpotEndVerdict {
  const { instance } = f;
  if (instance.stateReason !== SPOT_TERMINATION_REASON)
    return {
      action: 'ignore',
      reason: `ended by ${instance.stateReason ?? 'an unknown reason'}, not by spot`,
    };
  const runner = instance.runnerName;
  if (runner === undefined) return { action: 'ignore', reason: 'no runner name on the instance' };
  const ranHere = (job: JobRecord | undefined): job is JobRecord =>
    job !== undefined &&
    job.takenByRunner === runner &&
    (job.status === 'running' || (job.status === 'completed' && job.conclusion === 'failure'));
  const job = [f.ownJob, f.takenJob].find(ranHere);
  if (!job) return { action: 'ignore', reason: 'no job of ours ran on it to a failure' };
  if (job.interruptedAt !== undefined) return { action: 'ignore', reason: 'already recorded as interrupted' };
  return { action: 'mark-interrupted', job };
}

/** What an `in_progress` says about the runner that took the job. */
export type TakenRunner =
  /** The runner launched for this very job. */
  | { readonly kind: 'own' }
  /** A runner of ours launched for another job: that job's runner was taken. */
  | { readonly kind: 'stolen'; readonly from: JobKey }
  /** A runner that is not ours (hand-registered, another deployment, or none named). */
  | { readonly kind: 'foreign' };

/** Classifies the runner of an `in_progress`, given what its name parses to (undefined: not ours). */
export function classifyTakenRunner(job: JobKey, parsedKey: JobKey | undefined): TakenRunner {
  if (parsedKey === undefined) return { kind: 'foreign' };
  return formatJobKey(parsedKey) === formatJobKey(job)
    ? { kind: 'own' }
    : { kind: 'stolen', from: parsedKey };
}

/** Most replacement runners launched for one job whose runners keep being taken. */
export const MAX_STOLEN_REPLACEMENTS = 3;

/** What to do with a job whose runner `runner` was taken by another job. */
export type StolenVerdict =
  /** Still queued: launch a replacement as a new attempt. */
  | { readonly action: 'replace' }
  /**
   * The runner launched for the job that took this one's is spare and can take this job (its labels
   * include all of this job's): GitHub gives it the job, so no replacement is launched. Should it
   * not, the job's record still names the taken runner, whose end makes the reconciler relaunch it.
   */
  | { readonly action: 'leave-to-spare' }
  /** Replaced too often: log an error and leave it to the reconciler (lost launch, when the runner is gone). */
  | { readonly action: 'give-up'; readonly reason: string }
  | { readonly action: 'ignore'; readonly reason: string };

/**
 * Decides about the job whose runner was taken. `spareLabels`: the labels of the runner launched for
 * the job that took it, when that runner is still waiting for a job (undefined: none is).
 */
export function decideStolen(
  job: JobRecord | undefined,
  runner: string,
  spareLabels?: readonly string[],
): StolenVerdict {
  if (!job) return { action: 'ignore', reason: 'no record for the job the runner was launched for' };
  if (job.status !== 'launched')
    return { action: 'ignore', reason: `that job is ${job.status}: nothing waits for the runner` };
  if (job.runnerName !== runner)
    return { action: 'ignore', reason: 'that job has moved on to another runner' };
  if ((job.stolenReplacements ?? 0) >= MAX_STOLEN_REPLACEMENTS)
    return {
      action: 'give-up',
      reason: `its runners were taken ${MAX_STOLEN_REPLACEMENTS + 1} times; no more replacements (binding labels prevent this)`,
    };
  if (spareLabels && job.labels.length > 0) {
    const offered = new Set(spareLabels.map((l) => l.toLowerCase()));
    if (job.labels.every((l) => offered.has(l.toLowerCase()))) return { action: 'leave-to-spare' };
  }
  return { action: 'replace' };
}
