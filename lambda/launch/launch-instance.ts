/**
 * One instance for a launch attempt: CreateFleet across the config's pools, falling back between
 * markets as its spot strategy allows, with the attempt's idempotency tokens and tags.
 */
import { classifyAwsFailure } from '../core/call-failure';
import { formatJobKey } from '../core/job-key';
import { instanceExpiry } from '../core/job-status';
import { classifyFleetErrors, firstMarket, Market, nextLaunchStep } from '../core/launch-decision';
import { fleetClientToken } from '../core/runner-name';
import { INSTANCE_TAGS } from '../core/state-schema';
import { withRetry } from '../adapters/retrying';
import { fleetRefusalAdvice, logRefusal } from './launch-refusal';
import type { LaunchDeps, LaunchRequest } from './launch-job';

/** A launch that cannot succeed in this attempt: the job is deferred with this reason. */
export class Deferral extends Error {}

/** Launches one instance, falling back between markets as the config's spot strategy allows. */
export async function launchInstance(
  deps: LaunchDeps,
  request: LaunchRequest,
  name: string,
): Promise<{ instanceId: string; market: Market }> {
  const now = deps.now ?? Date.now;
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const { config, key } = request;
  const expiresAt = new Date(
    instanceExpiry(now(), deps.bootTimeoutMs, config.maxJobRuntimeMinutes),
  ).toISOString();
  const tags = {
    Name: name,
    [INSTANCE_TAGS.jobKey]: formatJobKey(key),
    [INSTANCE_TAGS.repository]: request.repository,
    [INSTANCE_TAGS.installationId]: String(request.installationId),
    [INSTANCE_TAGS.config]: config.name,
    [INSTANCE_TAGS.expiresAt]: expiresAt,
    [INSTANCE_TAGS.runnerName]: name,
    [INSTANCE_TAGS.owner]: deps.ownerTag,
  };
  let market: Market = request.onDemandReason ? 'on-demand' : firstMarket(config.spotStrategy);
  if (request.onDemandReason) deps.logger.info('launching on-demand', { reason: request.onDemandReason });
  // Away from an interrupted pool, unless it is the config's only one.
  const pools = config.instanceTypes.length * config.subnetIds.length;
  const excludedPools = request.excludedPool && pools > 1 ? [request.excludedPool] : undefined;
  for (let round = 1; ; round++) {
    const result = await withRetry(
      () =>
        deps.ec2.launch({
          launchTemplateId: config.launchTemplateId,
          launchTemplateVersion: config.launchTemplateVersion ?? '$Latest',
          instanceTypes: config.instanceTypes,
          subnetIds: config.subnetIds,
          excludedPools,
          market,
          tags,
          // A thrown call retried with the same token cannot launch twice; a fleet that launched
          // nothing is retried with a new one, or EC2 would answer with the same empty fleet.
          clientToken: fleetClientToken(key, request.launchAttempt, market, round),
        }),
      { deadline: request.deadline, now, sleep: deps.sleep, classify: classifyAwsFailure },
    ).catch(logRefusal(deps.logger, config.name));
    if (result.launched) return { instanceId: result.instanceId, market };

    const cause = classifyFleetErrors(result.errorCodes);
    const step = nextLaunchStep(request.onDemandReason ? 'onDemandOnly' : config.spotStrategy, market, cause);
    if (cause === 'quota' || cause === 'configuration') {
      deps.logger.error(
        cause === 'quota'
          ? 'EC2 quota exhausted: raise the account limit (Service Quotas, "Running On-Demand/Spot instances" vCPUs) or lower concurrency'
          : `EC2 rejected the fleet request: ${fleetRefusalAdvice(result, config.name)}`,
        { market, errors: result.message },
      );
    } else {
      deps.logger.warn('fleet launched nothing', { market, cause, errors: result.message });
    }
    if (step.action === 'fallback') {
      market = step.market;
      continue;
    }
    if (step.action === 'retry' && now() + 500 < request.deadline) {
      await sleep(Math.min(500 * round, 2000));
      continue;
    }
    throw new Deferral(`${step.action === 'defer' ? step.reason : cause} in ${market}: ${result.message}`);
  }
}
