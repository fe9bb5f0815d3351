// A GitHub / GHES REST emulator on 127.0.0.1 for tests that drive the real Octokit
// (`@octokit/rest` + `createAppAuth`) against it. It serves the routes this project uses (app JWT
// auth, installation tokens, JIT runner registration, runner listing and deletion, workflow jobs,
// webhook deliveries), answers with GitHub's documented shapes, statuses and error bodies, and
// injects faults (5xx, secondary rate limits, latency, hung requests) on request. Jobs are handed to
// runners by a scheduler that behaves as GitHub's does, and their `workflow_job` events wait in an
// outbox for the test to deliver. This file is the test-facing API; the server, the scheduler and
// the route handlers live in ./github-emulator/.
import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import type {
  DeliveryInput,
  GitHubEmulatorOptions,
  InstallationOptions,
  JobView,
  OutboxDelivery,
  RunnerView,
  RunView,
} from './github-emulator/api-types';
import { FaultPlan, type SecondaryRateLimitKind } from './github-emulator/faults';
import {
  JobScheduler,
  type EmulatedJob,
  type JobConclusion,
  type QueueJobInput,
} from './github-emulator/jobs';
import type { RouteName } from './github-emulator/routes';
import { applyRerun } from './github-emulator/run-handlers';
import { decideRerunFailedJobs, deriveRun, jobsOfRun } from './github-emulator/runs';
import { ApiServer, type RecordedCall, type RedeliveryHandler } from './github-emulator/server';
import {
  EmulatorState,
  isoSeconds,
  scopeKey,
  type EmulatedRunner,
  type Permissions,
  type RerunRequest,
} from './github-emulator/state';
import { emitWorkflowJobEvent } from './github-emulator/webhook-payloads';

export type {
  DeliveryInput,
  GitHubEmulatorOptions,
  InstallationOptions,
  JobView,
  OutboxDelivery,
  RunnerView,
  RunView,
} from './github-emulator/api-types';
export type { RouteName } from './github-emulator/routes';
export type { SecondaryRateLimitKind } from './github-emulator/faults';
export type { JobConclusion, JobStatus, QueueJobInput } from './github-emulator/jobs';
export type { RecordedCall, RedeliveryHandler } from './github-emulator/server';
export type { Permissions, RerunRequest } from './github-emulator/state';
export { JIT_SECRET_MARKER } from './github-emulator/runner-handlers';

const DEFAULT_PERMISSIONS: Permissions = {
  administration: 'write',
  organization_self_hosted_runners: 'write',
  // Re-running interrupted jobs needs Actions: write; tests of the refusal grant `read` themselves.
  actions: 'write',
  metadata: 'read',
};

