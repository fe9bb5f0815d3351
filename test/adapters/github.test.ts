import { createGitHubClient, mintAppJwt } from '../../lambda/adapters/github';
import { GitHubEmulator } from '../local-cloud/github-emulator';

let gh: GitHubEmulator;
let privateKey: string;

beforeAll(async () => {
  gh = await GitHubEmulator.start({ tokenTtlSeconds: 600 });
  privateKey = gh.registerApp(11).privateKeyPem;
  gh.addInstallation({ id: 5, appId: 11, account: 'acme' });
});
afterAll(() => gh.stop());
beforeEach(() => gh.resetCalls());

test('two JWTs minted in the same second differ (jti) and carry iss/iat/exp as GitHub asks', () => {
  const a = mintAppJwt('11', privateKey, 1_800_000_000);
  const b = mintAppJwt('11', privateKey, 1_800_000_000);
  expect(a.jwt).not.toBe(b.jwt);
  const claims = JSON.parse(Buffer.from(a.jwt.split('.')[1], 'base64url').toString());
  expect(claims).toMatchObject({ iss: '11', iat: 1_800_000_000 - 60, exp: 1_800_000_000 + 540 });
  expect(claims.jti).toEqual(expect.any(String));
});

test('an installation token is fetched once for concurrent callers and reused until near expiry', async () => {
  let clock = Date.now();
  const client = createGitHubClient({
    apiUrl: gh.apiUrl,
    appId: '11',
    privateKey,
    refreshBeforeExpiryMs: 5 * 60_000,
    now: () => clock,
  });
  await Promise.all(
    [1, 2, 3, 4, 5].map((i) => client.generateJitConfig(5, { org: 'acme' }, `r-a-${i}`, ['self-hosted'], 1)),
  );
  expect(gh.callCount('createInstallationToken')).toBe(1);
  clock += 4 * 60_000; // 6 minutes of the 10 left: still fresh
  gh.advanceClock(4 * 60);
  await client.generateJitConfig(5, { org: 'acme' }, 'r-b', ['self-hosted'], 1);
  expect(gh.callCount('createInstallationToken')).toBe(1);
  clock += 2 * 60_000; // within 5 minutes of expiry: refreshed
  gh.advanceClock(2 * 60);
  await client.generateJitConfig(5, { org: 'acme' }, 'r-c', ['self-hosted'], 1);
  expect(gh.callCount('createInstallationToken')).toBe(2);
  expect(gh.jwtsWithoutJti).toBe(0);
});

test('JIT config for a repo scope with the full label set; deleting a runner, twice, is fine', async () => {
  const client = createGitHubClient({ apiUrl: gh.apiUrl, appId: '11', privateKey });
  const jit = await client.generateJitConfig(
    5,
    { owner: 'acme', repo: 'app' },
    'repo-r',
    ['self-hosted', 'Linux'],
    1,
  );
  expect(jit.encodedJitConfig.length).toBeGreaterThan(20);
  const view = gh.runners().find((r) => r.id === jit.runnerId);
  expect(view).toMatchObject({ scopeKind: 'repo', name: 'repo-r' });
  await client.deleteRunner(5, { owner: 'acme', repo: 'app' }, jit.runnerId);
  await client.deleteRunner(5, { owner: 'acme', repo: 'app' }, jit.runnerId);
  expect(gh.runners().find((r) => r.id === jit.runnerId)).toBeUndefined();
});

test('a 409 (name taken) surfaces as a non-retryable error', async () => {
  const client = createGitHubClient({ apiUrl: gh.apiUrl, appId: '11', privateKey });
  await client.generateJitConfig(5, { org: 'acme' }, 'dup', ['self-hosted'], 1);
  await expect(client.generateJitConfig(5, { org: 'acme' }, 'dup', ['self-hosted'], 1)).rejects.toMatchObject(
    {
      status: 409,
    },
  );
});
