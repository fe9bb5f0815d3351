/**
 * Launching a job anew because its runner can no longer serve it: its spot instance is being
 * interrupted before the job started, or another job took the runner. The take-over is one
 * conditional write that names the new attempt (write-ahead) and gives the old runner up
 * (`notAdoptable`), so two events about one runner relaunch the job once, and a crash after it
 * leaves the job due for the scheduled retry, which never adopts the runner given up.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '@aws-lambda-powertools/logger';
import { classifyAwsFailure } from '../core/call-failure';
import { JobRecord } from '../core/job-record';
import { LAUNCH_LEASE_MS } from '../core/job-status';
import { withRetry } from '../adapters/retrying';
import { Runtime } from '../runtime';
import { attemptRunnerName, launchJob, LaunchOutcome, runnerScopeOf } from './launch-job';
import { launchOptions } from './launch-options';
import { deleteRegistration, terminate } from './settle-earlier';

/** What the relaunch gives up and why. */
export interface Relaunch {
  /** The runner the record names now, given up. */
  readonly runner: string;
  readonly reason: string;
  /** The job that took the runner (`host/jobId/runAttempt`), for a stolen runner. */
  readonly takenBy?: string;
  /** The interrupted instance: deregister its runner and terminate it before launching anew. */
  readonly retire?: { readonly instanceId: string };
  /** The pool to stay away from. */
  readonly excludedPool?: { readonly instanceType: string; readonly subnetId: string };
}

/** Takes the job over as a new attempt and launches it; a description of the outcome. */
export async function relaunch(
  runtime: Runtime,
  log: Logger,
  job: JobRecord,
  what: Relaunch,
  deadline: number,
): Promise<{ readonly result: string; readonly outcome?: LaunchOutcome }> {
  const config = (await runtime.configs.configs()).find((c) => c.name === job.configName);
  if (!config) {
    log.error('cannot relaunch: the runner config of the job no longer exists', {
      configName: job.configName,
    });
    return { result: 'no config' };
  }
  const attempt = job.launchAttempts + 1;
  const leaseOwner = randomUUID();
  const taken = await withRetry(
    () =>
      runtime.store.jobs.takeOverLaunched(
        job,
        what.runner,
        {
          attemptRunnerName: attemptRunnerName(runtime.settings, config.name, job.key, attempt),
          leaseOwner,
          reason: what.reason,
          takenBy: what.takenBy,
        },
        Date.now(),
        LAUNCH_LEASE_MS,
      ),
    { deadline, classify: classifyAwsFailure },
  );
  if (!taken) return { result: 'the job moved on' };
  const deps = await runtime.launchDeps(log);
  if (what.retire) {
    // Before the new launch: the doomed runner must not take a job in its last two minutes. It is
    // deregistered first; one that took a job meanwhile (GitHub refuses: busy) keeps its instance.
    const arn = `${runtime.settings.instanceArnPrefix}${what.retire.instanceId}`;
    const busy =
      job.runnerId !== undefined &&
      (await deleteRegistration(
        deps,
        job,
        runnerScopeOf(deps.runnerScope, job.repository),
        job.runnerId,
        deadline,
      )) === 'busy';
    if (busy) log.warn('the interrupted runner took a job meanwhile; its instance is left to end with it');
    else {
      // The JIT config goes first: an invocation stopped after the terminate leaves none behind.
      await runtime.store.handoffs.void(arn, Date.now()).catch(() => undefined);
      await terminate(deps, what.retire.instanceId, deadline);
    }
  }
  const options = await launchOptions(runtime.store, runtime.settings, config, taken, log, Date.now());
  const outcome = await launchJob(deps, {
    key: job.key,
    repository: job.repository,
    installationId: job.installationId,
    config,
    launchAttempt: attempt,
    settledThrough: taken.settledThrough,
    leaseOwner,
    deadline,
    notAdoptable: taken.notAdoptable,
    excludedPool: what.excludedPool,
    ...options,
  });
  return { result: `relaunched: ${outcome.status}`, outcome };
}
