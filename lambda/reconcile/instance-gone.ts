/**
 * The reconciler's fast path: an EC2 state change of one instance, so a record learns at once that
 * its instance is gone.
 */
import { classifyAwsFailure } from '../core/call-failure';
import { parseFormattedJobKey } from '../core/job-key';
import { launchTerminationHint } from '../core/launch-failure';
import { withRetry } from '../adapters/retrying';
import { Runtime } from '../runtime';
import { Repairs } from './repairs';
import { endedBySpot, noteSpotEnd } from './spot-ended';

/**
 * An EC2 state change of an instance: when it is the launched instance of a job that has not
 * started, the launch is lost; ask GitHub and relaunch if the job is still queued. Acts only on this
 * deployment's instances (EventBridge cannot filter on tags: the owner tag is checked here).
 */
export async function onInstanceStateChange(
  runtime: Runtime,
  instanceId: string,
  state: string,
  options: { stopBy: number; now?: () => number },
): Promise<string> {
  const now = options.now ?? Date.now;
  const log = runtime.logger.createChild();
  log.appendKeys({ instanceId, state });
  if (state !== 'shutting-down' && state !== 'terminated') return 'ignored state';
  const aws = { deadline: options.stopBy, now, classify: classifyAwsFailure };
  const ec2 = await runtime.ec2();
  const listed = await withRetry(
    () =>
      ec2.describeOwned(runtime.settings.ownerTag, {
        filters: [{ Name: 'instance-id', Values: [instanceId] }],
        maxPages: 1,
        pageSize: 5,
        abortSignal: AbortSignal.timeout(Math.max(1, options.stopBy - now())),
      }),
    aws,
  );
  const instance = listed.instances[0];
  if (!instance?.jobKey) return 'not ours';
  const key = parseFormattedJobKey(instance.jobKey);
  if (!key) return 'not ours';
  const hint = launchTerminationHint(instance.stateReason);
  if (hint)
    log.error(`runner instance ended during its launch: ${hint}`, { stateReason: instance.stateReason });
  // Nobody can read this instance's JIT config any more (it died before its boot read it, say).
  const arn = `${runtime.settings.instanceArnPrefix}${instanceId}`;
  await withRetry(() => runtime.store.handoffs.void(arn, now()), aws);
  if (endedBySpot(instance)) {
    // A job it ran was failed by the interruption: recorded for its re-run if the warning was not.
    await noteSpotEnd(runtime, log, instance, { stopBy: options.stopBy, now });
  }
  const record = await withRetry(() => runtime.store.jobs.recordInstanceGone(key, instanceId, now()), aws);
  if (!record) return 'not the launch of a live job';
  if (record.status !== 'launched') return 'noted';
  const github = await runtime.github();
  const repairs = new Repairs(runtime, github, log, now, options.stopBy, 1);
  const result = await repairs.apply(record, 'lost-launch', await repairs.lookUp(record));
  log.info('launched instance gone before its job started', { jobKey: instance.jobKey, result });
  return result;
}
