// Fault injection of the GitHub emulator (5xx, secondary rate limits, seeded failure rates,
// latency) and its answers to requests GitHub would not serve, as the real Octokit sees them.
import { randomUUID } from 'node:crypto';
import { failure, ORG_INSTALLATION, useGitHubFixture, type HttpFailure } from './fixture';

describe('GitHubEmulator fault injection', () => {
  const fx = useGitHubFixture();

  it('returns an injected 500 once, as a RequestError with a JSON body, and registers nothing', async () => {
    const octokit = fx.appOctokit(ORG_INSTALLATION);
    const jit = () =>
      octokit.rest.actions.generateRunnerJitconfigForRepo({
        owner: 'octo-org',
        repo: 'faults',
        name: 'f-1',
        runner_group_id: 1,
        labels: ['a'],
      });
    fx.emu.failNext('generateJitConfigRepo', 1, 500);
    const err = await failure(jit());
    expect(err.name).toBe('HttpError');
    expect(err.status).toBe(500);
    expect(err.response.data.message).toBe('Internal Server Error');
    expect(fx.emu.runners().some((r) => r.scope === 'octo-org/faults')).toBe(false);
    expect((await jit()).status).toBe(201);
    expect(fx.emu.calls.filter((c) => c.injected).map((c) => `${c.route} ${c.status}`)).toEqual([
      'generateJitConfigRepo 500',
    ]);
  });

  it('answers secondary rate limits with 403 or 429, retry-after when asked, and GitHub message', async () => {
    const octokit = fx.appOctokit(ORG_INSTALLATION);
    const jit = () =>
      octokit.rest.actions.generateRunnerJitconfigForOrg({
        org: 'octo-org',
        name: randomUUID(),
        runner_group_id: 1,
        labels: ['a'],
      });
    fx.emu.rateLimitNext('generateJitConfigOrg', 1, 'secondary-403', 42);
    fx.emu.rateLimitNext('generateJitConfigOrg', 1, 'secondary-429', undefined);

    const first = await failure(jit());
    expect(first.status).toBe(403);
    expect(first.response.headers['retry-after']).toBe('42');
    expect(first.response.headers['x-ratelimit-remaining']).not.toBe('0');
    expect(first.response.data.message).toMatch(/^You have exceeded a secondary rate limit/);
    const second = await failure(jit());
    expect(second.status).toBe(429);
    expect(second.response.headers['retry-after']).toBeUndefined();
    expect((await jit()).status).toBe(201);
  });

  it('fails a seeded fraction of calls, the same ones for the same seed', async () => {
    const octokit = fx.appOctokit(ORG_INSTALLATION);
    const pattern = async (seed: number) => {
      fx.emu.setFailureRate('listRunnersRepo', 0.5, 503, seed);
      const statuses: number[] = [];
      for (let i = 0; i < 16; i++) {
        const res = await octokit.rest.actions
          .listSelfHostedRunnersForRepo({ owner: 'octo-org', repo: 'app' })
          .catch((e: HttpFailure) => e);
        statuses.push(res.status);
      }
      return statuses;
    };
    const a = await pattern(7);
    expect(await pattern(7)).toEqual(a);
    expect(a).toContain(503);
    expect(a).toContain(200);
    expect(await pattern(8)).not.toEqual(a);

    fx.emu.setFailureRate('all', 1, 502);
    expect((await failure(fx.appOctokit().rest.apps.getAuthenticated())).status).toBe(502);
    fx.emu.setFailureRate('all', 0);
    expect((await fx.appOctokit().rest.apps.getAuthenticated()).status).toBe(200);
  });

  it('delays answers by the configured latency', async () => {
    const octokit = fx.appOctokit();
    fx.emu.setLatencyMs(150);
    const started = Date.now();
    await octokit.rest.apps.getAuthenticated();
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
  });

  it('answers 404 JSON for unknown routes and wrong methods, 400 for a body that is not JSON', async () => {
    const unknown = await fetch(`${fx.emu.apiUrl}/nope`);
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({
      message: 'Not Found',
      documentation_url: 'https://docs.github.com/rest',
    });
    const wrongMethod = await fetch(`${fx.emu.apiUrl}/orgs/octo-org/actions/runners/generate-jitconfig`);
    expect(wrongMethod.status).toBe(404);
    expect(fx.emu.callCount('unknown')).toBe(2);

    const { token } = (await fx.appOctokit(ORG_INSTALLATION).auth({ type: 'installation' })) as {
      token: string;
    };
    const badJson = await fetch(`${fx.emu.apiUrl}/orgs/octo-org/actions/runners/generate-jitconfig`, {
      method: 'POST',
      headers: { authorization: `token ${token}` },
      body: '{not json',
    });
    expect(badJson.status).toBe(400);
    expect(await badJson.json()).toMatchObject({ message: 'Problems parsing JSON' });
  });
});
