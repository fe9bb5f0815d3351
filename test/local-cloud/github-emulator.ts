// A GitHub / GHES REST emulator on 127.0.0.1 for tests that drive the real Octokit
// (`@octokit/rest` + `createAppAuth`) against it. It serves the routes this project uses (app JWT
// auth, installation tokens, JIT runner registration, runner listing and deletion, webhook
// deliveries), answers with GitHub's documented shapes, statuses and error bodies, and injects
// faults (5xx, secondary rate limits, latency) on request. This file is the test-facing API; the
// server and the route handlers live in ./github-emulator/.
import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { FaultPlan, type SecondaryRateLimitKind } from './github-emulator/faults';
import type { RouteName } from './github-emulator/routes';
import { ApiServer, type RecordedCall, type RedeliveryHandler } from './github-emulator/server';
import { EmulatorState, isoSeconds, scopeKey, type Permissions } from './github-emulator/state';

export type { RouteName } from './github-emulator/routes';
export type { SecondaryRateLimitKind } from './github-emulator/faults';
export type { RecordedCall, RedeliveryHandler } from './github-emulator/server';
export type { Permissions } from './github-emulator/state';
export { JIT_SECRET_MARKER } from './github-emulator/runner-handlers';

/** Options of {@link GitHubEmulator.start}. */
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
  /** `online` once {@link GitHubEmulator.setRunnerState} says so. */
  readonly status: 'online' | 'offline';
  /** Whether the runner is running a job. */
  readonly busy: boolean;
}

/** Options of {@link GitHubEmulator.addInstallation}. */
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
  /** @default { administration: 'write', organization_self_hosted_runners: 'write', metadata: 'read' } */
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

const DEFAULT_PERMISSIONS: Permissions = {
  administration: 'write',
  organization_self_hosted_runners: 'write',
  metadata: 'read',
};

/** An emulated GitHub (or GHES) REST API on 127.0.0.1. Start one with {@link GitHubEmulator.start}. */
export class GitHubEmulator {
  /**
   * Starts an emulator on an ephemeral loopback port.
   * @param options GHES mode and token lifetime.
   */
  static async start(options: GitHubEmulatorOptions = {}): Promise<GitHubEmulator> {
    const emulator = new GitHubEmulator(options);
    await emulator.server.listen();
    return emulator;
  }

  private readonly state = new EmulatorState();
  private readonly faults = new FaultPlan();
  private readonly server: ApiServer;

  private constructor(options: GitHubEmulatorOptions) {
    this.server = new ApiServer(this.state, this.faults, {
      ghes: options.ghes ?? false,
      ghesVersion: options.ghesVersion ?? '3.14.0',
      tokenTtlSeconds: options.tokenTtlSeconds ?? 3600,
    });
  }

  /** The Octokit `baseUrl`: `http://127.0.0.1:PORT`, plus `/api/v3` in GHES mode. */
  get apiUrl(): string {
    return this.server.apiUrl;
  }

  /** Origin of the emulated host, `http://127.0.0.1:PORT` (the `GitHubUrl` in JIT configs). */
  get webUrl(): string {
    return this.server.webUrl;
  }

  /** Stops the server once pending redeliveries are recorded. */
  stop(): Promise<void> {
    return this.server.close();
  }

  /**
   * Registers a GitHub App with a fresh RSA key pair; the emulator keeps the public key to verify
   * the app's JWTs (whose `iss` may be the app id or the client id, as GitHub accepts both). The
   * private key is PKCS#1 PEM, the format GitHub's app settings page downloads.
   */
  registerApp(
    appId: number | string,
    opts: { clientId?: string } = {},
  ): { privateKeyPem: string; clientId: string } {
    const id = String(appId);
    if (this.state.apps.has(id)) throw new Error(`GitHubEmulator: app ${id} is already registered`);
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const clientId = opts.clientId ?? `Iv23li${randomBytes(7).toString('hex')}`;
    this.state.apps.set(id, { id, clientId, publicKey });
    return { privateKeyPem: privateKey.export({ type: 'pkcs1', format: 'pem' }).toString(), clientId };
  }

  /** Installs a registered app on an organization or user account. */
  addInstallation(opts: InstallationOptions): void {
    const appId = String(opts.appId);
    if (!this.state.apps.has(appId))
      throw new Error(`GitHubEmulator: register app ${appId} before installing it`);
    if (this.state.installations.has(opts.id))
      throw new Error(`GitHubEmulator: installation ${opts.id} exists`);
    const repositories = opts.repositories?.map((full) => {
      const parts = full.split('/');
      if (parts.length !== 2 || scopeKey(parts[0]) !== scopeKey(opts.account)) {
        throw new Error(`GitHubEmulator: repository '${full}' is not 'owner/repo' under ${opts.account}`);
      }
      return scopeKey(full);
    });
    this.state.installations.set(opts.id, {
      id: opts.id,
      appId,
      account: opts.account,
      accountType: opts.accountType ?? 'Organization',
      repositories,
      permissions: opts.permissions ?? DEFAULT_PERMISSIONS,
    });
  }

