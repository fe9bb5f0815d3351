/**
 * Settling what earlier attempts of a job left behind (see core/attempt-settlement), and the undo
 * calls it shares with the launch path.
 */
import { hasUndo, settleEarlierAttempts } from '../core/attempt-settlement';
import { classifyAwsFailure, classifyGitHubFailure, isBusyRunnerRefusal } from '../core/call-failure';
import { formatJobKey } from '../core/job-key';
import { INSTANCE_TAGS } from '../core/state-schema';
import type { RunnerScope } from '../adapters/github';
import { CallFailedError, withRetry } from '../adapters/retrying';
import { attemptRunnerName, LaunchDeps, LaunchOutcome, LaunchRequest } from './launch-job';

/**
 * Finds what earlier attempts of the job left (instances by the job-key tag, registrations by name,
 * handoffs by instance), adopts a whole launch, undoes the rest.
 * @returns the outcome when a launch was adopted (or the job moved on), undefined to go on launching.
 */
export async function settleEarlier(
  deps: LaunchDeps,
  request: LaunchRequest,
  scope: RunnerScope,
): Promise<LaunchOutcome | undefined> {
  const now = deps.now ?? Date.now;
  const { key, config } = request;
  const bounds = { deadline: request.deadline, now, sleep: deps.sleep };
  const listed = await withRetry(
    () =>
      deps.ec2.describeOwned(deps.ownerTag, {
        filters: [{ Name: `tag:${INSTANCE_TAGS.jobKey}`, Values: [formatJobKey(key)] }],
        maxPages: 2,
        abortSignal: AbortSignal.timeout(Math.max(1, request.deadline - now())),
      }),
    { ...bounds, classify: classifyAwsFailure },
  );
  const current = attemptRunnerName(deps, config.name, key, request.launchAttempt);
  const instances = listed.instances.filter((i) => i.runnerName !== current);
  const names = new Set(instances.flatMap((i) => (i.runnerName ? [i.runnerName] : [])));
  const from = Math.max(1, (request.settledThrough ?? 0) + 1, request.launchAttempt - 3);
  for (let a = from; a < request.launchAttempt; a++) names.add(attemptRunnerName(deps, config.name, key, a));
  const registrations = (
    await Promise.all(
      [...names].map((name) =>
        withRetry(
          () =>
            deps.github.listRunners(request.installationId, scope, {
              name,
              deadline: request.deadline,
              maxPages: 1,
            }),
          { ...bounds, classify: classifyGitHubFailure },
        ),
      ),
    )
  ).flatMap((l) => l.runners.filter((r) => names.has(r.name)));
  const handoffsPresent = new Set<string>();
  await Promise.all(
    instances.map(async (i) => {
      const arn = `${deps.instanceArnPrefix}${i.instanceId}`;
      if (await withRetry(() => deps.store.handoffs.exists(arn), { ...bounds, classify: classifyAwsFailure }))
        handoffsPresent.add(i.instanceId);
    }),
  );
  const plan = settleEarlierAttempts({
    instances,
    registrations,
    handoffsPresent,
    notAdoptable: new Set(request.notAdoptable ?? []),
  });
  if (plan.adopt || hasUndo(plan)) {
    deps.logger.info('settling earlier launch attempts', {
      adopt: plan.adopt?.instanceId,
      terminate: plan.terminate,
      deleteRegistrations: plan.deleteRegistrations,
    });
  }
  await Promise.all([
    ...plan.terminate.map((id) => terminate(deps, id, request.deadline)),
    ...plan.deleteRegistrations.map((id) => deleteRegistration(deps, request, scope, id, request.deadline)),
    // Void the handoff slot of every instance given up: a handoff still in flight can no longer land.
    ...[...new Set([...plan.terminate, ...plan.deleteHandoffs])].map((id) =>
      deps.store.handoffs.void(`${deps.instanceArnPrefix}${id}`, now()).catch(() => undefined),
    ),
  ]);
  if (!plan.adopt) return undefined;
  const adopted = instances.find((i) => i.instanceId === plan.adopt!.instanceId)!;
  const launch = { ...plan.adopt, market: adopted.market ?? 'spot' };
  const recorded = await withRetry(
    () => deps.store.jobs.markLaunched(key, request.leaseOwner, launch, now()),
    {
      ...bounds,
      classify: classifyAwsFailure,
    },
  );
  if (!recorded) return { status: 'abandoned', reason: 'job ended or lease lost while adopting' };
  deps.logger.info('runner launched', {
    runnerName: launch.runnerName,
    market: launch.market,
    launchAttempt: request.launchAttempt,
    adoptedFromEarlierAttempt: true,
  });
  return {
    status: 'launched',
    instanceId: launch.instanceId,
    market: launch.market,
    runnerName: launch.runnerName,
    adopted: true,
  };
}

export async function terminate(deps: LaunchDeps, instanceId: string, deadline: number): Promise<void> {
  const now = deps.now ?? Date.now;
  await withRetry(
    () => deps.ec2.terminate([instanceId], AbortSignal.timeout(Math.max(1, deadline - now()))),
    {
      deadline,
      now,
      classify: classifyAwsFailure,
      sleep: deps.sleep,
    },
  ).catch((e: Error) =>
    // Tagged with its job, the instance is found by the next attempt and by the reconciler; and with
    // no JIT config it shuts itself down.
    deps.logger.warn('could not terminate an instance of an undone launch', { instanceId, error: e.message }),
  );
}

/**
 * Deletes a runner registration; a busy runner (GitHub refuses: it is running a job) is left alone.
 * Never throws: says what happened.
 */
export async function deleteRegistration(
  deps: LaunchDeps,
  request: Pick<LaunchRequest, 'installationId'>,
  scope: RunnerScope,
  runnerId: number,
  deadline: number,
): Promise<'deleted' | 'busy' | 'failed'> {
  return withRetry(() => deps.github.deleteRunner(request.installationId, scope, runnerId, { deadline }), {
    deadline,
    now: deps.now,
    classify: classifyGitHubFailure,
    sleep: deps.sleep,
  }).then(
    () => 'deleted' as const,
    (e: Error) => {
      if (isBusyRunnerRefusal((e as CallFailedError).cause ?? e)) return 'busy' as const;
      deps.logger.warn('could not delete a runner registration', { runnerId, error: e.message });
      return 'failed' as const;
    },
  );
}
