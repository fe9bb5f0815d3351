/**
 * The launch of one job attempt, shared by the webhook and the scheduled retry: register a JIT
 * runner and launch an instance (in parallel: neither needs the other), hand the JIT config to that
 * instance, record the launch. Any half-done launch is undone: a registration without an instance is
 * deleted, an instance without its JIT config is terminated. The caller holds the job's lease.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import { nextPendingAttemptAt } from '../core/backoff';
import { classifyAwsFailure, classifyGitHubFailure, gitHubRejectionHint } from '../core/call-failure';
import { formatJobKey, JobKey } from '../core/job-key';
import { classifyFleetErrors, firstMarket, Market, nextLaunchStep } from '../core/launch-decision';
import { StoredRunnerConfig } from '../core/runner-config';
import { fleetClientToken, runnerName } from '../core/runner-name';
import { INSTANCE_TAGS } from '../core/state-schema';
import { Ec2Launcher } from '../adapters/ec2-launcher';
import { GitHubRunners, JitRunner, RunnerScope } from '../adapters/github';
import { CallFailedError, withRetry } from '../adapters/retrying';
import { StateStore } from '../adapters/state-store';

/** What a launch needs from its surroundings. */
export interface LaunchDeps {
  readonly github: GitHubRunners;
  readonly ec2: Ec2Launcher;
  readonly store: StateStore;
  readonly logger: Logger;
  readonly runnerScope: 'org' | 'repo';
  readonly runnerGroupId: number;
  /** `arn:{partition}:ec2:{region}:{account}:instance/`. */
  readonly instanceArnPrefix: string;
  /** Value of the owner tag on every instance of this deployment. */
  readonly ownerTag: string;
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
}

/** One launch attempt of one job. */
export interface LaunchRequest {
  readonly key: JobKey;
  readonly repository: string;
  readonly installationId: number;
  readonly config: StoredRunnerConfig;
  /** 1 for the first attempt; names and client tokens differ per attempt. */
  readonly launchAttempt: number;
  readonly leaseOwner: string;
  /** Epoch ms after which no new remote call is started. */
  readonly deadline: number;
}

/** How a launch attempt ended. */
export type LaunchOutcome =
  | {
      readonly status: 'launched';
      readonly instanceId: string;
      readonly market: Market;
      readonly runnerName: string;
    }
  | { readonly status: 'deferred'; readonly reason: string }
  /** The job ended or changed hands while we launched; nothing of ours is left behind. */
  | { readonly status: 'abandoned'; readonly reason: string };

class Deferral extends Error {}

