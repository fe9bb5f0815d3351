/** One job's failure in a retry run is counted and logged; it never rejects the run nor stops the others. */
import { Logger } from '@aws-lambda-powertools/logger';
import { JobRecord } from '../../lambda/core/job-record';
import { retryDueJobs } from '../../lambda/retry/retry-due-jobs';
import type { Runtime } from '../../lambda/runtime';

const record = (jobId: number): JobRecord => ({
  key: { host: 'github.com', jobId, runAttempt: 1 },
  runId: 1,
  repository: 'acme/app',
  installationId: 1,
  labels: ['self-hosted'],
  configName: 'gone',
  deliveryId: 'd',
  status: 'pending',
  createdAt: Date.now(),
  launchAttempts: 1,
});

test('a job whose take-over throws is counted as failed; the other due jobs are still retried', async () => {
  const expired: number[] = [];
  const errors: string[] = [];
  const logger = new Logger({ logLevel: 'SILENT' });
  logger.error = ((message: string) => errors.push(message)) as Logger['error'];
  const runtime = {
    settings: { ownerTag: 'o', pendingDeadlineMs: 86_400_000 },
    logger,
    configs: { byName: async () => undefined },
    store: {
      jobs: {
        due: async () => ({ jobs: [record(1), record(2), record(3)], nextKey: undefined }),
        takeOver: async (seen: JobRecord, _name: string, owner: string) => {
          if (seen.key.jobId === 2)
            throw Object.assign(new Error('table unreachable'), { name: 'InternalServerError' });
          return { ...seen, status: 'launching', leaseOwner: owner, launchAttempts: 2 };
        },
        expire: async (key: { jobId: number }) => {
          expired.push(key.jobId);
          return true;
        },
      },
    },
  } as unknown as Runtime;
  const summary = await retryDueJobs(runtime, { stopBy: Date.now() + 60_000, concurrency: 1 });
  expect(summary).toMatchObject({ due: 3, failed: 1, expired: 2 });
  expect(expired).toEqual([1, 3]);
  expect(errors).toContain('retry of one job failed; it stays due');
});
