// The emulated GitHub's data: apps, installations, installation tokens, runners, runner groups,
// workflow jobs, webhook events and their deliveries, with the lookups the route handlers need.
// No HTTP here.
import { createHash, randomBytes, randomInt, type KeyObject } from 'node:crypto';
import type { EmulatedJob } from './jobs';

/** Installation permissions, as GitHub spells them (`administration: 'write'`, ...). */
export type Permissions = Readonly<Record<string, 'read' | 'write'>>;

/** A registered GitHub App. */
export interface EmulatedApp {
  /** The app id, as a string so numeric and string ids compare equal. */
  readonly id: string;
  /** The app's client id, also accepted as JWT `iss`. */
  readonly clientId: string;
  /** Public halves of the app's keys (GitHub lets an app have several, for rotation), to verify its JWTs. */
  readonly publicKeys: KeyObject[];
}

/** An installation of an app on an organization or user account. */
export interface EmulatedInstallation {
  /** Installation id. */
  readonly id: number;
  /** Id of the app installed. */
  readonly appId: string;
  /** Login of the account (organization or user) the app is installed on. */
  readonly account: string;
  /** `Organization` or `User`. */
  readonly accountType: 'Organization' | 'User';
  /** Lower-cased `owner/repo` names when the installation covers selected repositories only. */
  readonly repositories?: readonly string[];
  /** Permissions granted to the installation. */
  readonly permissions: Permissions;
}

/** An installation access token the emulator issued. */
export interface IssuedToken {
  /** The token string. */
  readonly token: string;
  /** Installation the token acts for. */
  readonly installationId: number;
  /** Server-clock expiry, epoch ms. */
  readonly expiresAtMs: number;
  /** Lower-cased `owner/repo` names the token is narrowed to, if narrowed. */
  readonly repositories?: readonly string[];
  /** Permissions of the token (the installation's, or a requested subset). */
  readonly permissions: Permissions;
  /** Set by `DELETE /installation/token`. */
  revoked: boolean;
}

/** Where a runner is registered: a repository (`owner/repo`) or an organization. */
export type RunnerScopeKind = 'repo' | 'org';

/** A self-hosted runner registration created by a JIT config call. */
export interface EmulatedRunner {
  /** Runner id. */
  readonly id: number;
  /** Runner name, unique (case-insensitively) within its scope. */
  readonly name: string;
  /** The labels sent at registration, in order. */
  readonly labels: readonly string[];
  /** `owner/repo` or `org`, as the caller spelled it. */
  readonly scope: string;
  /** Whether `scope` is a repository or an organization. */
  readonly scopeKind: RunnerScopeKind;
  /** Runner group the runner was registered to. */
  readonly runnerGroupId: number;
  /** Work folder from the request (`_work` by default). */
  readonly workFolder: string;
  /** The `encoded_jit_config` handed out: a secret. */
  readonly jitConfig: string;
  /** `offline` until a test says the runner connected. */
  status: 'online' | 'offline';
  /** Whether the runner is running a job. */
  busy: boolean;
}

/** A webhook delivery of an app, as `GET /app/hook/deliveries` lists it. */
export interface EmulatedDelivery {
  /** Delivery id. */
  readonly id: number;
  /** App the delivery belongs to. */
  readonly appId: string;
  /** `X-GitHub-Delivery`, shared by a delivery and its redeliveries. */
  readonly guid: string;
  /** Event name, e.g. `workflow_job`. */
  readonly event: string;
  /** Event action, e.g. `queued`. */
  readonly action: string | null;
  /** HTTP status the receiver answered with (0 or 5xx for failures). */
  readonly statusCode: number;
  /** When it was delivered, ISO 8601 without milliseconds. */
  readonly deliveredAt: string;
  /** Whether this is a redelivery. */
  readonly redelivery: boolean;
  /** Installation the event belongs to. */
  readonly installationId: number | null;
  /** Repository the event belongs to. */
  readonly repositoryId: number | null;
  /** Seconds the delivery took. */
  readonly duration: number;
}

/**
 * A webhook event the emulator emitted: what a delivery (and every redelivery) of it sends. Kept by
 * guid so a delivery attempt can be recorded, and a failed one redelivered, after it left the outbox.
 */