/** Registers, launches, hands off and records one attempt; never throws for remote failures. */
export async function launchJob(deps: LaunchDeps, request: LaunchRequest): Promise<LaunchOutcome> {
  const now = deps.now ?? Date.now;
  const { key, config } = request;
  const log = deps.logger;
  const name = runnerName(config.name, key, request.launchAttempt);
  const scope: RunnerScope =
    deps.runnerScope === 'org'
      ? { org: request.repository.split('/')[0] }
      : splitRepository(request.repository);
  const retry = { deadline: request.deadline, now, sleep: deps.sleep };

  const register = () =>
    withRetry(
      () =>
        deps.github.generateJitConfig(request.installationId, scope, name, config.labels, deps.runnerGroupId),
      { ...retry, classify: classifyGitHubFailure },
    );
  // The first attempt races GitHub's delivery timeout, so registration and launch run in parallel.
  // Retries are not in a hurry: they register first, so a registration GitHub keeps refusing (a
  // missing permission, say) does not cost an instance launched and terminated every retry.
  const [jit, fleet] =
    request.launchAttempt === 1
      ? await Promise.allSettled([register(), launchInstance(deps, request, name)])
      : await registerThenLaunch(register, () => launchInstance(deps, request, name));

  if (jit.status === 'rejected' || fleet.status === 'rejected') {
    if (
      jit.status === 'rejected' &&
      jit.reason instanceof CallFailedError &&
      jit.reason.failure.kind === 'rejected'
    ) {
      log.error('GitHub refused to register the runner', {
        hint: gitHubRejectionHint(jit.reason.failure.code, deps.runnerScope),
        error: jit.reason.message,
      });
    }
    const undo: Promise<unknown>[] = [];
    if (jit.status === 'fulfilled') undo.push(deleteRegistration(deps, request, scope, jit.value));
    if (fleet.status === 'fulfilled') undo.push(terminate(deps, fleet.value.instanceId));
    await Promise.all(undo);
    const reasons = [jit, fleet].flatMap((r, i) =>
      r.status === 'rejected' && !(r.reason instanceof NotAttempted)
        ? [`${i === 0 ? 'GitHub' : 'EC2'}: ${(r.reason as Error).message}`]
        : [],
    );
    return defer(deps, request, reasons.join('; '));
  }

  const instanceId = fleet.value.instanceId;
  const instanceArn = `${deps.instanceArnPrefix}${instanceId}`;
  log.appendKeys({ instanceId });
  const launch = { instanceId, runnerName: name, runnerId: jit.value.runnerId, market: fleet.value.market };
  // The handoff and the record are independent writes: in parallel, they cost one round trip.
  const [handoff, recorded] = await Promise.allSettled([
    withRetry(() => deps.store.putHandoff(instanceArn, jit.value.encodedJitConfig, now()), {
      ...retry,
      classify: classifyAwsFailure,
    }),
    withRetry(() => deps.store.markLaunched(key, request.leaseOwner, launch, now()), {
      ...retry,
      classify: classifyAwsFailure,
    }),
  ]);

  // A retried record write whose first attempt landed (its answer lost) finds the job launched with
  // this very instance: that is success, not a lost lease.
  let recordedOurs = recorded.status === 'fulfilled' && recorded.value;
  if (recorded.status === 'fulfilled' && !recorded.value) {
    const job = await deps.store.getJob(key).catch(() => undefined);
    recordedOurs = job?.status === 'launched' && job.instanceId === instanceId;
  }
  if (handoff.status === 'fulfilled' && recordedOurs) {
    log.info('runner launched', {
      runnerName: name,
      market: launch.market,
      launchAttempt: request.launchAttempt,
    });
    return { status: 'launched', instanceId, market: launch.market, runnerName: name };
  }

  // Undo the half-done launch, then say what became of the job.
  await Promise.all([
    terminate(deps, instanceId),
    deleteRegistration(deps, request, scope, jit.value),
    handoff.status === 'fulfilled' ? deps.store.deleteHandoff(instanceArn).catch(() => undefined) : undefined,
  ]);
  if (recorded.status === 'fulfilled' && !recordedOurs) {
    log.info('job ended or was taken over during the launch; launch undone', { runnerName: name });
    return { status: 'abandoned', reason: 'job ended or lease lost during launch' };
  }
  const failures = [handoff, recorded].flatMap((r) =>
    r.status === 'rejected' ? [(r.reason as Error).message] : [],
  );
  const reason = `JIT handoff or record failed: ${failures.join('; ')}`;
  if (recorded.status === 'rejected') {
    // The record may not have been written, or written with its answer lost: try both ways back.
    const outcome = await defer(deps, request, reason);
    if (outcome.status === 'deferred') return outcome;
  }
  // The record says launched, but the instance is gone: reopen the job for the scheduled retry.
  const reopened = await withRetry(
    () =>
      deps.store.reopenLaunch(key, instanceId, reason, nextPendingAttemptAt(now(), request.launchAttempt)),
    { deadline: now() + 5000, now, sleep: deps.sleep, classify: classifyAwsFailure },
  ).catch(() => false);
  log.warn('launch undone after a failed JIT handoff', { reason, reopened });
  return reopened
    ? { status: 'deferred', reason }
    : { status: 'abandoned', reason: 'job ended or lease lost during launch' };
}

/** The launch a failed registration made pointless. */
class NotAttempted extends Error {}

/** Registration, then (only if it succeeded) the launch; settled like Promise.allSettled. */
async function registerThenLaunch<J, F>(
  register: () => Promise<J>,
  launch: () => Promise<F>,
): Promise<[PromiseSettledResult<J>, PromiseSettledResult<F>]> {
  const [jit] = await Promise.allSettled([register()]);
  if (jit.status === 'rejected') return [jit, { status: 'rejected', reason: new NotAttempted() }];
  const [fleet] = await Promise.allSettled([launch()]);
  return [jit, fleet];
}

function splitRepository(repository: string): RunnerScope {
  const [owner, repo] = repository.split('/');
  return { owner, repo };
}

