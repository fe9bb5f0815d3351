/**
 * The scheduled retry: every minute, take the jobs whose launch is due (deferred by a webhook,
 * reopened by the reconciler, or left under an expired lease by a crashed invocation) and launch
 * them, until they launch, end, or pass their deadline. Each job is taken under its own lease, so
 * overlapping runs never launch twice; one job's failure is logged and counted, never the run's.
 */
import { randomUUID } from 'node:crypto';
import { formatJobKey } from '../core/job-key';
import { LAUNCH_LEASE_MS, pastDeadline } from '../core/job-status';
import { JobRecord } from '../adapters/state-store';
import { attemptRunnerName, launchJob } from '../launch/launch-job';
import { launchOptions } from '../launch/launch-options';
import { Runtime } from '../runtime';

/** What one run did, for its log line and the tests. */
export interface RetrySummary {
  due: number;
  launched: number;
  deferred: number;
  expired: number;
  skipped: number;
  /** Jobs whose retry threw (a bug or an unreachable table): logged, and due again next run. */
  failed: number;
}

/** Bounds of one run. */
export interface RetryRunOptions {
  /** Epoch ms by which the run must have stopped starting work. */
  readonly stopBy: number;
  /** Longest a single launch may take. */
  readonly perJobBudgetMs?: number;
  /** Launches run at once. */
  readonly concurrency?: number;
  readonly now?: () => number;
}

/** Retries every due job once; returns what happened. */
export async function retryDueJobs(runtime: Runtime, options: RetryRunOptions): Promise<RetrySummary> {
  const now = options.now ?? Date.now;
  const summary: RetrySummary = { due: 0, launched: 0, deferred: 0, expired: 0, skipped: 0, failed: 0 };
  const concurrency = options.concurrency ?? 10;
  const perJob = options.perJobBudgetMs ?? 20_000;
  const started = now();
  let startKey: Parameters<Runtime['store']['jobs']['due']>[2];
  do {
    const page = await runtime.store.jobs.due(started, 50, startKey);
    startKey = page.nextKey;
    summary.due += page.jobs.length;
    const queue = [...page.jobs];
    await Promise.all(
      Array.from({ length: Math.min(concurrency, queue.length) }, async () => {
        for (let job = queue.shift(); job; job = queue.shift()) {
          if (now() + perJob > options.stopBy) {
            summary.skipped++;
            continue;
          }
          try {
            summary[await retryOne(runtime, job, Math.min(now() + perJob, options.stopBy), now)]++;
          } catch (e) {
            summary.failed++;
            runtime.logger.error('retry of one job failed; it stays due', {
              jobKey: formatJobKey(job.key),
              error: (e as Error).message,
            });
          }
        }
      }),
    );
  } while (startKey && now() + perJob <= options.stopBy);
  return summary;
}

async function retryOne(
  runtime: Runtime,
  due: JobRecord,
  deadline: number,
  now: () => number,
): Promise<'launched' | 'deferred' | 'expired' | 'skipped'> {
  const log = runtime.logger.createChild();
  log.appendKeys({ jobKey: formatJobKey(due.key), repository: due.repository, config: due.configName });
  const leaseOwner = randomUUID();
  // Write-ahead: the take-over names the new attempt and its runner before any remote call.
  const runner = attemptRunnerName(runtime.settings, due.configName, due.key, due.launchAttempts + 1);
  const job = await runtime.store.jobs.takeOver(due, runner, leaseOwner, now(), LAUNCH_LEASE_MS);
  if (!job) return 'skipped'; // taken by another run, or no longer due

  if (pastDeadline(job.createdAt, runtime.settings.pendingDeadlineMs, now())) {
    await runtime.store.jobs.expire(
      job.key,
      leaseOwner,
      `not launched before the deadline: ${job.lastError ?? ''}`,
    );
    log.error('job given up: no runner could be launched before the deadline', {
      lastError: job.lastError,
      launchAttempts: job.launchAttempts,
    });
    return 'expired';
  }
  const config = await runtime.configs.byName(job.configName);
  if (!config) {
    await runtime.store.jobs.expire(job.key, leaseOwner, `runner config ${job.configName} no longer exists`);
    log.error('job given up: its runner config was removed', { configName: job.configName });
    return 'expired';
  }
  const [deps, options] = await Promise.all([
    runtime.launchDeps(log),
    launchOptions(runtime.store, runtime.settings, config, job, log, Date.now()),
  ]);
  const outcome = await launchJob(deps, {
    key: job.key,
    repository: job.repository,
    installationId: job.installationId,
    config,
    launchAttempt: job.launchAttempts,
    settledThrough: job.settledThrough,
    leaseOwner,
    deadline,
    notAdoptable: job.notAdoptable,
    ...options,
  });
  return outcome.status === 'launched' ? 'launched' : outcome.status === 'deferred' ? 'deferred' : 'skipped';
}
