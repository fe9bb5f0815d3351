// The types of the GitHub emulator's test-facing API (../github-emulator.ts): its options, the
// inputs tests give it, and the snapshots it hands back.
import type { JobConclusion, JobStatus } from './jobs';
import type { Permissions } from './state';

/** Options of `GitHubEmulator.start`. */
export interface GitHubEmulatorOptions {
  /** Serve GHES-style under `/api/v3` instead of github.com-style at `/`. @default false */
  readonly ghes?: boolean;
  /** GHES version reported in `x-github-enterprise-version` and docs links. @default '3.14.0' */
  readonly ghesVersion?: string;
  /** Lifetime of installation tokens. @default 3600 (GitHub's one hour) */
  readonly tokenTtlSeconds?: number;
}

/** A runner registration, as tests inspect it. */
export interface RunnerView {
  /** Runner id. */
  readonly id: number;
  /** Runner name. */
  readonly name: string;
  /** Labels sent at registration. */
  readonly labels: string[];
  /** `owner/repo` or `org`, as the registering call spelled it. */
  readonly scope: string;
  /** Whether `scope` is a repository or an organization. */
  readonly scopeKind: 'repo' | 'org';
  /** Runner group id. */
  readonly runnerGroupId: number;
  /** Work folder. */
  readonly workFolder: string;
  /** The `encoded_jit_config` handed out. */
  readonly jitConfig: string;
  /** `online` once the runner connects (`GitHubEmulator.connectRunner` or `setRunnerState`). */
  readonly status: 'online' | 'offline';
  /** Whether the runner is running a job. */
  readonly busy: boolean;
}

/** Options of `GitHubEmulator.addInstallation`. */
export interface InstallationOptions {
  /** Installation id. */
  readonly id: number;
  /** Id of a registered app. */
  readonly appId: number | string;
  /** Login of the organization or user the app is installed on. */
  readonly account: string;
  /** @default 'Organization' */
  readonly accountType?: 'Organization' | 'User';
  /** `owner/repo` names when only selected repositories are covered. @default all repositories */
  readonly repositories?: string[];
  /**
   * What the App's installation was granted. Re-runs need `actions: 'write'`; give `actions: 'read'`
   * to see GitHub refuse them.
   * @default { administration: 'write', organization_self_hosted_runners: 'write', actions: 'write',
   *   metadata: 'read' }
   */
  readonly permissions?: Permissions;
}

/** A delivery a test adds to an app's webhook delivery log (field names as the API lists them). */
export interface DeliveryInput {
  /** App the delivery belongs to. @default the only registered app */
  readonly appId?: number | string;
  /** `X-GitHub-Delivery`. @default a random UUID */
  readonly guid?: string;
  /** Event name, e.g. `workflow_job`. */
  readonly event: string;
  /** Event action. @default null */
  readonly action?: string | null;
  /** Status the receiver answered (0 = could not connect). */
  readonly status_code: number;
  /** ISO 8601 delivery time. @default now (server clock) */
  readonly delivered_at?: string;
  /** @default false */
  readonly redelivery?: boolean;
  /** @default null */
  readonly installation_id?: number | null;
  /** @default null */
  readonly repository_id?: number | null;
}

/** A workflow job, as tests inspect it (a snapshot: later transitions do not change it). */
export interface JobView {
  /** Job id. */
  readonly id: number;
  /** Workflow run id. */
  readonly runId: number;
  /** Attempt of the run. */
  readonly runAttempt: number;
  /** `owner/repo`. */
  readonly repository: string;
  /** Installation whose app receives the job's events. */
  readonly installationId: number;
  /** `runs-on` labels. */
  readonly labels: string[];
  /** Lifecycle phase. */
  readonly status: JobStatus;
  /** Outcome once completed. */
  readonly conclusion: JobConclusion | null;
  /** Runner that took the job; null while queued. */
  readonly runnerId: number | null;
  /** Name of that runner. */
  readonly runnerName: string | null;
  /** That runner's group id. */
  readonly runnerGroupId: number | null;
  /** That runner's group name. */
  readonly runnerGroupName: string | null;
  /** Queue time, ISO 8601 (whole seconds, server clock). */
  readonly createdAt: string;
  /** Start time; the queue time while queued, as GitHub reports it. */
  readonly startedAt: string;
  /** Completion time, or null. */
  readonly completedAt: string | null;
  /** Job name. */
  readonly name: string;
  /** Workflow name. */
  readonly workflowName: string;
  /** Branch. */
  readonly headBranch: string;
  /** Commit. */
  readonly headSha: string;
  /** The job this one re-runs (its previous execution), or null in the run's first execution. */
  readonly rerunOf: number | null;
}

/** A workflow run, derived from its jobs, as tests inspect it. */
export interface RunView {
  /** Workflow run id. */
  readonly id: number;
  /** `owner/repo`. */
  readonly repository: string;
  /** The latest attempt. */
  readonly runAttempt: number;
  /** The latest attempt's status: `queued`, `in_progress` or `completed` (or `waiting`). */
  readonly status: JobStatus;
  /** Once completed, over the latest execution of every job; else null. */
  readonly conclusion: 'success' | 'failure' | 'cancelled' | null;
  /** Ids of every job of every attempt, oldest first. */
  readonly jobIds: number[];
}

/** A webhook delivery waiting in the outbox: what GitHub would POST to the app's webhook URL. */
export interface OutboxDelivery {
  /** `X-GitHub-Delivery`: a fresh UUID per event. */
  readonly guid: string;
  /** `X-GitHub-Event`. */
  readonly event: 'workflow_job';
  /** The payload's `action`. */
  readonly action: string;
  /** The payload, parsed (a copy: changing it changes nothing). */
  readonly payload: Record<string, unknown>;
  /** The payload as JSON text: the exact request body, and what `X-Hub-Signature-256` signs. */
  readonly body: string;
}
