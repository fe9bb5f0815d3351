/**
 * The backstop for a lost spot interruption warning. EventBridge delivers EC2's events at best
 * effort, and the interruption Lambda may fail on every try: then a job killed by the interruption
 * would fail with nobody to re-run it. An instance EC2 ended as a spot interruption says so in its
 * state reason, which DescribeInstances shows for about an hour; the reconciler looks at it when the
 * instance's state change reaches it, and again in each scheduled run, until it has acted on it once
 * (the runner item's `endSeenAt`, written last, so a run stopped midway is done again).
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import { classifyAwsFailure } from '../core/call-failure';
import { InstanceView } from '../core/fleet-views';
import { decideSpotEnded, SPOT_TERMINATION_REASON } from '../core/interruption';
import { parseFormattedJobKey } from '../core/job-key';
import { withRetry } from '../adapters/retrying';
import { markInterrupted } from '../launch/interrupted';
import { Runtime } from '../runtime';

/** Ended spot instances looked at in one scheduled run. */
const MAX_PER_RUN = 25;

/** Whether EC2 ended the instance as a spot interruption. */
export function endedBySpot(instance: InstanceView): boolean {
  return (
    (instance.state === 'shutting-down' || instance.state === 'terminated') &&
    instance.stateReason === SPOT_TERMINATION_REASON &&
    instance.runnerName !== undefined &&
    instance.jobKey !== undefined
  );
}

/**
 * Records the job that ran on an instance EC2 ended as a spot interruption as interrupted, unless the
 * warning's handler did. What it did, for the log and the tests.
 */
export async function noteSpotEnd(
  runtime: Runtime,
  log: Logger,
  instance: InstanceView,
  options: { stopBy: number; now: () => number },
): Promise<string> {
  const key = instance.jobKey ? parseFormattedJobKey(instance.jobKey) : undefined;
  if (!endedBySpot(instance) || !key) return 'not ended by spot';
  const runner = instance.runnerName!;
  const aws = { deadline: options.stopBy, now: options.now, classify: classifyAwsFailure };
  const store = runtime.store;
  // Noted as a warning would: an `in_progress` still on its way then records the job it ran.
  const [ownJob, takenBy] = await Promise.all([
    withRetry(() => store.jobs.get(key), aws),
    withRetry(() => store.interruptions.noteRunnerInterrupted(runner, options.now()), aws),
  ]);
  const takenKey = takenBy ? parseFormattedJobKey(takenBy) : undefined;
  const takenJob = takenKey ? await withRetry(() => store.jobs.get(takenKey), aws) : undefined;
  const verdict = decideSpotEnded({ instance, ownJob, takenJob });
  let result: string;
  if (verdict.action === 'ignore') result = `ignored: ${verdict.reason}`;
  else {
    log.warn('a spot interruption ended a running job and no warning was handled for it', {
      instanceId: instance.instanceId,
      jobKey: instance.jobKey,
      runnerName: runner,
    });
    result = await markInterrupted(runtime, log, verdict.job, instance, aws, options.now());
  }
  await withRetry(() => store.interruptions.noteRunnerEndSeen(runner, options.now()), aws);
  return result;
}

/**
 * The scheduled run's step: the listed instances EC2 ended as spot interruptions that were not acted
 * on yet. Never throws; returns how many jobs it recorded as interrupted.
 */
export async function noteSpotEnds(
  runtime: Runtime,
  log: Logger,
  instances: readonly InstanceView[],
  options: { stopBy: number; now: () => number },
): Promise<number> {
  let marked = 0;
  const ended = instances.filter(endedBySpot);
  for (let i = 0, looked = 0; i < ended.length && looked < MAX_PER_RUN; i++) {
    if (options.now() > options.stopBy) break;
    const instance = ended[i];
    try {
      const noted = await runtime.store.interruptions.runner(instance.runnerName!);
      if (noted.endSeenAt !== undefined) continue;
      looked++;
      const child = log.createChild();
      child.appendKeys({ instanceId: instance.instanceId, jobKey: instance.jobKey });
      if ((await noteSpotEnd(runtime, child, instance, options)) === 'interrupted') marked++;
    } catch (e) {
      log.warn('could not look at an instance a spot interruption ended; the next run tries again', {
        instanceId: instance.instanceId,
        error: (e as Error).message,
      });
    }
  }
  return marked;
}
