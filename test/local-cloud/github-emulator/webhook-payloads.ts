// GitHub-shaped JSON for workflow jobs: the REST `job` object of "Get a job for a workflow run",
// and the `workflow_job` webhook payload that wraps the same object with repository, organization,
// sender and installation (as GitHub's webhook schema and the octokit/webhooks examples show).
// Emitted events wait in the state's outbox until a test takes them: the emulator never sends.
import { randomUUID } from 'node:crypto';
import type { EmulatedJob } from './jobs';
import {
  repositoryId,
  type EmulatedInstallation,
  type EmulatedWebhookEvent,
  type EmulatorState,
} from './state';

/** The roots the emulator is served at, for `url` and `html_url` fields. */
export interface PayloadUrls {
  /** API root, e.g. `http://127.0.0.1:1234` or `.../api/v3` on GHES. */
  readonly apiUrl: string;
  /** Web root, e.g. `http://127.0.0.1:1234`. */
  readonly webUrl: string;
}

// GitHub's legacy node ids: base64 of "0<length of type>:<type><id>", e.g. "010:Repository123".
const legacyNodeId = (type: string, id: number): string =>
  Buffer.from(`0${type.length}:${type}${id}`).toString('base64');

// Newer node ids (check runs are `CR_kwDO...`) are opaque; any base64url tail will do.
const checkRunNodeId = (id: number): string => `CR_kwDO${Buffer.from(`${id}`).toString('base64url')}`;

/** The user every emulated run is triggered by (the payload's `sender`). */
export const EMULATED_SENDER = { login: 'emulated-user', id: 10_000_001 } as const;

/** A user or organization account as GitHub's `simple-user` shape (`owner`, `sender`, `actor`). */
export function accountJson(
  login: string,
  id: number,
  type: 'Organization' | 'User',
  urls: PayloadUrls,
): Record<string, unknown> {
  const api = `${urls.apiUrl}/users/${login}`;
  return {
    login,
    id,
    node_id: legacyNodeId(type, id),
    avatar_url: `${urls.webUrl}/avatars/u/${id}?v=4`,
    gravatar_id: '',
    url: api,
    html_url: `${urls.webUrl}/${login}`,
    followers_url: `${api}/followers`,
    following_url: `${api}/following{/other_user}`,
    gists_url: `${api}/gists{/gist_id}`,
    starred_url: `${api}/starred{/owner}{/repo}`,
    subscriptions_url: `${api}/subscriptions`,
    organizations_url: `${api}/orgs`,
    repos_url: `${api}/repos`,
    events_url: `${api}/events{/privacy}`,
    received_events_url: `${api}/received_events`,
    type,
    site_admin: false,
  };
}

function organizationJson(login: string, urls: PayloadUrls): Record<string, unknown> {
  const id = repositoryId(login);
  const api = `${urls.apiUrl}/orgs/${login}`;
  return {
    login,
    id,
    node_id: legacyNodeId('Organization', id),
    url: api,
    repos_url: `${api}/repos`,
    events_url: `${api}/events`,
    hooks_url: `${api}/hooks`,
    issues_url: `${api}/issues`,
    members_url: `${api}/members{/member}`,
    public_members_url: `${api}/public_members{/member}`,
    avatar_url: `${urls.webUrl}/avatars/u/${id}?v=4`,
    description: null,
  };
}

/** A repository as the payloads and the REST API embed it (the fields the emulator knows). */
export function repositoryJson(
  fullName: string,
  ownerType: 'Organization' | 'User',
  urls: PayloadUrls,
): Record<string, unknown> {
  const [owner, name] = fullName.split('/');
  const id = repositoryId(fullName);
  const api = `${urls.apiUrl}/repos/${fullName}`;
  return {
    id,
    node_id: legacyNodeId('Repository', id),
    name,
    full_name: fullName,
    // Installations reach repositories the public cannot see: the emulator's are all private.
    private: true,
    owner: accountJson(owner, repositoryId(owner), ownerType, urls),
    html_url: `${urls.webUrl}/${fullName}`,
    description: null,
    fork: false,
    url: api,
    hooks_url: `${api}/hooks`,
    created_at: '2026-01-01T00:00:00Z',
    updated_at: '2026-01-01T00:00:00Z',
    pushed_at: '2026-01-01T00:00:00Z',
    default_branch: 'main',
    archived: false,
    disabled: false,
    visibility: 'private',
  };
}

/**
 * A job as GitHub's REST API returns it, which is also the `workflow_job` object of the webhook
 * payload. `runner_*` are null until a runner takes the job; `steps` are not emulated (empty).
 */
export function workflowJobJson(job: EmulatedJob, urls: PayloadUrls): Record<string, unknown> {
  const repo = `${urls.apiUrl}/repos/${job.repository}`;
  return {
    id: job.id,
    run_id: job.runId,
    workflow_name: job.workflowName,
    head_branch: job.headBranch,
    run_url: `${repo}/actions/runs/${job.runId}`,
    run_attempt: job.runAttempt,
    node_id: checkRunNodeId(job.id),
    head_sha: job.headSha,
    url: `${repo}/actions/jobs/${job.id}`,
    html_url: `${urls.webUrl}/${job.repository}/actions/runs/${job.runId}/job/${job.id}`,
    status: job.status,
    conclusion: job.conclusion,
    created_at: job.createdAt,
    started_at: job.startedAt,
    completed_at: job.completedAt,
    name: job.name,
    steps: [],
    // A job is a check run with the same id.
    check_run_url: `${repo}/check-runs/${job.id}`,
    labels: [...job.labels],
    runner_id: job.runnerId,
    runner_name: job.runnerName,
    runner_group_id: job.runnerGroupId,
    runner_group_name: job.runnerGroupName,
  };
}

/**
 * A `workflow_job` webhook payload. `organization` is present only for an organization's
 * repository, as on GitHub; `installation` because the receiver is a GitHub App.
 */
export function workflowJobPayload(
  action: string,
  job: EmulatedJob,
  installation: EmulatedInstallation,
  urls: PayloadUrls,
): Record<string, unknown> {
  const [owner] = job.repository.split('/');
  return {
    action,
    workflow_job: workflowJobJson(job, urls),
    repository: repositoryJson(job.repository, installation.accountType, urls),
    ...(installation.accountType === 'Organization' ? { organization: organizationJson(owner, urls) } : {}),
    sender: accountJson(EMULATED_SENDER.login, EMULATED_SENDER.id, 'User', urls),
    installation: {
      id: installation.id,
      node_id: legacyNodeId('IntegrationInstallation', installation.id),
    },
  };
}

/**
 * Builds the `workflow_job` event of a transition, as it stands now, and puts it in the outbox
 * under a fresh delivery guid.
 */
export function emitWorkflowJobEvent(
  state: EmulatorState,
  action: 'queued' | 'in_progress' | 'completed' | 'waiting',
  job: EmulatedJob,
  urls: PayloadUrls,
): EmulatedWebhookEvent {
  const installation = state.installations.get(job.installationId);
  if (!installation) throw new Error(`GitHubEmulator: installation ${job.installationId} is gone`);
  const event: EmulatedWebhookEvent = {
    guid: randomUUID(),
    appId: installation.appId,
    event: 'workflow_job',
    action,
    installationId: installation.id,
    repositoryId: repositoryId(job.repository),
    body: JSON.stringify(workflowJobPayload(action, job, installation, urls)),
  };
  state.webhookEvents.set(event.guid, event);
  state.outbox.push(event);
  return event;
}
