/**
 * The one GitHub client factory: GitHub App authentication (a `jti` in every JWT), installation
 * tokens cached per installation until shortly before they expire, and the runner calls we make.
 * Works for github.com and GHES alike; only the API base URL differs.
 */
import { createSign, randomUUID } from 'node:crypto';
import { createAppAuth } from '@octokit/auth-app';
import { Octokit } from '@octokit/rest';

/** Where runners are registered: an organization, or one repository. */
export type RunnerScope = { readonly org: string } | { readonly owner: string; readonly repo: string };

/** A registered JIT runner. */
export interface JitRunner {
  readonly runnerId: number;
  /** The runner's JIT config. A secret: it never goes to logs. */
  readonly encodedJitConfig: string;
}

/** The GitHub calls the launch path makes. */
export interface GitHubRunners {
  /** Registers a JIT runner with the complete label set and returns its config. */
  generateJitConfig(
    installationId: number,
    scope: RunnerScope,
    name: string,
    labels: readonly string[],
    runnerGroupId: number,
  ): Promise<JitRunner>;
  /** Deletes a runner registration (a launch that did not happen). Unknown runners are ignored. */
  deleteRunner(installationId: number, scope: RunnerScope, runnerId: number): Promise<void>;
}

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
  // Octokit prints every failed request with console.error: unstructured lines that the callers'
  // structured logs already cover (retries included).
  const octokit = new Octokit({
    baseUrl: options.apiUrl,
    userAgent: 'cdk-ephemeral-runners',
    log: { debug: quiet, info: quiet, warn: options.onWarning ?? quiet, error: quiet },
  });
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

  return {
    async generateJitConfig(installationId, scope, name, labels, runnerGroupId) {
      const body = { name, runner_group_id: runnerGroupId, labels: [...labels], work_folder: '_work' };
      const headers = await authorization(installationId);
      const response =
        'org' in scope
          ? await octokit.request('POST /orgs/{org}/actions/runners/generate-jitconfig', {
              org: scope.org,
              ...body,
              headers,
            })
          : await octokit.request('POST /repos/{owner}/{repo}/actions/runners/generate-jitconfig', {
              owner: scope.owner,
              repo: scope.repo,
              ...body,
              headers,
            });
      return { runnerId: response.data.runner.id, encodedJitConfig: response.data.encoded_jit_config };
    },

    async deleteRunner(installationId, scope, runnerId) {
      const headers = await authorization(installationId);
      try {
        if ('org' in scope) {
          await octokit.request('DELETE /orgs/{org}/actions/runners/{runner_id}', {
            org: scope.org,
            runner_id: runnerId,
            headers,
          });
        } else {
          await octokit.request('DELETE /repos/{owner}/{repo}/actions/runners/{runner_id}', {
            owner: scope.owner,
            repo: scope.repo,
            runner_id: runnerId,
            headers,
          });
        }
      } catch (e) {
        if ((e as { status?: number }).status !== 404) throw e;
      }
    },
  };
}
