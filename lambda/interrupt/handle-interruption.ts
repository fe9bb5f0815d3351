/**
 * A spot interruption warning (two minutes' notice) or a rebalance recommendation for one of our
 * instances. Before its job started: the job is launched anew at once, away from the instance's
 * pool, and the instance is given up (deregistered, terminated). While a job runs on it: the job
 * will fail; it is recorded, so the reconciler re-runs it once on-demand when its run has completed.
 * Every spot interruption of a `spotPreferred` config counts toward its circuit breaker.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import { classifyAwsFailure, classifyGitHubFailure } from '../core/call-failure';
import { decideInterruption, InterruptionKind } from '../core/interruption';
import { parseFormattedJobKey } from '../core/job-key';
import { JobRecord } from '../core/job-record';
import { InstanceView, RegistrationView } from '../core/fleet-views';
import { withRetry } from '../adapters/retrying';
import { markInterrupted } from '../launch/interrupted';
import { relaunch } from '../launch/relaunch';
import { deleteRegistration, terminate } from '../launch/settle-earlier';
import { runnerScopeOf } from '../launch/launch-job';
import { Runtime } from '../runtime';

/** What the handler did, for its log line and its tests. */
export type InterruptionResult = string;

/** Handles one event for `instanceId`. */
export async function onInterruption(
  runtime: Runtime,
  kind: InterruptionKind,
  instanceId: string,
  options: { stopBy: number },
): Promise<InterruptionResult> {
  const log = runtime.logger.createChild();
  log.appendKeys({ instanceId, event: kind });
  const aws = { deadline: options.stopBy, classify: classifyAwsFailure };
  const ec2 = await runtime.ec2();
  const listed = await withRetry(
    () =>
      ec2.describeOwned(runtime.settings.ownerTag, {
        filters: [{ Name: 'instance-id', Values: [instanceId] }],
        maxPages: 1,
        pageSize: 5,
        abortSignal: AbortSignal.timeout(Math.max(1, options.stopBy - Date.now())),
      }),
    aws,
  );
  const instance = listed.instances[0];
  const key = instance?.jobKey ? parseFormattedJobKey(instance.jobKey) : undefined;
  if (!instance || !key) return 'not ours';
  log.appendKeys({ jobKey: instance.jobKey, config: instance.config, runnerName: instance.runnerName });

  const [ownJob, takenBy] = await Promise.all([
    withRetry(() => runtime.store.jobs.get(key), aws),
    instance.runnerName
      ? withRetry(
          () =>
            kind === 'spot-warning'
              ? runtime.store.interruptions.noteRunnerInterrupted(instance.runnerName!, Date.now())
              : runtime.store.interruptions.runnerTakenBy(instance.runnerName!),
          aws,
        )
      : undefined,
  ]);
  const takenKey = takenBy ? parseFormattedJobKey(takenBy) : undefined;
  const takenJob = takenKey ? await withRetry(() => runtime.store.jobs.get(takenKey), aws) : undefined;
  if (kind === 'spot-warning') await countForBreaker(runtime, log, instance);

  const verdict = decideInterruption({
    kind,
    instance,
    ownJob,
    takenJob,
    replaceOnRebalance: runtime.settings.replaceOnRebalance,
  });
  switch (verdict.action) {
    case 'ignore':
      log.info('interruption: nothing to do', { reason: verdict.reason });
      return `ignored: ${verdict.reason}`;
    case 'replace': {
      // The record may lag behind: a runner already busy runs the job (its in_progress is on the way).
      if (await runnerBusy(runtime, instance, verdict.job, options.stopBy)) {
        log.info('interruption: the runner is already running its job; recorded as interrupted');
        return markInterrupted(runtime, log, verdict.job, instance, aws);
      }
      const { result } = await relaunch(
        runtime,
        log,
        verdict.job,
        {
          runner: verdict.job.runnerName!,
          reason:
            kind === 'spot-warning' ? 'spot interruption before the job started' : 'rebalance recommendation',
          retire: { instanceId },
          excludedPool:
            instance.instanceType && instance.subnetId
              ? { instanceType: instance.instanceType, subnetId: instance.subnetId }
              : undefined,
        },
        options.stopBy,
      );
      log.info('interruption before the job started: replacement launched', {
        result,
        excludedPool: `${instance.instanceType} in ${instance.subnetId} (${instance.availabilityZone})`,
      });
      return `replaced: ${result}`;
    }
    case 'mark-interrupted':
      return markInterrupted(runtime, log, verdict.job, instance, aws);
    case 'retire':
      return retire(runtime, log, instance, ownJob, options.stopBy);
  }
}

