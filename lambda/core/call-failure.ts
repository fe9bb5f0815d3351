/**
 * What a failed GitHub or AWS call means: retry (and when) or give up. Pure functions over the
 * error's status, code and headers.
 */

/**
 * Whether a failed runner deletion means GitHub refused it because the runner is busy with a job
 * (422): such a runner is left alone.
 */
export function isBusyRunnerRefusal(error: unknown): boolean {
  const e = error as { status?: number; cause?: { status?: number } };
  return e?.status === 422 || e?.cause?.status === 422;
}

/** The verdict on one failed call. */
export interface CallFailure {
  readonly retryable: boolean;
  /** The server's own wait (`retry-after`), when it gave one. */
  readonly retryAfterMs?: number;
  /** A short name for logs and job records. */
  readonly kind: 'throttled' | 'server' | 'network' | 'rejected';
  /** Status code or error code, for logs. */
  readonly code: string;
}

interface ErrorShape {
  readonly name?: string;
  readonly code?: string;
  readonly status?: number;
  readonly message?: string;
  readonly response?: { readonly headers?: Record<string, string | number | undefined> };
  readonly $metadata?: { readonly httpStatusCode?: number };
}

const NETWORK_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
]);

function networkFailure(e: ErrorShape): CallFailure | undefined {
  const code = e.code ?? (e as { cause?: { code?: string } }).cause?.code;
  if (
    (code && NETWORK_CODES.has(code)) ||
    e.name === 'TimeoutError' ||
    /fetch failed|socket hang up|request socket did not establish/i.test(e.message ?? '')
  )
    return { retryable: true, kind: 'network', code: code ?? e.name ?? 'network' };
  return undefined;
}

/**
 * A GitHub REST failure. 5xx and 429 retry; a 403 retries only when it is a rate limit (GitHub
 * sends `retry-after` for secondary limits, or `x-ratelimit-remaining: 0` for the primary one);
 * other 4xx are the request's fault and do not.
 */
export function classifyGitHubFailure(error: unknown): CallFailure {
  const e = (error ?? {}) as ErrorShape;
  const status = e.status;
  // Octokit reports a request that never got an answer as status 500 without a response.
  if (typeof status !== 'number' || (status === 500 && !e.response)) {
    return networkFailure(e) ?? { retryable: true, kind: 'network', code: e.name ?? 'unknown' };
  }
  const headers = e.response?.headers ?? {};
  const retryAfter = Number(headers['retry-after']);
  const retryAfterMs = Number.isFinite(retryAfter) && retryAfter >= 0 ? retryAfter * 1000 : undefined;
  if (
    status === 429 ||
    (status === 403 &&
      (retryAfterMs !== undefined ||
        String(headers['x-ratelimit-remaining']) === '0' ||
        /rate limit/i.test(e.message ?? '')))
  ) {
    const reset = Number(headers['x-ratelimit-reset']);
    const untilReset = Number.isFinite(reset) ? Math.max(0, reset * 1000 - Date.now()) : undefined;
    return {
      retryable: true,
      kind: 'throttled',
      code: String(status),
      retryAfterMs: retryAfterMs ?? untilReset ?? 60_000,
    };
  }
  if (status >= 500) return { retryable: true, kind: 'server', code: String(status), retryAfterMs };
  return { retryable: false, kind: 'rejected', code: String(status) };
}

const AWS_THROTTLING = new Set([
  'RequestLimitExceeded',
  'Throttling',
  'ThrottlingException',
  'ProvisionedThroughputExceededException',
  'RequestThrottled',
  'TooManyRequestsException',
]);

/** An AWS SDK failure: throttling, 5xx and network faults retry; everything else does not. */
export function classifyAwsFailure(error: unknown): CallFailure {
  const e = (error ?? {}) as ErrorShape;
  const name = e.name ?? 'Error';
  if (AWS_THROTTLING.has(name)) return { retryable: true, kind: 'throttled', code: name };
  const status = e.$metadata?.httpStatusCode;
  if (status !== undefined && status >= 500) return { retryable: true, kind: 'server', code: name };
  if (status === undefined) {
    const network = networkFailure(e);
    if (network) return network;
  }
  return { retryable: false, kind: 'rejected', code: name };
}

/**
 * What an administrator should check when GitHub refuses to register a runner: the answer to a
 * job that stays pending with a 4xx from generate-jitconfig.
 */
export function gitHubRejectionHint(status: string, runnerScope: 'org' | 'repo'): string {
  switch (status) {
    case '401':
      return 'GitHub rejected the app credentials: check the app id and that the private key belongs to that app';
    case '403':
      return runnerScope === 'org'
        ? 'the GitHub App lacks the organization permission "Self-hosted runners: Read and write"'
        : 'the GitHub App lacks the repository permission "Administration: Read and write"';
    case '404':
      return runnerScope === 'org'
        ? 'no organization runners here: the owner may be a user account (use runnerScope "repo"), or the app is not installed on it'
        : 'the GitHub App is not installed on this repository';
    case '409':
      return 'a runner with this name already exists; the next attempt uses a new name';
    case '422':
      return 'GitHub refused the registration: check the runner group id (github.runnerGroupId) and the labels';
    default:
      return `GitHub answered ${status}`;
  }
}
