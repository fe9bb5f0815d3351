/**
 * The launch of one job attempt, shared by the webhook and the scheduled retry. The caller holds
 * the job's lease, and the record already names this attempt (write-ahead). In order:
 *   settle earlier attempts (retries) → register ∥ launch → hand the JIT config over → record launched
 * The record says `launched` only once the handoff exists. A failure reopens the job (pending)
 * before anything is undone, and whatever an undo cannot finish the next attempt settles. Every
 * remote call is bounded by the request's deadline. See lambda/core/crash-table.ts.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import { nextPendingAttemptAt } from '../core/backoff';
import { runnerLabels } from '../core/binding-labels';
import { classifyAwsFailure, classifyGitHubFailure, gitHubRejectionHint } from '../core/call-failure';
import { JobKey } from '../core/job-key';
import { isFinal } from '../core/job-status';
import { Market } from '../core/launch-decision';
import { StoredRunnerConfig } from '../core/runner-config';
import { runnerName } from '../core/runner-name';
import type { Ec2Launcher } from '../adapters/ec2-launcher';
import type { GitHubRunners, JitRunner, RunnerScope } from '../adapters/github';
import { CallFailedError, withRetry } from '../adapters/retrying';
import { StateStore } from '../adapters/state-store';
import { launchInstance } from './launch-instance';
import { deleteRegistration, settleEarlier, terminate } from './settle-earlier';

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
  /** How long a runner may take to come online (part of the instance's hard timeout). */
  readonly bootTimeoutMs: number;
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
}

/** One launch attempt of one job. */
export interface LaunchRequest {
  readonly key: JobKey;
  readonly repository: string;
  readonly installationId: number;
  readonly config: StoredRunnerConfig;
  /** The attempt's number, as the record names it; names and client tokens differ per attempt. */
  readonly launchAttempt: number;
  /** Attempts known to have left nothing behind (from the record). */
  readonly settledThrough?: number;
  readonly leaseOwner: string;
  /** Epoch ms after which no new remote call is started. */
  readonly deadline: number;
  /** Runner names of earlier attempts the record gave up (from the record): never adopted. */
  readonly notAdoptable?: readonly string[];
  /** A pool this attempt stays away from: the instance type and subnet of an interrupted instance. */
  readonly excludedPool?: { readonly instanceType: string; readonly subnetId: string };
  /** Why this attempt launches on-demand whatever the config's spot strategy (a re-run, the breaker). */
  readonly onDemandReason?: string;
  /** The job's binding labels, added to the runner's labels (see core/binding-labels). */
  readonly bindingLabels?: readonly string[];
}

/** How a launch attempt ended. */
export type LaunchOutcome =
  | {
      readonly status: 'launched';
      readonly instanceId: string;
      readonly market: Market;
      readonly runnerName: string;
      /** True when an earlier attempt's whole launch was adopted instead of launching anew. */
      readonly adopted?: boolean;
    }
  | { readonly status: 'deferred'; readonly reason: string }
  /** The job ended or changed hands while we launched. */
  | { readonly status: 'abandoned'; readonly reason: string };

/** The runner name of a job's attempt in this deployment. */
export function attemptRunnerName(
  deps: Pick<LaunchDeps, 'ownerTag'>,
  config: string,
  key: JobKey,
  attempt: number,
) {
  return runnerName(config, key, attempt, deps.ownerTag);
}

/** The launch a failed registration made pointless. */
class NotAttempted extends Error {}

/** Where runners of a repository register. */
export function runnerScopeOf(runnerScope: 'org' | 'repo', repository: string): RunnerScope {
  const [owner, repo] = repository.split('/');
  return runnerScope === 'org' ? { org: owner } : { owner, repo };
}

