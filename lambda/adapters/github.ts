/**
 * The one GitHub client factory: GitHub App authentication (a `jti` in every JWT), installation
 * tokens cached per installation until shortly before they expire, and the runner calls we make.
 * Works for github.com and GHES alike; only the API base URL differs.
 */
import { createSign, randomUUID } from 'node:crypto';
import { createAppAuth } from '@octokit/auth-app';
import { Octokit } from '@octokit/rest';
import type { GitHubJobView, RegistrationView } from '../core/fleet-views';
import type { DeliveryView } from '../core/redelivery';
import type { RunJobView } from '../core/rerun-plan';

/** Where runners are registered: an organization, or one repository. */
export type RunnerScope = { readonly org: string } | { readonly owner: string; readonly repo: string };

/** A registered JIT runner. */
export interface JitRunner {
  readonly runnerId: number;
  /** The runner's JIT config. A secret: it never goes to logs. */
  readonly encodedJitConfig: string;
}

/**
 * Every call takes the caller's deadline (epoch ms): the request is aborted when it passes, and in
 * any case after the client's request timeout, so a hung GitHub costs a deferral, never a Lambda
 * timeout.
 */
export interface CallBounds {
  readonly deadline?: number;
}

/** A page-capped listing. */
export interface RunnerListing {
  readonly runners: RegistrationView[];
  /** False when the listing stopped at the page cap: what is missing from it may still exist. */
  readonly complete: boolean;
}

/** The GitHub calls the control plane makes. */
export interface GitHubRunners {
  /** Registers a JIT runner with the complete label set and returns its config. */
  generateJitConfig(
    installationId: number,
    scope: RunnerScope,
    name: string,
    labels: readonly string[],
    runnerGroupId: number,
    bounds?: CallBounds,
  ): Promise<JitRunner>;
  /**
   * Deletes a runner registration. Unknown runners are ignored. GitHub refuses (422) to delete a
   * runner that is running a job: that throws, and callers take it as "busy".
   */
  deleteRunner(
    installationId: number,
    scope: RunnerScope,
    runnerId: number,
    bounds?: CallBounds,
  ): Promise<void>;
  /** Lists the runners of a scope (100 a page, at most `maxPages`), or only the one named `name`. */
  listRunners(
    installationId: number,
    scope: RunnerScope,
    options?: CallBounds & { readonly name?: string; readonly maxPages?: number },
  ): Promise<RunnerListing>;
  /** One page (newest first) of the App's webhook deliveries, with the app's JWT. */
  listDeliveries(
    options: CallBounds & { readonly cursor?: string; readonly perPage?: number },
  ): Promise<{ deliveries: DeliveryView[]; nextCursor?: string }>;
  /** Asks GitHub to send a delivery again (it answers 202 and delivers later). */
  redeliver(deliveryId: number, bounds?: CallBounds): Promise<void>;
  /** A workflow job as GitHub has it; `not-found` for a 404 (unknown, or its run was deleted). */
  getJob(
    installationId: number,
    repository: { readonly owner: string; readonly repo: string },
    jobId: number,
    bounds?: CallBounds,
  ): Promise<GitHubJobView | 'not-found'>;
  /** A workflow run's latest attempt and status; `not-found` for a 404. */
  getRun(
    installationId: number,
    repository: { readonly owner: string; readonly repo: string },
    runId: number,
    bounds?: CallBounds,
  ): Promise<{ readonly status: string; readonly runAttempt: number } | 'not-found'>;
  /** The jobs of one attempt of a run (100 a page, at most 3 pages). */
  listAttemptJobs(
    installationId: number,
    repository: { readonly owner: string; readonly repo: string },
    runId: number,
    attempt: number,
    bounds?: CallBounds,
  ): Promise<RunJobView[]>;
  /**
   * Re-runs the failed jobs of a run (`{ runId }`) or one job (`{ jobId }`); needs the App's
   * *Actions: write* permission. A refusal (4xx) is returned with GitHub's message, not thrown.
   */
  rerun(
    installationId: number,
    repository: { readonly owner: string; readonly repo: string },
    target: { readonly runId: number } | { readonly jobId: number },
    bounds?: CallBounds,
  ): Promise<'requested' | { readonly refused: number; readonly message: string }>;
}

