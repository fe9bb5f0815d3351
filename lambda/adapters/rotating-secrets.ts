/**
 * Secrets that rotate without a gap. The webhook secret: GitHub signs with a new secret as soon as
 * it is saved in the App's settings, while deliveries signed with the old one may still be in
 * flight, so after a refetch the previous secret is still accepted for a grace period. The App's
 * private key: when GitHub refuses the app's JWT (401, the key was deleted), the key is fetched
 * again once and the call retried, so a rotation needs no redeploy and no cold start.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { GitHubRunners } from './github';

/** How long a fetched secret is trusted before a failure may trigger a refetch (a forged delivery must not turn every request into a secret read). */
export const SECRET_REFETCH_MS = 60_000;
/** How long the previous webhook secret is still accepted after a refetch found a new one. */
export const WEBHOOK_SECRET_GRACE_MS = 15 * 60_000;

/** The webhook secret, its refetch and its grace period. */
export class RotatingWebhookSecret {
  private value: Promise<string> | undefined;
  private fetchedAt = 0;
  private previous: { secret: string; until: number } | undefined;

  constructor(
    private readonly read: () => Promise<string>,
    private readonly now: () => number = Date.now,
  ) {}

  /** The current secret, fetched on first use (a failed fetch is not cached). */
  current(): Promise<string> {
    if (!this.value) {
      this.fetchedAt = this.now();
      this.value = this.read().catch((e) => {
        this.value = undefined;
        throw e;
      });
    }
    return this.value;
  }

  /** The secrets a signature may match: the current one, and the previous one within its grace period. */
  async candidates(): Promise<string[]> {
    const current = await this.current();
    const previous = this.previous && this.previous.until > this.now() ? [this.previous.secret] : [];
    return [current, ...previous.filter((p) => p !== current)];
  }

  /** Fetches the secret again, at most once a minute; undefined when it was not refetched. */
  async refresh(): Promise<string | undefined> {
    if (this.value && this.now() - this.fetchedAt < SECRET_REFETCH_MS) return undefined;
    const old = await this.value?.catch(() => undefined);
    this.value = undefined;
    const fresh = await this.current();
    if (old !== undefined && old !== fresh)
      this.previous = { secret: old, until: this.now() + WEBHOOK_SECRET_GRACE_MS };
    return fresh;
  }
}

function isUnauthorized(error: unknown): boolean {
  const e = error as { status?: number; cause?: { status?: number } };
  return e?.status === 401 || e?.cause?.status === 401;
}

/**
 * A GitHub client that, when GitHub answers 401 to the app's credentials, fetches the private key
 * again (at most once a minute) and retries the call once with a client built on it.
 */
export function rotatingGitHubClient(
  make: (privateKey: string) => GitHubRunners,
  readKey: () => Promise<string>,
  logger: Pick<Logger, 'warn'>,
  now: () => number = Date.now,
): GitHubRunners {
  let client: Promise<GitHubRunners> | undefined;
  let fetchedAt = 0;
  const build = () => {
    fetchedAt = now();
    const made = readKey().then(make);
    made.catch(() => (client = undefined)); // a failed read is not cached
    return made;
  };
  const get = () => (client ??= build());
  const call =
    <K extends keyof GitHubRunners>(name: K) =>
    async (...args: Parameters<GitHubRunners[K]>): Promise<Awaited<ReturnType<GitHubRunners[K]>>> => {
      const first = await get();
      const invoke = (c: GitHubRunners) =>
        (c[name] as (...a: Parameters<GitHubRunners[K]>) => Promise<Awaited<ReturnType<GitHubRunners[K]>>>)(
          ...args,
        );
      try {
        return await invoke(first);
      } catch (e) {
        if (!isUnauthorized(e) || now() - fetchedAt < SECRET_REFETCH_MS) throw e;
        logger.warn('GitHub refused the app credentials: fetching the private key again (rotated?)', {
          call: name,
        });
        if ((await client) === first) client = build();
        return invoke(await get());
      }
    };
  return {
    generateJitConfig: call('generateJitConfig'),
    deleteRunner: call('deleteRunner'),
    listRunners: call('listRunners'),
    listDeliveries: call('listDeliveries'),
    redeliver: call('redeliver'),
    getJob: call('getJob'),
    getRun: call('getRun'),
    listAttemptJobs: call('listAttemptJobs'),
    rerun: call('rerun'),
  };
}
