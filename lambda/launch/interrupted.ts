/**
 * Recording that a job's spot instance will be interrupted while the job runs: the job will fail, and
 * (with `rerunInterruptedJobs`) it gets a re-run entry, so the reconciler re-runs it once its run has
 * completed. Shared by the interruption Lambda and by the webhook, whose `in_progress` for a job on
 * another job's runner may come after the warning.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import { classifyAwsFailure } from '../core/call-failure';
import { InstanceView } from '../core/fleet-views';
import { JobRecord } from '../core/job-record';
import { withRetry } from '../adapters/retrying';
import { Runtime } from '../runtime';

/**
 * Marks the job running on `instance.runnerName` as interrupted at `now`; what it did. The re-run
 * entry is written before the mark (write-ahead): the mark is what makes a second handler ignore the
 * interruption, so a handler stopped between the two writes must leave the entry, not the mark. Its
 * retry, or the instance's end, then writes the mark; the entry's add is idempotent.
 */
export async function markInterrupted(
  runtime: Runtime,
  log: Logger,
  job: Pick<JobRecord, 'key' | 'repository' | 'installationId' | 'runId'>,
  instance: Pick<InstanceView, 'runnerName'>,
  aws: { deadline: number; classify: typeof classifyAwsFailure },
  now = Date.now(),
): Promise<string> {
  const { jobs, interruptions } = runtime.store;
  const rerun = runtime.settings.rerunInterruptedJobs;
  if (rerun)
    await withRetry(
      () =>
        interruptions.addRerun(
          job.key,
          {
            repository: job.repository,
            installationId: job.installationId,
            runId: job.runId,
            jobId: job.key.jobId,
            runAttempt: job.key.runAttempt,
            interruptedAt: now,
          },
          now,
        ),
      aws,
    );
  const marked = await withRetry(() => jobs.markInterrupted(job.key, instance.runnerName!, now), aws);
  if (!marked) {
    // Refused: marked before (its entry stays), or the job moved on (then nothing is to be re-run).
    if (rerun && (await withRetry(() => jobs.get(job.key), aws))?.interruptedAt === undefined)
      await withRetry(() => interruptions.dropRerun(job.key), aws);
    return 'ignored: the job moved on';
  }
  if (!rerun) {
    log.warn('spot interruption while the job runs: it will fail (rerunInterruptedJobs is off)', {
      runningJob: job.key.jobId,
    });
    return 'interrupted';
  }
  log.warn(
    'spot interruption while the job runs: it will fail, and is re-run once on-demand when its run completes',
    {
      runningJob: job.key.jobId,
      runId: job.runId,
    },
  );
  return 'interrupted';
}