/** The REST API version every call asks for. */
export const GITHUB_API_VERSION = '2022-11-28';

/** Settings of the client. */
export interface GitHubClientOptions {
  readonly apiUrl: string;
  readonly appId: string;
  readonly privateKey: string;
  /** Refresh an installation token this long before it expires. */
  readonly refreshBeforeExpiryMs?: number;
  readonly now?: () => number;
  /** Where Octokit's warnings (API deprecations) go. Failed requests are reported by the callers. */
  readonly onWarning?: (message: string) => void;
  /** Longest one request may take, in ms (installation token requests included). @default 5000 */
  readonly requestTimeoutMs?: number;
  /** The fetch requests go through (one that honours a proxy, say). @default the global fetch */
  readonly fetch?: typeof fetch;
}

const base64url = (data: string | Buffer): string => Buffer.from(data).toString('base64url');

/**
 * Mints a GitHub App JWT. `iat` is set 60 s in the past against clock drift, `exp` 9 minutes ahead
 * (GitHub allows at most 10), and a random `jti` makes two JWTs minted in the same second differ.
 */
export function mintAppJwt(
  appId: string,
  privateKey: string,
  nowSeconds: number,
): { jwt: string; expiresAt: string } {
  const header = base64url(JSON.stringify({ alg: 'RS256', typ: 'JWT' }));
  const exp = nowSeconds + 9 * 60;
  const payload = base64url(JSON.stringify({ iat: nowSeconds - 60, exp, iss: appId, jti: randomUUID() }));
  const signature = createSign('RSA-SHA256').update(`${header}.${payload}`).sign(privateKey);
  return {
    jwt: `${header}.${payload}.${base64url(signature)}`,
    expiresAt: new Date(exp * 1000).toISOString(),
  };
}

interface CachedToken {
  readonly token: string;
  readonly expiresAt: number;
}