/**
 * The registration of the instance's runner, found by name: undefined when there is none, 'unknown'
 * when GitHub could not be asked.
 */
async function registrationOf(
  runtime: Runtime,
  instance: InstanceView,
  owner: Pick<JobRecord, 'repository' | 'installationId'>,
  deadline: number,
): Promise<RegistrationView | undefined | 'unknown'> {
  if (!instance.runnerName) return undefined;
  const github = await runtime.github();
  const scope = runnerScopeOf(runtime.settings.runnerScope, owner.repository);
  const found = await withRetry(
    () =>
      github.listRunners(owner.installationId, scope, { name: instance.runnerName, deadline, maxPages: 1 }),
    { deadline, classify: classifyGitHubFailure },
  ).catch(() => undefined);
  return found ? found.runners.find((r) => r.name === instance.runnerName) : 'unknown';
}

/** Whether the instance's runner is busy at GitHub (unknown counts as busy: nothing is undone). */
async function runnerBusy(
  runtime: Runtime,
  instance: InstanceView,
  job: JobRecord,
  deadline: number,
): Promise<boolean> {
  const reg = await registrationOf(runtime, instance, job, deadline);
  return reg === 'unknown' || reg?.busy === true;
}

/** A runner that no job of ours waits for: deregistered (unless busy) and terminated. */
async function retire(
  runtime: Runtime,
  log: Logger,
  instance: InstanceView,
  own: JobRecord | undefined,
  deadline: number,
): Promise<string> {
  const deps = await runtime.launchDeps(log);
  const repository = instance.repository ?? own?.repository;
  const installationId = instance.installationId ?? own?.installationId;
  if (repository && installationId) {
    const owner = { repository, installationId };
    const reg = await registrationOf(runtime, instance, owner, deadline);
    const scope = runnerScopeOf(runtime.settings.runnerScope, repository);
    if (
      reg !== 'unknown' &&
      reg &&
      (reg.busy || (await deleteRegistration(deps, owner, scope, reg.id, deadline)) === 'busy')
    ) {
      log.info('interruption: the runner is busy with a job we have no record of; left to end');
      return 'busy';
    }
  }
  // The JIT config goes first: an invocation stopped after the terminate leaves none behind.
  await runtime.store.handoffs
    .void(`${runtime.settings.instanceArnPrefix}${instance.instanceId}`, Date.now())
    .catch(() => undefined);
  await terminate(deps, instance.instanceId, deadline);
  log.info('interruption: spare runner retired');
  return 'retired';
}

/** Counts a spot interruption toward the config's breaker; logs the edge when it opens. */
async function countForBreaker(runtime: Runtime, log: Logger, instance: InstanceView): Promise<void> {
  if (instance.market !== 'spot' || !instance.config) return;
  const config = (await runtime.configs.configs()).find((c) => c.name === instance.config);
  if (config?.spotStrategy !== 'spotPreferred') return;
  const settings = runtime.settings.spotCircuitBreaker;
  if (!Number.isFinite(settings.threshold)) return; // spotCircuitBreaker: false
  try {
    const opened = await runtime.store.interruptions.recordBreakerInterruption(
      config.name,
      Date.now(),
      settings,
    );
    if (opened)
      log.warn('spot circuit breaker opened: the config launches on-demand', {
        interruptions: settings.threshold,
        windowMinutes: settings.windowMs / 60_000,
        openMinutes: settings.openMs / 60_000,
      });
  } catch (e) {
    log.warn('could not count the interruption toward the circuit breaker', { error: (e as Error).message });
  }
}
