import { GitHubRunners } from '../../lambda/adapters/github';
import {
  RotatingWebhookSecret,
  rotatingGitHubClient,
  SECRET_REFETCH_MS,
  WEBHOOK_SECRET_GRACE_MS,
} from '../../lambda/adapters/rotating-secrets';

describe('the webhook secret', () => {
  test('after a refetch finds a new secret, the previous one is still accepted for the grace period', async () => {
    let now = 1_000_000;
    let stored = 'old';
    const secret = new RotatingWebhookSecret(
      async () => stored,
      () => now,
    );
    expect(await secret.candidates()).toEqual(['old']);
    stored = 'new';
    expect(await secret.refresh()).toBeUndefined(); // fetched less than a minute ago
    now += SECRET_REFETCH_MS;
    expect(await secret.refresh()).toBe('new');
    expect(await secret.candidates()).toEqual(['new', 'old']);
    now += WEBHOOK_SECRET_GRACE_MS;
    expect(await secret.candidates()).toEqual(['new']);
  });
});

describe('the private key', () => {
  const unauthorized = () =>
    Object.assign(new Error('A JSON web token could not be decoded'), { status: 401 });
  function world() {
    let now = 10 * SECRET_REFETCH_MS;
    let storedKey = 'key-1';
    const validKeys = new Set(['key-1']);
    const builtWith: string[] = [];
    const client = rotatingGitHubClient(
      (key) => {
        builtWith.push(key);
        return {
          async getJob() {
            if (!validKeys.has(key)) throw unauthorized();
            return 'not-found' as const;
          },
        } as unknown as GitHubRunners;
      },
      async () => storedKey,
      { warn: () => undefined },
      () => now,
    );
    return {
      client,
      builtWith,
      rotate: () => {
        storedKey = 'key-2';
        validKeys.clear();
        validKeys.add('key-2');
      },
      tick: (ms: number) => (now += ms),
    };
  }
  const call = (c: GitHubRunners) => c.getJob(1, { owner: 'a', repo: 'b' }, 1);

  test('a 401 fetches the key again once and retries: the rotation costs no failed call', async () => {
    const w = world();
    expect(await call(w.client)).toBe('not-found');
    w.rotate();
    w.tick(SECRET_REFETCH_MS);
    expect(await call(w.client)).toBe('not-found');
    expect(w.builtWith).toEqual(['key-1', 'key-2']);
    expect(await call(w.client)).toBe('not-found');
    expect(w.builtWith).toHaveLength(2); // the new client is kept
  });

  test('at most one refetch a minute: a 401 storm (a wrong app id, say) does not hammer the secret store', async () => {
    const w = world();
    await call(w.client);
    w.rotate();
    await expect(call(w.client)).rejects.toMatchObject({ status: 401 }); // built less than a minute ago
    expect(w.builtWith).toEqual(['key-1']);
  });
});
