// App JWT verification and installation token lifecycle of the GitHub emulator, driven through the
// real Octokit and @octokit/auth-app where they can produce the case, by hand where they cannot.
import { createAppAuth } from '@octokit/auth-app';
import { Octokit } from '@octokit/rest';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import {
  APP_ID,
  b64url,
  failure,
  nowSeconds,
  ORG_INSTALLATION,
  quietLog,
  signJwt,
  useGitHubFixture,
} from './fixture';

describe('GitHubEmulator authentication', () => {
  const fx = useGitHubFixture();
  const getApp = (jwt: string) =>
    fetch(`${fx.emu.apiUrl}/app`, { headers: { authorization: `Bearer ${jwt}` } });

  it('rejects a JWT signed with another key: 401 with GitHub error body, no token issued', async () => {
    const { privateKey: wrongKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const octokit = fx.appOctokit(ORG_INSTALLATION, {
      privateKey: wrongKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    });
    const tokensBefore = fx.emu.issuedTokens.length;
    const err = await failure(
      octokit.rest.actions.listSelfHostedRunnersForRepo({ owner: 'octo-org', repo: 'app' }),
    );
    expect(err.name).toBe('HttpError');
    expect(err.status).toBe(401);
    expect(err.response.data).toEqual({
      message: 'A JSON web token could not be decoded',
      documentation_url: 'https://docs.github.com/rest',
      status: '401',
    });
    expect(fx.emu.issuedTokens).toHaveLength(tokensBefore);
    expect(fx.emu.callCount('createInstallationToken', 401)).toBe(1);
  });

  it('checks JWT signature, alg and the iat/exp window with GitHub messages; iss may be the client id', async () => {
    const t = nowSeconds();
    const valid = { iat: t - 60, exp: t + 600, iss: APP_ID }; // GitHub docs' own example: 11 minutes apart
    const statusAndMessage = async (jwt: string) => {
      const res = await getApp(jwt);
      return [res.status, ((await res.json()) as { message?: string }).message];
    };
    const [h, p] = signJwt(fx.privateKey, valid).split('.');

    expect(await statusAndMessage(`${h}.${p}.`)).toEqual([401, 'A JSON web token could not be decoded']);
    expect(await statusAndMessage(`${b64url({ alg: 'none' })}.${p}.x`)).toEqual([
      401,
      'A JSON web token could not be decoded',
    ]);
    expect(await statusAndMessage(signJwt(fx.privateKey, { ...valid, exp: t - 5 }))).toEqual([
      401,
      "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires",
    ]);
    expect(await statusAndMessage(signJwt(fx.privateKey, { ...valid, exp: t + 660 }))).toEqual([
      401,
      "'Expiration time' claim ('exp') is too far in the future",
    ]);
    expect(await statusAndMessage(signJwt(fx.privateKey, { ...valid, iat: t + 120 }))).toEqual([
      401,
      "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued",
    ]);
    expect((await getApp(signJwt(fx.privateKey, valid))).status).toBe(200);
    const byClientId = await getApp(signJwt(fx.privateKey, { ...valid, iss: fx.clientId }));
    expect(await byClientId.json()).toMatchObject({ id: APP_ID, client_id: fx.clientId });
  });

  it('lets @octokit/auth-app recover from clock skew via the Date header, as against GitHub', async () => {
    const warn = jest.fn();
    fx.emu.advanceClock(-120); // the server is two minutes behind the client
    try {
      const octokit = fx.appOctokit(ORG_INSTALLATION, { log: { ...quietLog, warn } });
      const res = await octokit.rest.actions.listSelfHostedRunnersForOrg({ org: 'octo-org' });
      expect(res.status).toBe(200);
    } finally {
      fx.emu.advanceClock(120);
    }
    expect(fx.emu.calls.map((c) => `${c.route} ${c.status}`)).toEqual([
      'createInstallationToken 401',
      'createInstallationToken 201',
      'listRunnersOrg 200',
    ]);
    expect(warn).toHaveBeenCalledWith(expect.stringMatching(/different by -12\d seconds/));
  });

  it('expires installation tokens after an hour: 401 Bad credentials; token lengths vary', async () => {
    const octokit = fx.appOctokit(ORG_INSTALLATION);
    const auth = (await octokit.auth({ type: 'installation' })) as { token: string; expiresAt: string };
    const lifetime = (Date.parse(auth.expiresAt) - Date.now()) / 1000;
    expect(lifetime).toBeGreaterThan(3590);
    expect(lifetime).toBeLessThanOrEqual(3600);
    const list = () =>
      fx
        .tokenOctokit(auth.token)
        .rest.actions.listSelfHostedRunnersForRepo({ owner: 'octo-org', repo: 'app' });
    expect((await list()).status).toBe(200);
    fx.emu.advanceClock(3600);
    try {
      const err = await failure(list());
      expect(err.status).toBe(401);
      expect(err.response.data.message).toBe('Bad credentials');
    } finally {
      fx.emu.advanceClock(-3600);
    }
    const again = (await octokit.auth({ type: 'installation', refresh: true })) as { token: string };
    expect(again.token).toMatch(/^ghs_/);
    expect(again.token.length).not.toBe(auth.token.length);
    // One of the two has the long, dotted format; both must still be recognized as tokens, not JWTs.
    await fx
      .tokenOctokit(again.token)
      .rest.actions.listSelfHostedRunnersForRepo({ owner: 'octo-org', repo: 'app' });
    const listings = fx.emu.calls.filter((c) => c.route === 'listRunnersRepo');
    expect(listings.map((c) => `${c.status} ${c.credential}`)).toEqual([
      '200 token',
      '401 token',
      '200 token',
    ]);
  });

  it('counts JWTs without jti and byte-identical JWTs', async () => {
    const without = fx.emu.jwtsWithoutJti;
    await fx.appOctokit().rest.apps.getAuthenticated(); // Octokit's default JWT has no jti
    expect(fx.emu.jwtsWithoutJti).toBe(without + 1);

    const createJwt = async (appId: string | number) => {
      const t = nowSeconds() - 30;
      return {
        jwt: signJwt(fx.privateKey, { iat: t, exp: t + 540, iss: appId, jti: randomUUID() }),
        expiresAt: '',
      };
    };
    const withJti = new Octokit({
      baseUrl: fx.emu.apiUrl,
      authStrategy: createAppAuth,
      auth: { appId: APP_ID, createJwt },
      log: quietLog,
    });
    await withJti.rest.apps.getAuthenticated();
    expect(fx.emu.jwtsWithoutJti).toBe(without + 1);

    const duplicates = fx.emu.duplicateJwts;
    const t = nowSeconds();
    const jwt = signJwt(fx.privateKey, { iat: t - 30, exp: t + 500, iss: APP_ID });
    await getApp(jwt);
    await getApp(jwt);
    expect(fx.emu.duplicateJwts).toBe(duplicates + 1);
  });

  it('revokes a token on DELETE /installation/token', async () => {
    const { token } = (await fx.appOctokit(ORG_INSTALLATION).auth({ type: 'installation' })) as {
      token: string;
    };
    const octokit = fx.tokenOctokit(token);
    expect((await octokit.rest.apps.revokeInstallationAccessToken()).status).toBe(204);
    expect(
      (await failure(octokit.rest.actions.listSelfHostedRunnersForOrg({ org: 'octo-org' }))).status,
    ).toBe(401);
  });
});