export interface EmulatedWebhookEvent {
  /** `X-GitHub-Delivery`: a fresh UUID per event, stable across redeliveries. */
  readonly guid: string;
  /** App whose webhook receives the event. */
  readonly appId: string;
  /** `X-GitHub-Event`, e.g. `workflow_job`. */
  readonly event: 'workflow_job';
  /** The payload's `action`. */
  readonly action: string;
  /** Installation the event belongs to. */
  readonly installationId: number;
  /** Repository the event belongs to. */
  readonly repositoryId: number;
  /** The JSON text of the payload, byte for byte what a delivery sends (and what is signed). */
  readonly body: string;
}

/** A re-run GitHub accepted: what was asked, by whom, and the jobs of the new attempt. */
export interface RerunRequest {
  /** `app`: the API (`POST .../rerun-failed-jobs` or `.../jobs/{job_id}/rerun`); `person`: the web UI. */
  readonly by: 'app' | 'person';
  /** Which re-run: the run's failed jobs, or one job. */
  readonly kind: 'failed-jobs' | 'job';
  /** `owner/repo` of the run. */
  readonly repository: string;
  /** The workflow run. */
  readonly runId: number;
  /** The job named by a per-job re-run; null for `failed-jobs`. */
  readonly jobId: number | null;
  /** The attempt the re-run created. */
  readonly runAttempt: number;
  /** Ids of the new attempt's jobs. */
  readonly newJobIds: readonly number[];
  /** Server clock, epoch ms. */
  readonly atMs: number;
}

/** The name GitHub shows for a runner group: group 1 is `Default`; others are named here by id. */
export const runnerGroupName = (groupId: number): string => (groupId === 1 ? 'Default' : `group-${groupId}`);

/** Lower-cases a scope for comparison: GitHub logins and repository names are case-insensitive. */
export const scopeKey = (scope: string): string => scope.toLowerCase();

/** A stable numeric id for a repository name, so tokens can list `repositories` with ids. */
export function repositoryId(fullName: string): number {
  return parseInt(createHash('sha256').update(scopeKey(fullName)).digest('hex').slice(0, 8), 16);
}

/** ISO 8601 with whole seconds, the way GitHub writes timestamps. */
export const isoSeconds = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const base62 = (length: number): string => Array.from(randomBytes(length), (b) => BASE62[b % 62]).join('');

/** The emulated GitHub's data. */
export class EmulatorState {
  /** Registered apps by id. */
  readonly apps = new Map<string, EmulatedApp>();
  /** Installations by id. */
  readonly installations = new Map<number, EmulatedInstallation>();
  /** Issued installation tokens by token string. */
  readonly tokens = new Map<string, IssuedToken>();
  /** Runners by id. */
  readonly runners = new Map<number, EmulatedRunner>();
  /** Deliveries, in creation order. */
  readonly deliveries: EmulatedDelivery[] = [];
  /** Workflow jobs by id, in the order they were queued (the scheduler's "oldest first"). */
  readonly jobs = new Map<number, EmulatedJob>();
  /** Every webhook event emitted, by guid. */
  readonly webhookEvents = new Map<string, EmulatedWebhookEvent>();
  /** Events emitted and not yet taken by the test, oldest first. */
  readonly outbox: EmulatedWebhookEvent[] = [];
  /** Every secret handed out (installation tokens and JIT configs), in order. */
  readonly issuedSecrets: string[] = [];
  /** Re-runs accepted, oldest first. */
  readonly rerunRequests: RerunRequest[] = [];
  private readonly runnerGroups = new Map<string, Set<number>>();
  private readonly labelIds = new Map<string, number>();
  private nextRunnerId = 1;
  private nextDeliveryId = 1;
  private tokensMinted = 0;

  /** Resolves a JWT `iss` (app id or client id) to an app. */
  findAppByIssuer(iss: string): EmulatedApp | undefined {
    return this.apps.get(iss) ?? [...this.apps.values()].find((a) => a.clientId === iss);
  }

  /** The installation of `appId` on `account` that covers `repo` (when given), if any. */
  findInstallation(appId: string, account: string, repo?: string): EmulatedInstallation | undefined {
    return [...this.installations.values()].find(
      (i) =>
        i.appId === appId &&
        scopeKey(i.account) === scopeKey(account) &&
        (repo === undefined || this.installationCoversRepo(i, `${account}/${repo}`)),
    );
  }