const runnerView = (r: EmulatedRunner): RunnerView => ({ ...r, labels: [...r.labels] });
const jobView = (j: EmulatedJob): JobView => ({ ...j, labels: [...j.labels] });

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
  private readonly scheduler = new JobScheduler(
    this.state,
    () => this.server.nowMs(),
    (action, job) => emitWorkflowJobEvent(this.state, action, job, this.server),
  );

  private constructor(options: GitHubEmulatorOptions) {
    this.server = new ApiServer(
      this.state,
      this.faults,
      {
        ghes: options.ghes ?? false,
        ghesVersion: options.ghesVersion ?? '3.14.0',
        tokenTtlSeconds: options.tokenTtlSeconds ?? 3600,
      },
      this.scheduler,
    );
  }

  /** The Octokit `baseUrl`: `http://127.0.0.1:PORT`, plus `/api/v3` in GHES mode. */
  get apiUrl(): string {
    return this.server.apiUrl;
  }

  /** Origin of the emulated host, `http://127.0.0.1:PORT` (the `GitHubUrl` in JIT configs). */
  get webUrl(): string {
    return this.server.webUrl;
  }

  /** Stops the server once pending redeliveries are recorded; hung requests are cut off. */
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
    this.state.apps.set(id, { id, clientId, publicKeys: [publicKey] });
    return { privateKeyPem: privateKey.export({ type: 'pkcs1', format: 'pem' }).toString(), clientId };
  }

  /**
   * Generates another private key for an app, as "Generate a private key" in its settings does; the
   * old keys stay valid until {@link revokeAppKeys}. Returns the new key's PEM.
   */
  addAppKey(appId: number | string): string {
    const app = this.state.apps.get(String(appId));
    if (!app) throw new Error(`GitHubEmulator: no app ${appId}`);
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    app.publicKeys.push(publicKey);
    return privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
  }

  /** Deletes every key of an app but the newest: JWTs signed with the old ones are refused (401). */
  revokeAppKeys(appId: number | string): void {
    const app = this.state.apps.get(String(appId));
    if (!app) throw new Error(`GitHubEmulator: no app ${appId}`);
    app.publicKeys.splice(0, app.publicKeys.length - 1);
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

  /**
   * Leaves the next `count` requests to `route` unanswered: each is received (logged with status 0,
   * `injected`) and held open until the client aborts or the emulator stops.
   */
  hangNext(route: RouteName, count: number): void {
    this.faults.hangNext(route, count);
  }

  /** Leaves a seeded-random `fraction` of requests to `route` (or all routes) unanswered. */
  setHangRate(route: RouteName | 'all', fraction: number, seed = 1): void {
    this.faults.setHangRate(route, fraction, seed);
  }

  /** Requests held unanswered right now (a client's abort releases its request). */
  get hungRequests(): number {
    return this.server.hungRequests;
  }

  /** Delays every request by `ms` before serving it. */
  setLatencyMs(ms: number): void {
    this.faults.latencyMs = ms;
  }

  /** Removes all queued faults, failure and hang rates, and latency (held requests stay held). */
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
    return [...this.state.runners.values()].map(runnerView);
  }

  /**
   * Marks a runner online/offline or busy/idle by hand, then schedules (an online idle runner can
   * take a queued job). Prefer {@link GitHubEmulator.connectRunner},
   * {@link GitHubEmulator.finishJob} and {@link GitHubEmulator.runnerLost}.
   */
  setRunnerState(id: number, patch: { status?: 'online' | 'offline'; busy?: boolean }): void {
    const runner = this.state.runners.get(id);
    if (!runner) throw new Error(`GitHubEmulator: no runner ${id}`);
    Object.assign(runner, patch);
    this.scheduler.schedule();
  }

  /**
   * Removes a runner, as GitHub does once a JIT runner finishes its job (or never connects for a
   * day). A job it was running fails, as when a busy runner is force-removed.
   */
  removeRunner(id: number): void {
    this.scheduler.failJobOf(id);
    this.state.runners.delete(id);
    this.scheduler.schedule();
  }

  /**
   * What a runner process does at start with its `encoded_jit_config`: its registration goes
   * online and idle, and the scheduler may hand it a queued job at once (the view shows it busy).
   * Returns undefined when the registration no longer exists: the runner cannot connect.
   */
  connectRunner(encodedJitConfig: string): RunnerView | undefined {
    const runner = [...this.state.runners.values()].find((r) => r.jitConfig === encodedJitConfig);
    return runner && this.connect(runner);
  }

  /** {@link GitHubEmulator.connectRunner} by runner id. */
  connectRunnerById(id: number): RunnerView | undefined {
    const runner = this.state.runners.get(id);
    return runner && this.connect(runner);
  }

  /**
   * The machine of a runner died: a job it was running completes with `failure` (a `completed`
   * event), and the registration stays, offline, as GitHub keeps it.
   */
  runnerLost(runnerId: number): void {
    this.scheduler.runnerLost(runnerId);
  }

  /**
   * Queues a workflow job (a `queued` event) and schedules it: an online, idle runner whose labels
   * include all the job's labels (case-insensitively) and whose scope reaches the repository (its
   * owner's org, or the repository itself) takes it (an `in_progress` event). Returns the job id.
   */
  queueJob(input: QueueJobInput): number {
    return this.scheduler.queue(input).id;
  }

  /**
   * Cancels a queued or running job (a `completed` event, conclusion `cancelled`); a running job's
   * ephemeral runner deregisters. Returns false, emitting nothing, if the job already completed.
   */
  cancelJob(jobId: number): boolean {
    return this.scheduler.cancel(jobId);
  }

  /** Completes a running job (a `completed` event); its ephemeral runner deregisters. */
  finishJob(jobId: number, conclusion: JobConclusion = 'success'): void {
    this.scheduler.finish(jobId, conclusion);
  }

  /** A snapshot of a job, or undefined. */
  job(jobId: number): JobView | undefined {
    const job = this.state.jobs.get(jobId);
    return job && jobView(job);
  }

  /** Snapshots of every job, oldest first. */
  jobs(): JobView[] {
    return [...this.state.jobs.values()].map(jobView);
  }

  /** A workflow run as its jobs make it (latest attempt, status, conclusion), or undefined. */
  run(runId: number): RunView | undefined {
    const run = deriveRun(jobsOfRun(this.state.jobs.values(), runId));
    return (
      run && {
        id: run.id,
        repository: run.repository,
        runAttempt: run.runAttempt,
        status: run.status,
        conclusion: run.conclusion,
        jobIds: run.jobs.map((j) => j.id),
      }
    );
  }

  /**
   * What a person clicking "Re-run failed jobs" does: the run's failed and cancelled jobs get a new
   * attempt, queued (with their events) and scheduled, under GitHub's rules. Throws GitHub's
   * message while the run is not completed, or when nothing failed. Returns the new job ids.
   */
  rerunByPerson(runId: number): number[] {
    const run = deriveRun(jobsOfRun(this.state.jobs.values(), runId));
    if (!run) throw new Error(`GitHubEmulator: no workflow run ${runId}`);
    const decision = decideRerunFailedJobs(run);
    if (!decision.ok) throw new Error(`GitHubEmulator: run ${runId}: ${decision.message}`);
    const request = { by: 'person', kind: 'failed-jobs', jobId: null, atMs: this.server.nowMs() } as const;
    return [...applyRerun(this.state, this.scheduler, request, decision.jobs).newJobIds];
  }

  /** Re-runs GitHub accepted, from the API (`by: 'app'`) or a person, oldest first. */
  get rerunRequests(): readonly RerunRequest[] {
    return this.state.rerunRequests;
  }

  /**
   * Removes and returns the webhook deliveries emitted since the last call, in order. The emulator
   * sends nothing itself: the test posts each `body` where it wants, then reports the outcome with
   * {@link GitHubEmulator.recordDeliveryResult}.
   */
  takeDeliveries(): OutboxDelivery[] {
    return this.state.outbox.splice(0).map((e) => ({
      guid: e.guid,
      event: e.event,
      action: e.action,
      payload: JSON.parse(e.body) as Record<string, unknown>,
      body: e.body,
    }));
  }

  /**
   * Adds a delivery attempt of an emitted event to its app's delivery log
   * (`GET /app/hook/deliveries`); attempts after the first count as redeliveries. `statusCode` 0
   * means the receiver could not be reached. Returns the delivery id.
   */
  recordDeliveryResult(guid: string, statusCode: number, durationSeconds = 0.05): number {
    return this.state.recordAttempt(guid, statusCode, isoSeconds(this.server.nowMs()), durationSeconds).id;
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

  private connect(runner: EmulatedRunner): RunnerView {
    this.scheduler.connect(runner);
    return runnerView(runner);
  }
}
