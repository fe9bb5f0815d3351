// Workflow runs, derived from their jobs: a run is the jobs that share its id, across attempts.
// Its `run_attempt` is the latest attempt; its status is that attempt's (all queued: queued; all
// completed: completed; else in progress); its conclusion, once completed, is over the latest
// execution of every job, so a run whose failed job succeeded on re-run succeeds. The re-run rules
// GitHub applies (no re-run while the run is in progress; `rerun-failed-jobs` re-runs the failed and
// cancelled jobs) and the REST `workflow-run` JSON live here too. Pure: no HTTP, no mutation.
import type { EmulatedJob, JobStatus } from './jobs';
import { repositoryId, scopeKey, type EmulatedInstallation } from './state';
import { accountJson, EMULATED_SENDER, repositoryJson, type PayloadUrls } from './webhook-payloads';

/** A run's status, as GitHub reports it (the subset jobs can produce). */
export type RunStatus = JobStatus;

/** A run's conclusion once completed, else null. */
export type RunConclusion = 'success' | 'failure' | 'cancelled' | null;

/** A workflow run as the emulator derives it. */
export interface EmulatedRun {
  /** Workflow run id. */
  readonly id: number;
  /** `owner/repo`, as its first job spelled it. */
  readonly repository: string;
  /** Installation whose app receives the run's events. */
  readonly installationId: number;
  /** Workflow name: the run's `name`. */
  readonly workflowName: string;
  readonly headBranch: string;
  readonly headSha: string;
  /** The latest attempt (1 unless re-run). */
  readonly runAttempt: number;
  readonly status: RunStatus;
  readonly conclusion: RunConclusion;
  /** When its first job was queued. */
  readonly createdAt: string;
  /** When the latest attempt began (its first job was queued). */
  readonly runStartedAt: string;
  /** The latest transition of any of its jobs. */
  readonly updatedAt: string;
  /** Every job of every attempt, oldest first. */
  readonly jobs: readonly EmulatedJob[];
}

/** Conclusions `rerun-failed-jobs` re-runs (of those the emulator produces). */
const RERUN_CONCLUSIONS = new Set(['failure', 'cancelled']);

/** GitHub's refusal of `rerun-failed-jobs` while the run is queued or in progress. */
export const RUN_ALREADY_RUNNING = 'This workflow is already running';

/** GitHub's refusal of a per-job re-run while the job's run is queued or in progress. */
export const JOB_RUN_ALREADY_RUNNING = 'The workflow run containing this job is already running';

/**
 * The emulator's refusal of `rerun-failed-jobs` for a completed run with no failed or cancelled job
 * (the message GitHub gives runs it will not retry).
 */
export const RUN_CANNOT_BE_RETRIED = 'This workflow run cannot be retried';

/** The jobs of run `runId` in `repository` (case-insensitively), oldest first. */
export function jobsOfRun(jobs: Iterable<EmulatedJob>, runId: number, repository?: string): EmulatedJob[] {
  return [...jobs].filter(
    (j) => j.runId === runId && (repository === undefined || scopeKey(j.repository) === scopeKey(repository)),
  );
}

/** The latest execution of every job: the jobs no re-run has superseded, oldest first. */
export function latestExecutions(jobs: readonly EmulatedJob[]): EmulatedJob[] {
  const superseded = new Set(jobs.map((j) => j.rerunOf));
  return jobs.filter((j) => !superseded.has(j.id));
}

/** The status of a run whose latest attempt has these jobs. */
export function attemptStatus(attemptJobs: readonly EmulatedJob[]): RunStatus {
  if (attemptJobs.every((j) => j.status === 'completed')) return 'completed';
  if (attemptJobs.some((j) => j.status === 'in_progress' || j.status === 'completed')) return 'in_progress';
  if (attemptJobs.some((j) => j.status === 'waiting')) return 'waiting';
  return 'queued';
}

/** A completed run's conclusion over the latest execution of its jobs: any failure, else any cancel. */
export function runConclusion(current: readonly EmulatedJob[]): Exclude<RunConclusion, null> {
  if (current.some((j) => j.conclusion === 'failure')) return 'failure';
  if (current.some((j) => j.conclusion === 'cancelled')) return 'cancelled';
  return 'success';
}

/** Derives a run from its jobs (see {@link jobsOfRun}); undefined when it has none. */
export function deriveRun(jobs: readonly EmulatedJob[]): EmulatedRun | undefined {
  if (jobs.length === 0) return undefined;
  const first = jobs[0];
  const runAttempt = Math.max(...jobs.map((j) => j.runAttempt));
  const latest = jobs.filter((j) => j.runAttempt === runAttempt);
  const status = attemptStatus(latest);
  // Same-format ISO strings order as the times they write.
  const times = jobs.flatMap((j) => [j.createdAt, j.startedAt, j.completedAt ?? '']);
  return {
    id: first.runId,
    repository: first.repository,
    installationId: first.installationId,
    workflowName: first.workflowName,
    headBranch: first.headBranch,
    headSha: first.headSha,
    runAttempt,
    status,
    conclusion: status === 'completed' ? runConclusion(latestExecutions(jobs)) : null,
    createdAt: first.createdAt,
    runStartedAt: latest[0].createdAt,
    updatedAt: times.reduce((a, b) => (b > a ? b : a)),
    jobs,
  };
}