/** Launches one instance, falling back between markets as the config's spot strategy allows. */
async function launchInstance(
  deps: LaunchDeps,
  request: LaunchRequest,
  name: string,
): Promise<{ instanceId: string; market: Market }> {
  const now = deps.now ?? Date.now;
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const { config, key } = request;
  const expiresAt = new Date(now() + (config.maxJobRuntimeMinutes + 60) * 60_000).toISOString();
  const tags = {
    Name: name,
    [INSTANCE_TAGS.jobKey]: formatJobKey(key),
    [INSTANCE_TAGS.repository]: request.repository,
    [INSTANCE_TAGS.config]: config.name,
    [INSTANCE_TAGS.expiresAt]: expiresAt,
    [INSTANCE_TAGS.runnerName]: name,
    [INSTANCE_TAGS.owner]: deps.ownerTag,
  };
  let market = firstMarket(config.spotStrategy);
  for (let round = 1; ; round++) {
    const result = await withRetry(
      () =>
        deps.ec2.launch({
          launchTemplateId: config.launchTemplateId,
          launchTemplateVersion: config.launchTemplateVersion ?? '$Latest',
          instanceTypes: config.instanceTypes,
          subnetIds: config.subnetIds,
          market,
          tags,
          // A thrown call retried with the same token cannot launch twice; a fleet that launched
          // nothing is retried with a new one, or EC2 would answer with the same empty fleet.
          clientToken: fleetClientToken(key, request.launchAttempt, market, round),
        }),
      { deadline: request.deadline, now, sleep: deps.sleep, classify: classifyAwsFailure },
    );
    if (result.launched) return { instanceId: result.instanceId, market };

    const cause = classifyFleetErrors(result.errorCodes);
    const step = nextLaunchStep(config.spotStrategy, market, cause);
    if (cause === 'quota' || cause === 'configuration') {
      deps.logger.error(
        cause === 'quota'
          ? 'EC2 quota exhausted: raise the account limit (Service Quotas, "Running On-Demand/Spot instances" vCPUs) or lower concurrency'
          : 'EC2 rejected the fleet request: check the launch template, subnets and the Lambda role',
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

async function defer(deps: LaunchDeps, request: LaunchRequest, reason: string): Promise<LaunchOutcome> {
  const now = deps.now ?? Date.now;
  const nextAt = nextPendingAttemptAt(now(), request.launchAttempt);
  const deferred = await withRetry(
    () => deps.store.deferJob(request.key, request.leaseOwner, reason, nextAt),
    {
      deadline: now() + 5000,
      now,
      sleep: deps.sleep,
      classify: classifyAwsFailure,
    },
  ).catch((e: Error) => {
    // The lease still expires and makes the job due: the scheduled retry takes it from there.
    deps.logger.error('could not record the deferral; the lease expiry will retry it', { error: e.message });
    return true;
  });
  if (!deferred) return { status: 'abandoned', reason: 'job ended or lease lost during launch' };
  deps.logger.warn('launch deferred to the scheduled retry', {
    reason,
    launchAttempt: request.launchAttempt,
    nextAttemptAt: new Date(nextAt).toISOString(),
  });
  return { status: 'deferred', reason };
}

async function terminate(deps: LaunchDeps, instanceId: string): Promise<void> {
  await withRetry(() => deps.ec2.terminate([instanceId]), {
    deadline: (deps.now ?? Date.now)() + 5000,
    classify: classifyAwsFailure,
    sleep: deps.sleep,
  }).catch((e: Error) =>
    // Tagged with its expiry, the instance is also found by the reaper; and with no JIT config it shuts itself down.
    deps.logger.error('could not terminate an instance of an undone launch', {
      instanceId,
      error: e.message,
    }),
  );
}

async function deleteRegistration(
  deps: LaunchDeps,
  request: LaunchRequest,
  scope: RunnerScope,
  jit: JitRunner,
): Promise<void> {
  await withRetry(() => deps.github.deleteRunner(request.installationId, scope, jit.runnerId), {
    deadline: (deps.now ?? Date.now)() + 5000,
    classify: classifyGitHubFailure,
    sleep: deps.sleep,
  }).catch((e: Error) =>
    // An ephemeral registration that never connects is removed by GitHub after a day.
    deps.logger.error('could not delete the runner registration of an undone launch', {
      runnerId: jit.runnerId,
      error: e.message,
    }),
  );
}
