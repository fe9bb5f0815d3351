/**
 * The reconciler's re-run step: jobs a spot interruption failed while they ran are re-run once
 * their workflow run has completed (core/rerun-plan), and the re-run's jobs are marked to launch
 * on-demand. It also closes the spot circuit breakers whose time is up (the log's closing edge).
 * Needs the App's *Actions: write* permission; without it the refusal is logged, naming it.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import { classifyAwsFailure, classifyGitHubFailure } from '../core/call-failure';
import { decideRerun, RerunVerdict, RunJobView } from '../core/rerun-plan';
import { GitHubRunners } from '../adapters/github';
import { StoredRerun } from '../adapters/state-store';
import { withRetry } from '../adapters/retrying';
import { Runtime } from '../runtime';

/** Runs looked at in one reconciler run. */
const MAX_RUNS = 10;

/** What the step did. */
export interface RerunSummary {
  requested: number;
  waiting: number;
  dropped: number;
}

/** Re-runs the interrupted jobs whose runs have completed; never throws for remote failures. */
export async function rerunInterrupted(
  runtime: Runtime,
  github: GitHubRunners,
  log: Logger,
  stopBy: number,
  now: () => number,
): Promise<RerunSummary> {
  const summary: RerunSummary = { requested: 0, waiting: 0, dropped: 0 };
  await closeBreakers(runtime, log, now);
  if (!runtime.settings.rerunInterruptedJobs) return summary;
  const aws = { deadline: stopBy, now, classify: classifyAwsFailure };
  const gh = { deadline: stopBy, now, classify: classifyGitHubFailure };
  const entries = await withRetry(() => runtime.store.interruptions.reruns(100), aws);
  const runs = new Map<string, StoredRerun[]>();
  for (const e of entries) {
    const id = `${e.repository}#${e.runId}#${e.runAttempt}`;
    runs.set(id, [...(runs.get(id) ?? []), e]);
  }
  for (const group of [...runs.values()].slice(0, MAX_RUNS)) {
    if (now() > stopBy) break;
    const first = group[0];
    const [owner, repo] = first.repository.split('/');
    const repository = { owner, repo };
    try {
      const run = await withRetry(() => github.getRun(first.installationId, repository, first.runId, gh), gh);
      const runView = run === 'not-found' ? undefined : run;
      const attemptJobs: RunJobView[] =
        runView?.status === 'completed' && runView.runAttempt === first.runAttempt
          ? await withRetry(
              () =>
                github.listAttemptJobs(first.installationId, repository, first.runId, first.runAttempt, gh),
              gh,
            )
          : [];
      const interruptedJobIds = new Set(group.map((e) => e.jobId));
      const verdicts = group.map((entry) => ({
        entry,
        verdict: decideRerun({ entry, run: runView, attemptJobs, interruptedJobIds, now: now() }),
      }));
      for (const { entry, verdict } of verdicts) {
        if (verdict.action === 'drop') {
          await runtime.store.interruptions.dropRerun(entry.key);
          summary.dropped++;
          log.info(verdict.done ? 'interrupted job re-run' : 'interrupted job not re-run', {
            jobId: entry.jobId,
            runId: entry.runId,
            reason: verdict.reason,
          });
        } else if (verdict.action === 'wait') summary.waiting++;
      }
      // One request per run: re-running the failed jobs covers every interrupted job of the attempt.
      for (const { entry, verdict } of verdicts) {
        if (verdict.action !== 'rerun-failed' && verdict.action !== 'rerun-job') continue;
        const covered = verdict.action === 'rerun-failed' ? group : [entry];
        if (await request(runtime, github, log, entry, verdict, covered, now)) summary.requested++;
        break;
      }
    } catch (e) {
      log.warn('could not look at an interrupted job; the next run tries again', {
        runId: first.runId,
        error: (e as Error).message,
      });
    }
  }
  return summary;
}

async function request(
  runtime: Runtime,
  github: GitHubRunners,
  log: Logger,
  entry: StoredRerun,
  verdict: Extract<RerunVerdict, { jobNames: readonly string[] }>,
  covered: readonly StoredRerun[],
  now: () => number,
): Promise<boolean> {
  const store = runtime.store.interruptions;
  // Write-ahead: the entries say the re-run was asked for before it is, so it is never asked twice
  // blindly; the marker is in place before the re-run's `queued` can arrive.
  const marks = await Promise.all(
    covered.map((e) => store.markRerunRequested(e.key, e.requestTries ?? 0, now())),
  );
  if (!marks[covered.indexOf(entry)]) return false;
  await store.putOnDemandMarker(entry.key.host, entry.runId, entry.runAttempt + 1, verdict.jobNames, now());
  const [owner, repo] = entry.repository.split('/');
  const target = verdict.action === 'rerun-failed' ? { runId: entry.runId } : { jobId: entry.jobId };
  const result = await github.rerun(entry.installationId, { owner, repo }, target);
  if (result === 'requested') {
    log.info('re-run of a job a spot interruption failed asked for; it launches on-demand', {
      runId: entry.runId,
      jobs: verdict.jobNames,
      how: verdict.action,
    });
    return true;
  }
  const missingPermission = result.refused === 403 && /not accessible by integration/i.test(result.message);
  log.error(
    missingPermission
      ? 'GitHub refused to re-run an interrupted job: the GitHub App needs the "Actions: write" repository permission (or set rerunInterruptedJobs: false)'
      : 'GitHub refused to re-run an interrupted job',
    { runId: entry.runId, status: result.refused, message: result.message },
  );
  if (missingPermission || result.refused !== 403 || !/already running/i.test(result.message))
    await Promise.all(covered.map((e) => store.dropRerun(e.key)));
  return false;
}

/** Clears the breakers whose open time is over, logging each once. */
async function closeBreakers(runtime: Runtime, log: Logger, now: () => number): Promise<void> {
  const configs = await runtime.configs.configs().catch(() => []);
  await Promise.all(
    configs
      .filter((c) => c.spotStrategy === 'spotPreferred')
      .map(async (c) => {
        const closed = await runtime.store.interruptions.closeBreakerIfDue(c.name, now()).catch(() => false);
        if (closed) log.info('spot circuit breaker closed: the config buys spot again', { config: c.name });
      }),
  );
}