/** A re-run GitHub would accept (the jobs to re-run), or its 403 message. */
export type RerunDecision =
  | { readonly ok: true; readonly jobs: readonly EmulatedJob[] }
  | { readonly ok: false; readonly message: string };

/** What `rerun-failed-jobs` does with a run: its failed and cancelled latest executions, once completed. */
export function decideRerunFailedJobs(run: EmulatedRun): RerunDecision {
  if (run.status !== 'completed') return { ok: false, message: RUN_ALREADY_RUNNING };
  const failed = latestExecutions(run.jobs).filter((j) => RERUN_CONCLUSIONS.has(j.conclusion ?? ''));
  return failed.length > 0 ? { ok: true, jobs: failed } : { ok: false, message: RUN_CANNOT_BE_RETRIED };
}

/** The latest execution of a job: the job itself, or the last re-run that followed it. */
export function latestExecutionOf(jobs: readonly EmulatedJob[], job: EmulatedJob): EmulatedJob {
  let current = job;
  for (
    let next = jobs.find((j) => j.rerunOf === current.id);
    next;
    next = jobs.find((j) => j.rerunOf === current.id)
  ) {
    current = next;
  }
  return current;
}

/**
 * What a per-job re-run does: the job's latest execution (whatever its conclusion), once the run
 * has completed. A job id of an earlier attempt re-runs the same job, not a second copy of it.
 */
export function decideRerunJob(run: EmulatedRun, job: EmulatedJob): RerunDecision {
  if (run.status !== 'completed') return { ok: false, message: JOB_RUN_ALREADY_RUNNING };
  return { ok: true, jobs: [latestExecutionOf(run.jobs, job)] };
}

// Workflow run and check suite node ids are opaque strings; any base64url tail will do.
const opaqueNodeId = (prefix: string, id: number): string =>
  `${prefix}_kwDO${Buffer.from(`${id}`).toString('base64url')}`;

/** The workflow file of a workflow name: `CI` → `.github/workflows/ci.yml`. */
const workflowPath = (name: string): string =>
  `.github/workflows/${name.toLowerCase().replace(/[^a-z0-9]+/g, '-') || 'workflow'}.yml`;

/**
 * A run as GitHub's REST API returns it (`workflow-run`). `runNumber` is the run's place among its
 * repository's runs. No pull requests or referenced workflows are emulated (empty lists).
 */
export function workflowRunJson(
  run: EmulatedRun,
  runNumber: number,
  installation: EmulatedInstallation,
  urls: PayloadUrls,
): Record<string, unknown> {
  const repo = `${urls.apiUrl}/repos/${run.repository}`;
  const url = `${repo}/actions/runs/${run.id}`;
  const workflowId = repositoryId(`${run.repository}/${run.workflowName}`);
  // Check suite ids are GitHub's own sequence; the run id shifted keeps them distinct and stable.
  const checkSuiteId = run.id + 1_000_000_000;
  const actor = accountJson(EMULATED_SENDER.login, EMULATED_SENDER.id, 'User', urls);
  const repository = repositoryJson(run.repository, installation.accountType, urls);
  const author = { name: EMULATED_SENDER.login, email: `${EMULATED_SENDER.login}@users.noreply.github.com` };
  return {
    id: run.id,
    name: run.workflowName,
    node_id: opaqueNodeId('WFR', run.id),
    check_suite_id: checkSuiteId,
    check_suite_node_id: opaqueNodeId('CS', checkSuiteId),
    head_branch: run.headBranch,
    head_sha: run.headSha,
    path: workflowPath(run.workflowName),
    display_title: run.workflowName,
    run_number: runNumber,
    event: 'push',
    status: run.status,
    conclusion: run.conclusion,
    workflow_id: workflowId,
    url,
    html_url: `${urls.webUrl}/${run.repository}/actions/runs/${run.id}`,
    pull_requests: [],
    created_at: run.createdAt,
    updated_at: run.updatedAt,
    actor,
    run_attempt: run.runAttempt,
    referenced_workflows: [],
    run_started_at: run.runStartedAt,
    triggering_actor: actor,
    jobs_url: `${url}/jobs`,
    logs_url: `${url}/logs`,
    check_suite_url: `${repo}/check-suites/${checkSuiteId}`,
    artifacts_url: `${url}/artifacts`,
    cancel_url: `${url}/cancel`,
    rerun_url: `${url}/rerun`,
    previous_attempt_url: run.runAttempt > 1 ? `${url}/attempts/${run.runAttempt - 1}` : null,
    workflow_url: `${repo}/actions/workflows/${workflowId}`,
    head_commit: {
      id: run.headSha,
      tree_id: run.headSha.split('').reverse().join(''),
      message: `Emulated commit ${run.headSha.slice(0, 7)}`,
      timestamp: run.createdAt,
      author,
      committer: author,
    },
    repository,
    head_repository: repository,
  };
}
