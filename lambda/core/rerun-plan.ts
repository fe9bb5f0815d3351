/**
 * Re-running a job that a spot interruption killed while it ran: once its workflow run has
 * completed (GitHub refuses a re-run before), never twice, never a job that failed for another
 * reason, never one a person already re-ran. Pure: the reconciler asks GitHub and carries it out.
 */

/** An interrupted job waiting for its re-run, as the reconciler keeps it. */
export interface RerunEntry {
  readonly repository: string;
  readonly installationId: number;
  readonly runId: number;
  readonly jobId: number;
  readonly runAttempt: number;
  readonly interruptedAt: number;
  /** Set when the re-run was asked for (write-ahead, so it is never asked twice). */
  readonly requestedAt?: number;
  /** How many times the request was sent without a known answer. */
  readonly requestTries?: number;
}

/** A job of the run's attempt, as GitHub lists it. */
export interface RunJobView {
  readonly id: number;
  readonly name: string;
  readonly status: string;
  readonly conclusion: string | null;
}

/** What GitHub says of the run and the job. */
export interface RerunFacts {
  readonly entry: RerunEntry;
  /** The run (`GET …/actions/runs/{run_id}`); undefined when GitHub no longer has it. */
  readonly run?: { readonly status: string; readonly runAttempt: number };
  /** The jobs of the interrupted attempt (`GET …/runs/{run_id}/attempts/{n}/jobs`). */
  readonly attemptJobs: readonly RunJobView[];
  /** Job ids of this run attempt that we recorded as interrupted (this entry's included). */
  readonly interruptedJobIds: ReadonlySet<number>;
  readonly now: number;
}

/** How long an entry is kept at most: GitHub allows re-runs for 30 days, but a day is enough for us. */
export const RERUN_ENTRY_MAX_AGE_MS = 24 * 60 * 60_000;

/** Most sends of one re-run request whose answer was lost. */
export const MAX_RERUN_TRIES = 3;

/** The verdict for one entry. */
export type RerunVerdict =
  | { readonly action: 'wait'; readonly reason: string }
  | { readonly action: 'drop'; readonly reason: string; readonly done?: boolean }
  /** Every failed job of the attempt is one we recorded as interrupted: re-run the failed jobs. */
  | { readonly action: 'rerun-failed'; readonly jobNames: readonly string[] }
  /** Other jobs failed for other reasons: re-run only the interrupted one. */
  | { readonly action: 'rerun-job'; readonly jobNames: readonly string[] };

/** The conclusions `rerun-failed-jobs` re-runs. */
const FAILED = new Set(['failure', 'cancelled', 'timed_out', 'startup_failure']);

/** Decides what to do about one interrupted job. */
export function decideRerun(f: RerunFacts): RerunVerdict {
  const { entry, run } = f;
  if (f.now - entry.interruptedAt > RERUN_ENTRY_MAX_AGE_MS)
    return { action: 'drop', reason: 'waited a day for the run to complete' };
  if (!run) return { action: 'drop', reason: 'GitHub no longer has the run' };
  if (run.runAttempt > entry.runAttempt) {
    // Ours landed (its answer may have been lost), or a person re-ran the run first.
    return entry.requestedAt !== undefined
      ? { action: 'drop', reason: 're-run started', done: true }
      : { action: 'drop', reason: 'the run was already re-run (by a person?): not re-run again' };
  }
  if (run.status !== 'completed')
    return {
      action: 'wait',
      reason: 'the run is still in progress (GitHub refuses a re-run before it completes)',
    };
  if (entry.requestedAt !== undefined && (entry.requestTries ?? 1) >= MAX_RERUN_TRIES)
    return { action: 'drop', reason: `re-run asked for ${MAX_RERUN_TRIES} times without an answer` };
  const job = f.attemptJobs.find((j) => j.id === entry.jobId);
  if (!job) return { action: 'drop', reason: 'the job is not in its run attempt' };
  // A runner that dies fails its job; any other end (success, a person's cancel) is not ours to re-run.
  if (job.conclusion !== 'failure')
    return {
      action: 'drop',
      reason: `the job ended ${job.conclusion ?? 'without a conclusion'}, not failed by the interruption`,
    };
  const failed = f.attemptJobs.filter((j) => FAILED.has(j.conclusion ?? ''));
  const othersFailed = failed.some((j) => !f.interruptedJobIds.has(j.id));
  if (othersFailed) return { action: 'rerun-job', jobNames: [job.name] };
  return { action: 'rerun-failed', jobNames: failed.map((j) => j.name).sort() };
}
