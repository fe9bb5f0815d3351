/**
 * The `workflow_job` webhook payload: parsed and validated into the few fields we act on. A payload
 * that lacks them is a {@link RequestError} (4xx), never a crash (5xx).
 */
import { RequestError } from './delivery';

/** The `workflow_job` actions GitHub sends. */
export type WorkflowJobAction = 'queued' | 'waiting' | 'in_progress' | 'completed';

/** What we use of a `workflow_job` delivery. */
export interface WorkflowJobEvent {
  readonly action: WorkflowJobAction;
  readonly jobId: number;
  readonly runId: number;
  readonly runAttempt: number;
  /** The job's `runs-on` labels. */
  readonly labels: string[];
  /** `owner/repo`. */
  readonly repository: string;
  readonly owner: string;
  readonly repo: string;
  /** The GitHub App installation that sent the delivery. */
  readonly installationId: number;
  /** The runner that took the job (`in_progress`, `completed`), or null. */
  readonly runnerName: string | null;
  /** The job's conclusion once completed, or null. */
  readonly conclusion: string | null;
  /** The job's name, for logs. */
  readonly jobName: string;
  /** True when the payload had no `run_attempt` (older GHES) and 1 was assumed. */
  readonly runAttemptDefaulted: boolean;
}

const ACTIONS: readonly string[] = ['queued', 'waiting', 'in_progress', 'completed'];

/**
 * GitHub's rules for an owner (user or organization login: letters, digits and hyphens, at most
 * 39; Enterprise Managed Users add an underscore and the enterprise's short code) and for a
 * repository name (letters, digits, `.`, `_`, `-`, at most 100, never `.` or `..`). A name that
 * breaks them cannot be GitHub's, and must never reach a URL path.
 */
const OWNER = /^[A-Za-z0-9][A-Za-z0-9_-]{0,38}$/;
const REPO = /^[A-Za-z0-9._-]{1,100}$/;

/** Why `owner/repo` is not a repository name GitHub could have sent, or undefined when it is. */
export function repositoryNameProblem(fullName: string): string | undefined {
  const parts = fullName.split('/');
  if (parts.length !== 2) return 'repository.full_name must be "owner/repo"';
  const [owner, repo] = parts;
  if (!OWNER.test(owner)) return `repository owner "${owner.slice(0, 60)}" is not a GitHub login`;
  if (!REPO.test(repo) || repo === '.' || repo === '..')
    return `repository name "${repo.slice(0, 110)}" is not a GitHub repository name`;
  return undefined;
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Parses a payload's JSON text; a malformed one is a 400. */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new RequestError(400, 'body is not valid JSON');
  }
}

/** The `action` of a `workflow_job` payload, or undefined for an action we do not handle. */
export function workflowJobAction(payload: unknown): WorkflowJobAction | undefined {
  if (!isObject(payload)) throw new RequestError(400, 'payload is not a JSON object');
  const action = payload.action;
  return typeof action === 'string' && ACTIONS.includes(action) ? (action as WorkflowJobAction) : undefined;
}

/** Validates a `workflow_job` payload of a known action; every problem is named in one 422. */
export function parseWorkflowJob(payload: unknown): WorkflowJobEvent {
  if (!isObject(payload)) throw new RequestError(400, 'payload is not a JSON object');
  const problems: string[] = [];
  const job = isObject(payload.workflow_job) ? payload.workflow_job : undefined;
  const repository = isObject(payload.repository) ? payload.repository : undefined;
  const installation = isObject(payload.installation) ? payload.installation : undefined;
  if (!job) problems.push('workflow_job is missing');
  if (!repository) problems.push('repository is missing');
  if (!installation) problems.push('installation is missing (deliveries must come from the GitHub App)');

  const positiveInt = (obj: Json | undefined, field: string, path: string): number => {
    const v = obj?.[field];
    if (obj && !(typeof v === 'number' && Number.isSafeInteger(v) && v > 0))
      problems.push(`${path} must be a positive integer`);
    return typeof v === 'number' ? v : 0;
  };
  const nullableString = (obj: Json | undefined, field: string, path: string): string | null => {
    const v = obj?.[field];
    if (v === undefined || v === null) return null;
    if (typeof v !== 'string') problems.push(`${path} must be a string or null`);
    return typeof v === 'string' ? v : null;
  };

  const action = workflowJobAction(payload);
  if (!action) problems.push(`action must be one of ${ACTIONS.join(', ')}`);
  const jobId = positiveInt(job, 'id', 'workflow_job.id');
  const runId = positiveInt(job, 'run_id', 'workflow_job.run_id');
  // Older GHES releases send no run_attempt: that is the first attempt.
  const runAttempt =
    job?.run_attempt === undefined || job?.run_attempt === null
      ? 1
      : positiveInt(job, 'run_attempt', 'workflow_job.run_attempt');
  const runAttemptDefaulted =
    job !== undefined && (job.run_attempt === undefined || job.run_attempt === null);
  const installationId = positiveInt(installation, 'id', 'installation.id');

  const labels = job?.labels;
  if (job && !(Array.isArray(labels) && labels.every((l) => typeof l === 'string'))) {
    problems.push('workflow_job.labels must be a list of strings');
  }
  const fullName = repository?.full_name;
  if (repository) {
    const problem =
      typeof fullName === 'string'
        ? repositoryNameProblem(fullName)
        : 'repository.full_name must be "owner/repo"';
    if (problem) problems.push(problem);
  }
  const runnerName = nullableString(job, 'runner_name', 'workflow_job.runner_name');
  const conclusion = nullableString(job, 'conclusion', 'workflow_job.conclusion');
  const jobName = nullableString(job, 'name', 'workflow_job.name') ?? '';

  if (problems.length > 0)
    throw new RequestError(422, `invalid workflow_job payload: ${problems.join('; ')}`);
  const [owner, repo] = (fullName as string).split('/');
  return {
    action: action as WorkflowJobAction,
    jobId,
    runId,
    runAttempt,
    labels: labels as string[],
    repository: fullName as string,
    owner,
    repo,
    installationId,
    runnerName,
    conclusion,
    jobName,
    runAttemptDefaulted,
  };
}
