import {
  classifyAwsFailure,
  classifyGitHubFailure,
  gitHubRejectionHint,
} from '../../lambda/core/call-failure';

const gh = (status: number, headers: Record<string, string> = {}, message = '') =>
  Object.assign(new Error(message), { status, response: { headers } });

describe('classifyGitHubFailure', () => {
  test('5xx retries', () => {
    expect(classifyGitHubFailure(gh(502))).toMatchObject({ retryable: true, kind: 'server' });
  });
  test('secondary rate limit (403 + retry-after) retries after the given wait', () => {
    expect(
      classifyGitHubFailure(gh(403, { 'retry-after': '3' }, 'You have exceeded a secondary rate limit')),
    ).toEqual({
      retryable: true,
      kind: 'throttled',
      code: '403',
      retryAfterMs: 3000,
    });
  });
  test('429 retries', () => {
    expect(classifyGitHubFailure(gh(429, { 'retry-after': '1' }))).toMatchObject({
      retryable: true,
      retryAfterMs: 1000,
    });
  });
  test('a plain 403 (missing permission) and 409/422 do not retry', () => {
    expect(classifyGitHubFailure(gh(403, {}, 'Resource not accessible by integration')).retryable).toBe(
      false,
    );
    expect(classifyGitHubFailure(gh(409)).retryable).toBe(false);
    expect(classifyGitHubFailure(gh(422)).retryable).toBe(false);
  });
  test('a request that got no answer retries', () => {
    const e = Object.assign(new Error('fetch failed'), { status: 500 });
    expect(classifyGitHubFailure(e)).toMatchObject({ retryable: true, kind: 'network' });
  });
});

describe('classifyAwsFailure', () => {
  test.each([
    [{ name: 'RequestLimitExceeded', $metadata: { httpStatusCode: 503 } }, true, 'throttled'],
    [{ name: 'ThrottlingException', $metadata: { httpStatusCode: 400 } }, true, 'throttled'],
    [{ name: 'InternalError', $metadata: { httpStatusCode: 500 } }, true, 'server'],
    [{ name: 'UnauthorizedOperation', $metadata: { httpStatusCode: 403 } }, false, 'rejected'],
    [{ name: 'Error', code: 'ECONNRESET', message: 'socket hang up' }, true, 'network'],
  ])('%j', (error, retryable, kind) => {
    expect(classifyAwsFailure(error)).toMatchObject({ retryable, kind });
  });
});

describe('gitHubRejectionHint', () => {
  test.each([
    ['403', 'org', /Self-hosted runners: Read and write/],
    ['403', 'repo', /Administration: Read and write/],
    ['404', 'org', /user account.*runnerScope "repo"/],
    ['404', 'repo', /not installed/],
    ['401', 'org', /private key/],
    ['422', 'org', /runnerGroupId/],
    ['418', 'repo', /answered 418/],
  ] as const)('%s at %s scope', (status, scope, hint) => {
    expect(gitHubRejectionHint(status, scope)).toMatch(hint);
  });
});
