/**
 * A job record as the control plane sees it: plain data, shared by the state store (which reads
 * and writes it) and the pure decisions (which read it).
 */
import { JobKey } from './job-key';
import { JobStatus } from './job-status';

/** What a new job record holds. */
export interface NewJob {
  readonly key: JobKey;
  readonly runId: number;
  readonly repository: string;
  readonly installationId: number;
  readonly labels: readonly string[];
  readonly configName: string;
  readonly deliveryId: string;
  /** The job's name in its workflow (a re-run's job has the same name, and a new id). */
  readonly jobName?: string;
}

/** A job record as stored. */
export interface JobRecord extends NewJob {
  readonly status: JobStatus;
  readonly createdAt: number;
  /**
   * The number of the current launch attempt (write-ahead: set before the attempt's first remote
   * call, by the claim or by the take-over of a due job). 0 for a record made by `waiting`.
   */
  readonly launchAttempts: number;
  /** The runner name of the current attempt, written with {@link launchAttempts}. */
  readonly attemptRunnerName?: string;
  /** Attempts up to this one are known to have left nothing behind (undone cleanly, or settled). */
  readonly settledThrough?: number;
  readonly leaseOwner?: string;
  readonly leaseUntil?: number;
  readonly nextAttemptAt?: number;
  readonly lastError?: string;
  /** The instance, runner name and registration of the launch (status `launched` and after). */
  readonly instanceId?: string;
  readonly runnerName?: string;
  readonly runnerId?: number;
  readonly market?: string;
  readonly launchedAt?: number;
  /** The runner that took the job (`in_progress`), ours or not. */
  readonly takenByRunner?: string;
  readonly startedAt?: number;
  /** When we learned that the launched instance is shutting down or gone. */
  readonly instanceGoneAt?: number;
  readonly conclusion?: string;
  /** Why a record became final, when not by GitHub's `completed`. */
  readonly finalReason?: string;
  /** When the reconciler last asked GitHub about the job. */
  readonly checkedAt?: number;
  /** When EC2 warned that the spot instance running the job would be interrupted. */
  readonly interruptedAt?: number;
  /** Runner names of earlier attempts that must never be adopted (interrupted, or taken by another job). */
  readonly notAdoptable?: readonly string[];
  /** The job whose `in_progress` named this job's runner (`host/jobId/runAttempt`): the runner was taken. */
  readonly runnerTakenBy?: string;
  /** Replacement runners launched because this job's runners were taken. */
  readonly stolenReplacements?: number;
  /** Why the current attempt launches on-demand when the config would buy spot. */
  readonly onDemandReason?: string;
}

/** Where a launch ended up, written by the lease owner. */
export interface LaunchRecord {
  readonly instanceId: string;
  readonly runnerName: string;
  readonly runnerId: number;
  readonly market: string;
}
