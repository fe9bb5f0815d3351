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

/** Marks the job running on `instance.runnerName` as interrupted at `now`; what it did. */
export async function markInterrupted(
  runtime: Runtime,
  log: Logger,
  job: Pick<JobRecord, 'key' | 'repository' | 'installationId' | 'runId'>,
  instance: Pick<InstanceView, 'runnerName'>,
  aws: { deadline: number; classify: typeof classifyAwsFailure },
  now = Date.now(),
): Promise<string> {
  const marked = await withRetry(
    () => runtime.store.jobs.markInterrupted(job.key, instance.runnerName!, now),
    aws,
  );
  if (!marked) return 'ignored: the job moved on';
  if (!runtime.settings.rerunInterruptedJobs) {
    log.warn('spot interruption while the job runs: it will fail (rerunInterruptedJobs is off)', {
      runningJob: job.key.jobId,
    });
    return 'interrupted';
  }
  await withRetry(
    () =>
      runtime.store.interruptions.addRerun(
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
  log.warn(
    'spot interruption while the job runs: it will fail, and is re-run once on-demand when its run completes',
    {
      runningJob: job.key.jobId,
      runId: job.runId,
    },
  );
  return 'interrupted';
}