  /** Adds an organization runner group so JIT calls naming it succeed (group 1 always exists). */
  addRunnerGroup(org: string, id: number): void {
    this.state.addRunnerGroup(org, id);
  }

  /** Queues `count` injected 5xx answers (GitHub's JSON error body) for the next requests to `route`. */
  failNext(route: RouteName, count: number, status: number): void {
    this.faults.failNext(route, count, status);
  }

  /** Fails a seeded-random `fraction` of requests to `route` (or all routes) with `status`. */
  setFailureRate(route: RouteName | 'all', fraction: number, status = 500, seed = 1): void {
    this.faults.setFailureRate(route, fraction, status, seed);
  }

  /**
   * Queues `count` secondary-rate-limit answers: 403 or 429, GitHub's message, primary budget left
   * (`x-ratelimit-remaining` > 0), and `retry-after` unless `retryAfterSeconds` is undefined
   * (GitHub documents the header as possibly absent).
   */
  rateLimitNext(
    route: RouteName,
    count: number,
    kind: SecondaryRateLimitKind,
    retryAfterSeconds: number | undefined,
  ): void {
    this.faults.rateLimitNext(route, count, kind, retryAfterSeconds);
  }

  /** Delays every request by `ms` before serving it. */
  setLatencyMs(ms: number): void {
    this.faults.latencyMs = ms;
  }

  /** Removes all queued faults, failure rates and latency. */
  clearFaults(): void {
    this.faults.clear();
  }

  /**
   * Moves the emulator's clock (token expiry, JWT checks, `Date` header) by `seconds`, leaving the
   * client's alone: forward to expire tokens, backward to emulate clock skew.
   */
  advanceClock(seconds: number): void {
    this.server.clockOffsetMs += seconds * 1000;
  }

  /** Every request served so far, oldest first. */
  get calls(): readonly RecordedCall[] {
    return this.server.calls;
  }

  /** Forgets the call log. */
  resetCalls(): void {
    this.server.calls.length = 0;
  }

  /** How many requests hit `route`, optionally only those answered with `status`. */
  callCount(route: RouteName | 'unknown', status?: number): number {
    return this.server.calls.filter((c) => c.route === route && (status === undefined || c.status === status))
      .length;
  }

  /** Current runner registrations. */
  runners(): RunnerView[] {
    return [...this.state.runners.values()].map((r) => ({ ...r, labels: [...r.labels] }));
  }

  /** Marks a runner online/offline or busy/idle, as if its agent connected or took a job. */
  setRunnerState(id: number, patch: { status?: 'online' | 'offline'; busy?: boolean }): void {
    const runner = this.state.runners.get(id);
    if (!runner) throw new Error(`GitHubEmulator: no runner ${id}`);
    Object.assign(runner, patch);
  }

  /** Removes a runner, as GitHub does once a JIT runner finishes its job (or never connects for a day). */
  removeRunner(id: number): void {
    this.state.runners.delete(id);
  }

  /** Every installation token and every `encoded_jit_config` handed out, to scan logs for leaks. */
  get issuedTokens(): readonly string[] {
    return this.state.issuedSecrets;
  }

  /** Accepted app JWTs without a `jti` claim (two such JWTs minted in one second are identical). */
  get jwtsWithoutJti(): number {
    return this.server.jwtCounts.withoutJti;
  }

  /** Accepted app JWTs byte-identical to one presented earlier. */
  get duplicateJwts(): number {
    return this.server.jwtCounts.duplicates;
  }

  /** Adds a delivery to an app's webhook delivery log; returns its id. */
  addDelivery(input: DeliveryInput): number {
    const apps = [...this.state.apps.keys()];
    const appId = input.appId !== undefined ? String(input.appId) : apps.length === 1 ? apps[0] : undefined;
    if (appId === undefined || !this.state.apps.has(appId)) {
      throw new Error('GitHubEmulator: addDelivery needs the appId of a registered app');
    }
    return this.state.addDelivery({
      appId,
      guid: input.guid ?? randomUUID(),
      event: input.event,
      action: input.action ?? null,
      statusCode: input.status_code,
      deliveredAt: input.delivered_at ?? isoSeconds(this.server.nowMs()),
      redelivery: input.redelivery ?? false,
      installationId: input.installation_id ?? null,
      repositoryId: input.repository_id ?? null,
      duration: 0.05,
    }).id;
  }

  /** Sets the status a redelivery attempt gets (default: the receiver answers 200; a throw counts as 0). */
  setRedeliveryHandler(handler: RedeliveryHandler): void {
    this.server.redeliveryHandler = handler;
  }

  /** Resolves once every redelivery attempt started so far has been recorded. */
  whenIdle(): Promise<void> {
    return this.server.whenIdle();
  }
}
