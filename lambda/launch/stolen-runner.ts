/**
 * An `in_progress` whose runner was launched for another job: that job's runner was taken, and
 * while that job is still queued a replacement is launched for it (at most
 * `MAX_STOLEN_REPLACEMENTS`). The runner launched for the job that started is spare now: it takes
 * another job, or the reconciler reaps it as idle.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import { runnerLabels, splitBindingLabels } from '../core/binding-labels';
import { classifyAwsFailure } from '../core/call-failure';
import { classifyTakenRunner, decideStolen } from '../core/interruption';
import { formatJobKey, JobKey } from '../core/job-key';
import { JobRecord } from '../core/job-record';
import { parseRunnerName } from '../core/runner-name';
import { withRetry } from '../adapters/retrying';
import { Runtime } from '../runtime';
import { markInterrupted } from './interrupted';
import { relaunch } from './relaunch';

/**
 * The labels of the runner launched for the job that just started elsewhere, if that runner is still
 * waiting for a job: its config's labels and the job's binding labels.
 */
async function spareRunnerLabels(
  runtime: Runtime,
  before: JobRecord | undefined,
): Promise<string[] | undefined> {
  if (!before || (before.status !== 'launched' && before.status !== 'launching') || before.runnerTakenBy)
    return undefined;
  const config = (await runtime.configs.configs()).find((c) => c.name === before.configName);
  if (!config) return undefined;
  return runnerLabels(
    config.labels,
    splitBindingLabels(before.labels, runtime.settings.bindingLabelPattern).binding,
  );
}

/** Time kept back from the delivery budget for the answer. */
const ANSWER_RESERVE_MS = 1500;

/**
 * Bookkeeping for the runner named by an `in_progress` of `key`. `before` is the job's record before
 * the delivery (undefined: none). Returns what it found (`stolen`, `stolen-replaced`, `foreign`), or undefined for the
 * job's own runner. Never throws: a failure is logged and the reconciler remains the safety net.
 */
export async function onRunnerTaken(
  runtime: Runtime,
  log: Logger,
  key: JobKey,
  job: Pick<JobRecord, 'repository' | 'installationId' | 'runId'>,
  before: JobRecord | undefined,
  runnerName: string | null,
  startedAt: number,
): Promise<string | undefined> {
  const { settings } = runtime;
  const parsed = runnerName ? parseRunnerName(runnerName, settings.githubHost, settings.ownerTag) : undefined;
  const taken = classifyTakenRunner(key, parsed?.key);
  if (taken.kind === 'own') return undefined;
  const spareRunner = before?.runnerName ?? before?.attemptRunnerName;
  if (taken.kind === 'foreign') {
    if (!before) return undefined;
    log.info('job taken by a runner that is not of this deployment; the runner launched for it is spare', {
      takenBy: runnerName,
      spareRunner,
    });
    return 'foreign';
  }
  const deadline = startedAt + settings.deliveryBudgetMs - ANSWER_RESERVE_MS;
  try {
    // Whatever happens to the job the runner was launched for, its instance now runs this job.
    const note = await withRetry(
      () => runtime.store.interruptions.noteRunnerTakenBy(runnerName!, formatJobKey(key), Date.now()),
      {
        deadline,
        classify: classifyAwsFailure,
      },
    );
    // The spot warning for the runner's instance came before this `in_progress`: the job will fail.
    if (note.interruptedAt !== undefined)
      await markInterrupted(
        runtime,
        log,
        { key, ...job },
        { runnerName: runnerName! },
        { deadline, classify: classifyAwsFailure },
        note.interruptedAt,
      );
    const from = await withRetry(() => runtime.store.jobs.get(taken.from), {
      deadline,
      classify: classifyAwsFailure,
    });
    const verdict = decideStolen(from, runnerName!, await spareRunnerLabels(runtime, before));
    log.warn('job taken by the runner launched for another job', {
      takenFrom: formatJobKey(taken.from),
      spareRunner,
      verdict: verdict.action,
      ...('reason' in verdict ? { reason: verdict.reason } : {}),
    });
    if (verdict.action === 'ignore') return 'stolen';
    if (verdict.action === 'leave-to-spare') {
      await runtime.store.jobs.noteRunnerTaken(taken.from, runnerName!, formatJobKey(key));
      return 'stolen-left-to-spare';
    }
    if (verdict.action === 'give-up') {
      log.error('no replacement for a job whose runners keep being taken', {
        jobKey: formatJobKey(taken.from),
        reason: verdict.reason,
      });
      await runtime.store.jobs.noteRunnerTaken(taken.from, runnerName!, formatJobKey(key));
      return 'stolen';
    }
    const child = log.createChild();
    child.appendKeys({
      jobKey: formatJobKey(taken.from),
      repository: from!.repository,
      config: from!.configName,
    });
    const { result } = await relaunch(
      runtime,
      child,
      from!,
      { runner: runnerName!, reason: `its runner was taken by job ${key.jobId}`, takenBy: formatJobKey(key) },
      deadline,
    );
    child.info('replacement for a job whose runner was taken', { result });
    return result.startsWith('relaunched') ? 'stolen-replaced' : 'stolen';
  } catch (e) {
    log.warn(
      'could not act on a runner taken by another job; the reconciler relaunches it when the runner is gone',
      {
        error: (e as Error).message,
      },
    );
    return 'stolen';
  }
}