/** Creates the GitHub client. One per container: its token cache lives as long as the container. */
export function createGitHubClient(options: GitHubClientOptions): GitHubRunners {
  const now = options.now ?? Date.now;
  const refreshMs = options.refreshBeforeExpiryMs ?? 5 * 60_000;
  const privateKey = options.privateKey.replace(/\\n/g, '\n');
  const quiet = () => undefined;
  const requestTimeoutMs = options.requestTimeoutMs ?? 5000;
  // Every request, the installation token's included, is aborted after the request timeout; a
  // caller's deadline may cut it shorter (see `signal`).
  const timedFetch: typeof fetch = (input, init) => {
    const timeout = AbortSignal.timeout(requestTimeoutMs);
    return (options.fetch ?? fetch)(input, {
      ...init,
      signal: init?.signal ? AbortSignal.any([init.signal, timeout]) : timeout,
    });
  };
  // Octokit prints every failed request with console.error: unstructured lines that the callers'
  // structured logs already cover (retries included).
  const octokit = new Octokit({
    baseUrl: options.apiUrl,
    userAgent: 'cdk-ephemeral-runners',
    log: { debug: quiet, info: quiet, warn: options.onWarning ?? quiet, error: quiet },
    request: { fetch: timedFetch },
  });
  octokit.hook.before('request', (request) => {
    request.headers['x-github-api-version'] = GITHUB_API_VERSION;
  });
  /** The abort signal of a call bounded by the caller's deadline. */
  const signal = (bounds?: CallBounds) =>
    bounds?.deadline === undefined ? undefined : AbortSignal.timeout(Math.max(1, bounds.deadline - now()));
  const appAuth = createAppAuth({
    appId: options.appId,
    createJwt: async (appId) => mintAppJwt(String(appId), privateKey, Math.floor(now() / 1000)),
    request: octokit.request,
  });

  const tokens = new Map<number, CachedToken>();
  const inFlight = new Map<number, Promise<string>>();

  // Tokens are cached by our own expiry rule: GitHub's `expires_at` is the truth, whatever the
  // token's length or format, and concurrent callers share one request.
  async function installationToken(installationId: number): Promise<string> {
    const cached = tokens.get(installationId);
    if (cached && cached.expiresAt - refreshMs > now()) return cached.token;
    const pending = inFlight.get(installationId);
    if (pending) return pending;
    const request = (async () => {
      const auth = await appAuth({ type: 'installation', installationId, refresh: true });
      tokens.set(installationId, { token: auth.token, expiresAt: Date.parse(auth.expiresAt) });
      return auth.token;
    })().finally(() => inFlight.delete(installationId));
    inFlight.set(installationId, request);
    return request;
  }

  const authorization = async (installationId: number) => ({
    authorization: `token ${await installationToken(installationId)}`,
  });
  const where = (scope: RunnerScope) =>
    'org' in scope
      ? { path: '/orgs/{org}/actions/runners', params: { org: scope.org } }
      : { path: '/repos/{owner}/{repo}/actions/runners', params: { owner: scope.owner, repo: scope.repo } };

  return {
    async generateJitConfig(installationId, scope, name, labels, runnerGroupId, bounds) {
      const body = { name, runner_group_id: runnerGroupId, labels: [...labels], work_folder: '_work' };
      const headers = await authorization(installationId);
      const { path, params } = where(scope);
      const response = await octokit.request(`POST ${path}/generate-jitconfig`, {
        ...params,
        ...body,
        headers,
        request: { signal: signal(bounds) },
      });
      const data = response.data as { runner: { id: number }; encoded_jit_config: string };
      return { runnerId: data.runner.id, encodedJitConfig: data.encoded_jit_config };
    },

    async deleteRunner(installationId, scope, runnerId, bounds) {
      const headers = await authorization(installationId);
      const { path, params } = where(scope);
      try {
        await octokit.request(`DELETE ${path}/{runner_id}`, {
          ...params,
          runner_id: runnerId,
          headers,
          request: { signal: signal(bounds) },
        });
      } catch (e) {
        if ((e as { status?: number }).status !== 404) throw e;
      }
    },

    async listRunners(installationId, scope, listOptions = {}) {
      const headers = await authorization(installationId);
      const { path, params } = where(scope);
      const maxPages = listOptions.maxPages ?? 10;
      const runners: RegistrationView[] = [];
      for (let page = 1; page <= maxPages; page++) {
        const response = await octokit.request(`GET ${path}`, {
          ...params,
          per_page: 100,
          page,
          ...(listOptions.name !== undefined ? { name: listOptions.name } : {}),
          headers,
          request: { signal: signal(listOptions) },
        });
        const data = response.data as {
          total_count: number;
          runners: Array<{ id: number; name: string; status: string; busy: boolean }>;
        };
        for (const r of data.runners)
          runners.push({
            id: r.id,
            name: r.name,
            status: r.status === 'online' ? 'online' : 'offline',
            busy: r.busy,
          });
        if (data.runners.length < 100 || !/rel="next"/.test(String(response.headers.link ?? '')))
          return { runners, complete: true };
      }
      return { runners, complete: false };
    },

    async listDeliveries(listOptions) {
      const { token } = await appAuth({ type: 'app' });
      const response = await octokit.request('GET /app/hook/deliveries', {
        per_page: listOptions.perPage ?? 100,
        ...(listOptions.cursor ? { cursor: listOptions.cursor } : {}),
        headers: { authorization: `bearer ${token}` },
        request: { signal: signal(listOptions) },
      });
      const rows = response.data as Array<{
        id: number;
        guid: string;
        delivered_at: string;
        redelivery: boolean;
        status_code: number;
        event: string;
        action: string | null;
      }>;
      const next = /<[^>]*[?&]cursor=([^&>]+)[^>]*>;\s*rel="next"/.exec(String(response.headers.link ?? ''));
      return {
        deliveries: rows.map((d) => ({
          id: d.id,
          guid: d.guid,
          deliveredAt: Date.parse(d.delivered_at),
          redelivery: d.redelivery,
          statusCode: d.status_code,
          event: d.event,
          action: d.action,
        })),
        nextCursor: next ? decodeURIComponent(next[1]) : undefined,
      };
    },

    async redeliver(deliveryId, bounds) {
      const { token } = await appAuth({ type: 'app' });
      await octokit.request('POST /app/hook/deliveries/{delivery_id}/attempts', {
        delivery_id: deliveryId,
        headers: { authorization: `bearer ${token}` },
        request: { signal: signal(bounds) },
      });
    },

    async getJob(installationId, repository, jobId, bounds) {
      const headers = await authorization(installationId);
      try {
        const response = await octokit.request('GET /repos/{owner}/{repo}/actions/jobs/{job_id}', {
          owner: repository.owner,
          repo: repository.repo,
          job_id: jobId,
          headers,
          request: { signal: signal(bounds) },
        });
        const job = response.data as {
          status: GitHubJobView['status'];
          conclusion: string | null;
          runner_name: string | null;
        };
        return {
          status: job.status,
          conclusion: job.conclusion ?? null,
          runnerName: job.runner_name ?? null,
        };
      } catch (e) {
        if ((e as { status?: number }).status === 404) return 'not-found';
        throw e;
      }
    },

    async getRun(installationId, repository, runId, bounds) {
      const headers = await authorization(installationId);
      try {
        const response = await octokit.request('GET /repos/{owner}/{repo}/actions/runs/{run_id}', {
          owner: repository.owner,
          repo: repository.repo,
          run_id: runId,
          headers,
          request: { signal: signal(bounds) },
        });
        const run = response.data as { status: string | null; run_attempt?: number };
        return { status: run.status ?? 'unknown', runAttempt: run.run_attempt ?? 1 };
      } catch (e) {
        if ((e as { status?: number }).status === 404) return 'not-found';
        throw e;
      }
    },

    async listAttemptJobs(installationId, repository, runId, attempt, bounds) {
      const headers = await authorization(installationId);
      const jobs: RunJobView[] = [];
      for (let page = 1; page <= 3; page++) {
        const response = await octokit.request(
          'GET /repos/{owner}/{repo}/actions/runs/{run_id}/attempts/{attempt_number}/jobs',
          {
            owner: repository.owner,
            repo: repository.repo,
            run_id: runId,
            attempt_number: attempt,
            per_page: 100,
            page,
            headers,
            request: { signal: signal(bounds) },
          },
        );
        const data = response.data as {
          total_count: number;
          jobs: { id: number; name: string; status: string; conclusion: string | null }[];
        };
        jobs.push(
          ...data.jobs.map((j) => ({
            id: j.id,
            name: j.name,
            status: j.status,
            conclusion: j.conclusion ?? null,
          })),
        );
        if (data.jobs.length < 100 || jobs.length >= data.total_count) break;
      }
      return jobs;
    },

    async rerun(installationId, repository, target, bounds) {
      const headers = await authorization(installationId);
      try {
        if ('runId' in target)
          await octokit.request('POST /repos/{owner}/{repo}/actions/runs/{run_id}/rerun-failed-jobs', {
            owner: repository.owner,
            repo: repository.repo,
            run_id: target.runId,
            headers,
            request: { signal: signal(bounds) },
          });
        else
          await octokit.request('POST /repos/{owner}/{repo}/actions/jobs/{job_id}/rerun', {
            owner: repository.owner,
            repo: repository.repo,
            job_id: target.jobId,
            headers,
            request: { signal: signal(bounds) },
          });
        return 'requested';
      } catch (e) {
        const status = (e as { status?: number }).status;
        if (status !== undefined && status >= 400 && status < 500 && status !== 401 && status !== 429)
          return { refused: status, message: (e as Error).message };
        throw e;
      }
    },
  };
}
