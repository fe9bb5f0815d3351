/**
 * The life of a job record, and the rules that keep a job from launching twice.
 *
 *   (none) ──queued──▶ launching ──▶ launched ──in_progress──▶ running ──completed──▶ completed
 *      │                 │  ▲  │         │                                            ▲
 *      └─waiting─▶ waiting│  │  └─ pending (scheduled retry) ── deadline ──▶ expired   │
 *                         │  └──────────┘ (reopened: boot timeout, idle, lost launch)   │
 *                         └────────────── completed (cancelled before launch) ─────────┘
 *
 * `launching` is held under a lease: only the lease owner may move the job on, and an expired lease
 * (the owner crashed) makes the job due again for the scheduled retry. Each launch attempt is named
 * in the record before its first remote call (write-ahead: `launchAttempts` and
 * `attemptRunnerName`), so whoever comes next finds what the attempt left: its instance by the
 * runner-name tag, its registration by name, its handoff by the instance's ARN. A record becomes
 * `launched` only after the instance's JIT handoff is written. The reconciler compares the records
 * that are not final (the `live` index) with the instances and registrations that exist; see
 * `crash-table.ts` for who repairs what when an invocation stops at any step.
 *
 * A `launched` job whose runner can no longer serve it (its spot instance is being interrupted
 * before the job started, or another job took the runner) is taken back to `launching` as its next
 * attempt by one conditional write on the runner it names (`takeOverLaunched`), which also lists that
 * runner in `notAdoptable`: no later attempt adopts it. A `running` job whose instance is being
 * interrupted keeps its status and gains `interruptedAt`; its re-run is a new job (a new id).
 */

/** The status of a job record. */
export type JobStatus =
  'waiting' | 'launching' | 'pending' | 'launched' | 'running' | 'completed' | 'expired';

/** Statuses in which a runner may still be launched for the job. */
export const LAUNCHABLE: readonly JobStatus[] = ['launching', 'pending'];

/** Statuses a `queued` delivery may claim: a fresh job, or one that came back from `waiting`. */
export const CLAIMABLE_FROM: readonly JobStatus[] = ['waiting'];

/** Statuses after which nothing more happens to the job. */
export const FINAL: readonly JobStatus[] = ['completed', 'expired'];

/** Whether a status is final. */
export function isFinal(status: JobStatus): boolean {
  return FINAL.includes(status);
}

/** Whether a job that has waited since `createdAt` has passed its deadline. */
export function pastDeadline(createdAt: number, deadlineMs: number, now: number): boolean {
  return now - createdAt >= deadlineMs;
}

/** How long a launch lease lasts: longer than a Lambda invocation can run, so a live owner never loses it. */
export const LAUNCH_LEASE_MS = 90_000;

/** How long a job record is kept after its last change, in seconds (DynamoDB TTL). */
export const JOB_RECORD_TTL_SECONDS = 14 * 24 * 60 * 60;

/**
 * Extra time an instance may live past its boot timeout and the config's maxJobRuntime before the
 * reconciler terminates it as stuck (the `expires-at` tag).
 */
export const HARD_TIMEOUT_GRACE_MS = 10 * 60_000;

/** The `expires-at` of an instance launched at `launchedAt`. */
export function instanceExpiry(
  launchedAt: number,
  bootTimeoutMs: number,
  maxJobRuntimeMinutes: number,
): number {
  return launchedAt + bootTimeoutMs + maxJobRuntimeMinutes * 60_000 + HARD_TIMEOUT_GRACE_MS;
}
