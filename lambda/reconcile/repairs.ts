/**
 * The reconciler's hands: asking GitHub about a job, applying its verdict to the record, deleting a
 * registration, terminating an instance. Shared by the scheduled run and the state-change path.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import { classifyAwsFailure, classifyGitHubFailure, isBusyRunnerRefusal } from '../core/call-failure';
import { GitHubJobView } from '../core/fleet-views';
import { formatJobKey } from '../core/job-key';
import { JobRecord } from '../core/job-record';
import { CheckReason, decideFromGitHub } from '../core/reconcile-plan';
import type { GitHubRunners, RunnerScope } from '../adapters/github';
import { CallFailedError, withRetry } from '../adapters/retrying';
import { runnerScopeOf } from '../launch/launch-job';
import { Runtime } from '../runtime';

/** Carries out the verdicts and actions; shared by the run and by the state-change path. */
export class Repairs {
  lookups = 0;
  constructor(
    private readonly runtime: Runtime,
    private readonly github: GitHubRunners,
    private readonly log: Logger,
    private readonly now: () => number,
    private readonly deadline: number,
    private readonly maxLookups: number,
  ) {}

  private bounds(classify: typeof classifyAwsFailure) {
    return { deadline: this.deadline, now: this.now, classify };
  }

  /** Makes a record final because its instance passed its hard timeout. */
  async hardTimeout(record: JobRecord): Promise<string> {
    await withRetry(
      () =>
        this.runtime.store.jobs.finalize(
          record.key,
          { status: 'expired', reason: 'its instance passed its hard timeout (maxJobRuntime): terminated' },
          this.now(),
        ),
      this.bounds(classifyAwsFailure),
    );
    return 'finalized: hard timeout';
  }

  scope(repository: string): RunnerScope {
    return runnerScopeOf(this.runtime.settings.runnerScope, repository);
  }

  /** Asks GitHub about a job; `unknown` when the lookup failed or the budget is spent. */
  async lookUp(record: JobRecord): Promise<GitHubJobView | 'not-found' | 'unknown'> {
    if (this.lookups >= this.maxLookups) return 'unknown';
    this.lookups++;
    const [owner, repo] = record.repository.split('/');
    try {
      return await withRetry(
        () =>
          this.github.getJob(record.installationId, { owner, repo }, record.key.jobId, {
            deadline: this.deadline,
          }),
        this.bounds(classifyGitHubFailure),
      );
    } catch (e) {
      const code = e instanceof CallFailedError ? e.failure.code : '';
      this.log.warn('could not ask GitHub about a job', {
        jobKey: formatJobKey(record.key),
        error: (e as Error).message,
        ...(code === '403' ? { hint: 'the GitHub App needs the repository permission "Actions: Read"' } : {}),
      });
      return 'unknown';
    }
  }

  /** Applies to the record what GitHub's answer (or its absence) means, as `decideFromGitHub` decides. */
  async apply(
    record: JobRecord,
    reason: CheckReason,
    job: GitHubJobView | 'not-found' | 'unknown',
  ): Promise<string> {
    const jobs = this.runtime.store.jobs;
    const verdict = decideFromGitHub(record, job, reason);
    const now = this.now();
    const write = <T>(fn: () => Promise<T>) => withRetry(fn, this.bounds(classifyAwsFailure));
    switch (verdict.kind) {
      case 'reopen':
        if (record.status !== 'launched' || !record.instanceId) return 'nothing';
        // The given-up instance's JIT config goes first, so it cannot run the job behind our back.
        await this.voidHandoff(record.instanceId);
        await write(() => jobs.reopenLaunch(record.key, record.instanceId!, `relaunched: ${reason}`, now));
        return 'reopened';
      case 'make-due':
        await write(() => jobs.makeWaitingDue(record.key, now));
        return 'made-due';
      case 'running':
        await write(() => jobs.recordInProgress(record.key, verdict.runnerName, now));
        return 'running';
      case 'complete':
        await write(() =>
          jobs.finalize(
            record.key,
            { status: 'completed', conclusion: verdict.conclusion, reason: 'GitHub reports it completed' },
            now,
          ),
        );
        return 'completed';
      case 'finalize':
        await write(() => jobs.finalize(record.key, { status: 'expired', reason: verdict.reason }, now));
        return 'finalized';
      default:
        if (job !== 'unknown') await write(() => jobs.markChecked(record.key, now));
        return 'nothing';
    }
  }

  /** Deletes a registration; false when GitHub refused because the runner is busy. */
  async deregister(installationId: number, scope: RunnerScope, runnerId: number): Promise<boolean> {
    try {
      await withRetry(
        () => this.github.deleteRunner(installationId, scope, runnerId, { deadline: this.deadline }),
        this.bounds(classifyGitHubFailure),
      );
      return true;
    } catch (e) {
      if (isBusyRunnerRefusal((e as CallFailedError).cause ?? e)) return false;
      throw e;
    }
  }

  /** Voids the instance's handoff slot: no JIT config stays behind, none can land later. */
  async voidHandoff(instanceId: string): Promise<void> {
    const arn = `${this.runtime.settings.instanceArnPrefix}${instanceId}`;
    await withRetry(() => this.runtime.store.handoffs.void(arn, this.now()), this.bounds(classifyAwsFailure));
  }

  async terminate(instanceId: string): Promise<void> {
    const ec2 = await this.runtime.ec2();
    await withRetry(
      () => ec2.terminate([instanceId], AbortSignal.timeout(Math.max(1, this.deadline - this.now()))),
      this.bounds(classifyAwsFailure),
    );
  }
}
