// Hung requests: received, logged with status 0, and never answered, until the client gives up or
// the emulator stops. Driven through the real Octokit and fetch, with real sockets.
import { setTimeout as sleep } from 'node:timers/promises';
import { GitHubEmulator } from '../github-emulator';
import { failure, useGitHubFixture } from './fixture';

async function until(condition: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(10);
  }
}

describe('GitHubEmulator hung requests', () => {
  const fx = useGitHubFixture();

  it('holds a request until the client aborts it, logging it with status 0 as injected', async () => {
    const octokit = fx.appOctokit();
    fx.emu.hangNext('getApp', 1);
    const started = Date.now();
    await failure(octokit.rest.apps.getAuthenticated({ request: { signal: AbortSignal.timeout(250) } }));
    expect(Date.now() - started).toBeGreaterThanOrEqual(240);
    expect(fx.emu.calls.map((c) => [c.route, c.status, c.injected])).toEqual([['getApp', 0, true]]);
    // The client's abort closes the socket, and the emulator lets the request go.
    await until(() => fx.emu.hungRequests === 0);
    expect((await octokit.rest.apps.getAuthenticated()).status).toBe(200);
  });

  it('hangs a seeded fraction of requests, the same ones for the same seed', async () => {
    const octokit = fx.appOctokit();
    const pattern = async (seed: number) => {
      fx.emu.resetCalls();
      fx.emu.setHangRate('getApp', 0.5, seed);
      for (let i = 0; i < 10; i++) {
        await octokit.rest.apps
          .getAuthenticated({ request: { signal: AbortSignal.timeout(200) } })
          .catch(() => undefined);
      }
      return fx.emu.calls.map((c) => c.status);
    };
    const a = await pattern(3);
    expect(await pattern(3)).toEqual(a);
    expect(a).toContain(0);
    expect(a).toContain(200);
    expect(await pattern(4)).not.toEqual(a);
    fx.emu.setHangRate('getApp', 0);
    expect((await octokit.rest.apps.getAuthenticated()).status).toBe(200);
  });

  it('stops promptly while requests hang, cutting their connections', async () => {
    const emu = await GitHubEmulator.start();
    emu.setHangRate('all', 1);
    const pending = [fetch(`${emu.apiUrl}/app`), fetch(`${emu.apiUrl}/nope/still-routed`)].map((p) =>
      p.then(
        () => 'answered',
        () => 'cut',
      ),
    );
    // An unknown path has no route, so no fault: it is answered 404 at once.
    await until(() => emu.hungRequests === 1);
    const started = Date.now();
    await emu.stop();
    expect(Date.now() - started).toBeLessThan(1000);
    expect(await Promise.all(pending)).toEqual(['cut', 'answered']);
  });
});