  /** Whether an installation can reach `owner/repo`: same account, and selected if it selects. */
  installationCoversRepo(installation: EmulatedInstallation, fullName: string): boolean {
    const [owner] = fullName.split('/');
    if (scopeKey(owner) !== scopeKey(installation.account)) return false;
    return installation.repositories === undefined || installation.repositories.includes(scopeKey(fullName));
  }

  /**
   * Mints a token. Lengths vary on purpose: even tokens have the classic 40-character `ghs_` shape,
   * odd ones a long dotted shape like the stateless `ghs_APPID_JWT` format GitHub began rolling
   * out in 2026, so code that assumes a fixed length breaks here rather than in production.
   */
  issueToken(
    installation: EmulatedInstallation,
    expiresAtMs: number,
    narrowing: { repositories?: readonly string[]; permissions?: Permissions },
  ): IssuedToken {
    const segment = () => randomBytes(24 + randomInt(160)).toString('base64url');
    const token =
      this.tokensMinted++ % 2 === 0
        ? `ghs_${base62(36)}`
        : `ghs_${installation.appId}_${segment()}.${segment()}.${segment()}`;
    const issued: IssuedToken = {
      token,
      installationId: installation.id,
      expiresAtMs,
      repositories: narrowing.repositories ?? installation.repositories,
      permissions: narrowing.permissions ?? installation.permissions,
      revoked: false,
    };
    this.tokens.set(token, issued);
    this.issuedSecrets.push(token);
    return issued;
  }

  /** Adds a runner group to an organization (group 1, `Default`, always exists). */
  addRunnerGroup(org: string, id: number): void {
    const groups = this.runnerGroups.get(scopeKey(org)) ?? new Set<number>();
    groups.add(id);
    this.runnerGroups.set(scopeKey(org), groups);
  }

  /** Whether `groupId` exists for a scope; repositories only have the default group. */
  hasRunnerGroup(scopeKind: RunnerScopeKind, scope: string, groupId: number): boolean {
    if (groupId === 1) return true;
    return scopeKind === 'org' && (this.runnerGroups.get(scopeKey(scope))?.has(groupId) ?? false);
  }

  /** Runners registered in a scope, by id. */
  runnersIn(scopeKind: RunnerScopeKind, scope: string): EmulatedRunner[] {
    return [...this.runners.values()].filter(
      (r) => r.scopeKind === scopeKind && scopeKey(r.scope) === scopeKey(scope),
    );
  }

  /** Registers a runner and records its JIT config as a secret. */
  addRunner(fields: Omit<EmulatedRunner, 'id' | 'status' | 'busy'>): EmulatedRunner {
    const runner: EmulatedRunner = { ...fields, id: this.nextRunnerId++, status: 'offline', busy: false };
    this.runners.set(runner.id, runner);
    this.issuedSecrets.push(runner.jitConfig);
    return runner;
  }

  /** The next runner id, needed inside the JIT config before the runner is stored. */
  peekRunnerId(): number {
    return this.nextRunnerId;
  }

  /** A label's id, stable per name like GitHub's. */
  labelId(name: string): number {
    const key = name.toLowerCase();
    if (!this.labelIds.has(key)) this.labelIds.set(key, this.labelIds.size + 1);
    return this.labelIds.get(key) as number;
  }

  /**
   * Logs a delivery attempt of an emitted webhook event; attempts after the first of a guid are
   * redeliveries. `statusCode` 0 means the receiver could not be reached.
   */
  recordAttempt(guid: string, statusCode: number, deliveredAt: string, duration: number): EmulatedDelivery {
    const event = this.webhookEvents.get(guid);
    if (!event) throw new Error(`GitHubEmulator: no webhook event with guid ${guid}`);
    if (!Number.isInteger(statusCode) || statusCode < 0 || statusCode > 599) {
      throw new Error(`GitHubEmulator: statusCode must be 0 or an HTTP status, got ${statusCode}`);
    }
    return this.addDelivery({
      appId: event.appId,
      guid,
      event: event.event,
      action: event.action,
      statusCode,
      deliveredAt,
      redelivery: this.deliveries.some((d) => d.guid === guid),
      installationId: event.installationId,
      repositoryId: event.repositoryId,
      duration,
    });
  }

  /** Stores a delivery, assigning its id. */
  addDelivery(fields: Omit<EmulatedDelivery, 'id'>): EmulatedDelivery {
    const delivery: EmulatedDelivery = { ...fields, id: this.nextDeliveryId++ };
    this.deliveries.push(delivery);
    return delivery;
  }
}