/** Settles, registers, launches, hands off and records one attempt; never throws for remote failures. */
export async function launchJob(deps: LaunchDeps, request: LaunchRequest): Promise<LaunchOutcome> {
  const now = deps.now ?? Date.now;
  const { key, config } = request;
  const log = deps.logger;
  const name = attemptRunnerName(deps, config.name, key, request.launchAttempt);
  const scope = runnerScopeOf(deps.runnerScope, request.repository);
  const retry = { deadline: request.deadline, now, sleep: deps.sleep };

  if (request.launchAttempt > 1 && (request.settledThrough ?? 0) < request.launchAttempt - 1) {
    const settled = await settleEarlier(deps, request, scope).catch((e: Error) => e);
    if (settled instanceof Error)
      return defer(deps, request, `could not settle earlier attempts: ${settled.message}`, false);
    if (settled) return settled;
  }

  const register = () =>
    withRetry(
      () =>
        deps.github.generateJitConfig(
          request.installationId,
          scope,
          name,
          runnerLabels(config.labels, request.bindingLabels ?? []),
          deps.runnerGroupId,
          {
            deadline: request.deadline,
          },
        ),
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
    const reasons = [jit, fleet].flatMap((r, i) =>
      r.status === 'rejected' && !(r.reason instanceof NotAttempted)
        ? [`${i === 0 ? 'GitHub' : 'EC2'}: ${(r.reason as Error).message}`]
        : [],
    );
    // A call that failed may still have landed (its answer lost): only an attempt with nothing
    // possibly out there counts as settled.
    const outcome = await defer(deps, request, reasons.join('; '), false);
    await undo(deps, request, scope, {
      runner: jit.status === 'fulfilled' ? jit.value : undefined,
      instanceId: fleet.status === 'fulfilled' ? fleet.value.instanceId : undefined,
    });
    return outcome;
  }

  const instanceId = fleet.value.instanceId;
  const instanceArn = `${deps.instanceArnPrefix}${instanceId}`;
  log.appendKeys({ instanceId });
  const launch = { instanceId, runnerName: name, runnerId: jit.value.runnerId, market: fleet.value.market };
  try {
    const written = await withRetry(
      () => deps.store.handoffs.put(instanceArn, jit.value.encodedJitConfig, now()),
      {
        ...retry,
        classify: classifyAwsFailure,
      },
    );
    if (!written) throw new Error('the instance was given up by a later attempt or the reconciler');
  } catch (e) {
    const reason = `JIT handoff failed: ${(e as Error).message}`;
    const outcome = await defer(deps, request, reason, false);
    await undo(deps, request, scope, { runner: jit.value, instanceId, handoffArn: instanceArn });
    return outcome;
  }

  let recorded: boolean;
  try {
    recorded = await withRetry(() => deps.store.jobs.markLaunched(key, request.leaseOwner, launch, now()), {
      ...retry,
      classify: classifyAwsFailure,
    });
  } catch (e) {
    // The launch is whole; only its record is missing. The lease expires and the next attempt adopts it.
    log.warn('could not record the launch; the next attempt adopts it', { error: (e as Error).message });
    return { status: 'deferred', reason: `record write failed: ${(e as Error).message}` };
  }
  if (!recorded) {
    const read = await deps.store.jobs.get(key).then(
      (job) => ({ job }),
      () => undefined,
    );
    if (read === undefined) {
      // Unknown either way: leave the whole launch; the next attempt adopts it or the reconciler reaps it.
      log.warn('could not read the job after a refused record write; the next attempt settles it', {
        runnerName: name,
      });
      return { status: 'abandoned', reason: 'record state unknown after a refused write' };
    }
    const { job } = read;
    // A retried write whose first attempt landed (its answer lost) finds the job launched with this
    // very instance; a runner that took the job before the record was written finds it running.
    const ours =
      (job?.status === 'launched' && job.instanceId === instanceId) ||
      (job?.status === 'running' &&
        job.takenByRunner === name &&
        (await deps.store.jobs.attachInstanceToRunning(key, launch, now()).catch(() => false)));
    if (!ours) {
      if (job === undefined || isFinal(job.status)) {
        log.info('job ended during the launch; launch undone', { runnerName: name });
        await undo(deps, request, scope, { runner: jit.value, instanceId, handoffArn: instanceArn });
      } else {
        log.info('job taken over during the launch; the new owner settles this attempt', {
          runnerName: name,
        });
      }
      return { status: 'abandoned', reason: 'job ended or lease lost during launch' };
    }
  }
  log.info('runner launched', {
    runnerName: name,
    market: launch.market,
    launchAttempt: request.launchAttempt,
  });
  return { status: 'launched', instanceId, market: launch.market, runnerName: name };
}

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

/** Reopens the job for the scheduled retry (pending), under our lease. */
async function defer(
  deps: LaunchDeps,
  request: LaunchRequest,
  reason: string,
  settled: boolean,
): Promise<LaunchOutcome> {
  const now = deps.now ?? Date.now;
  const nextAt = nextPendingAttemptAt(now(), request.launchAttempt);
  const deferred = await withRetry(
    () => deps.store.jobs.defer(request.key, request.leaseOwner, reason, nextAt, settled),
    {
      deadline: Math.max(request.deadline, now() + 1000),
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

/**
 * Undoes what this attempt made, after the record was reopened. Best effort within a short bound:
 * what is left, the next attempt settles (and the reconciler reaps).
 */
async function undo(
  deps: LaunchDeps,
  request: LaunchRequest,
  scope: RunnerScope,
  made: { runner?: JitRunner; instanceId?: string; handoffArn?: string },
): Promise<void> {
  const now = deps.now ?? Date.now;
  const deadline = Math.max(request.deadline, now() + 1000);
  await Promise.all([
    made.instanceId ? terminate(deps, made.instanceId, deadline) : undefined,
    made.runner ? deleteRegistration(deps, request, scope, made.runner.runnerId, deadline) : undefined,
    made.handoffArn ? deps.store.handoffs.void(made.handoffArn, now()).catch(() => undefined) : undefined,
  ]);
}
