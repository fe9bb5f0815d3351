/**
 * The wiring every handler shares: settings read once per container, one logger, and one of each
 * adapter (state store, EC2 launcher, GitHub client, config source). Secrets are fetched once per
 * container, lazily, so a handler that does not need them never pays for them.
 *
 * The launch path's clients (the EC2 client, Octokit: most of the code) are loaded on first use,
 * with `import()`: the build puts them in a chunk of their own beside the bundle, so `in_progress`,
 * `completed` and `ping` deliveries (most of them) never read, parse or evaluate them. Keep them out
 * of this file's static imports, and out of the value imports of every module the webhook loads
 * (type-only imports are erased); `test/webhook/cold-start.test.ts` checks it.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SSMClient } from '@aws-sdk/client-ssm';
import { loadSettings, Settings } from './core/settings';
import type { Ec2Launcher } from './adapters/ec2-launcher';
import type { GitHubRunners } from './adapters/github';
import { RunnerConfigSource } from './adapters/runner-config-source';
import { readSecret } from './adapters/secrets';
import { outboundNetwork } from './adapters/proxy-agent';
import { proxySettings } from './core/proxy-settings';
import { StateStore } from './adapters/state-store';
import type { LaunchDeps } from './launch/launch-job';
import { RotatingWebhookSecret, rotatingGitHubClient } from './adapters/rotating-secrets';

/** Everything a handler uses, built once per container. */
export interface Runtime {
  readonly settings: Settings;
  readonly logger: Logger;
  readonly store: StateStore;
  /** The EC2 launcher, created on first use (its client's module is loaded then). */
  ec2(): Promise<Ec2Launcher>;
  readonly configs: RunnerConfigSource;
  /** The GitHub client, created on first use (it needs the private key). */
  github(): Promise<GitHubRunners>;
  /** The webhook secret: the current one (fetched on first use) and, after a rotation, the previous one for a while. */
  readonly webhookSecret: RotatingWebhookSecret;
  /** The launch path's dependencies, logging to `logger`. */
  launchDeps(logger: Logger): Promise<LaunchDeps>;
}

// Timeouts well inside GitHub's delivery budget; the callers' retries handle the rest.
const REQUEST_TIMEOUTS = { connectionTimeout: 2000, requestTimeout: 5000 };

function once<T>(make: () => Promise<T>): () => Promise<T> {
  let value: Promise<T> | undefined;
  return () => {
    // A failed fetch is not cached: the next invocation tries again.
    value ??= make().catch((e) => {
      value = undefined;
      throw e;
    });
    return value;
  };
}

/** Builds the runtime from an environment. Throws `SettingsError` naming every bad variable. */
export function createRuntime(env: Record<string, string | undefined>): Runtime {
  const settings = loadSettings(env);
  // HTTPS_PROXY / NO_PROXY (Lambdas in a VPC whose egress is a proxy): every AWS and GitHub call honours them.
  const network = outboundNetwork(proxySettings(env));
  const requestHandler = { ...REQUEST_TIMEOUTS, ...network.sdkAgents };
  const logger = new Logger({ serviceName: env.POWERTOOLS_SERVICE_NAME ?? 'cdk-ephemeral-runners' });
  const ssm = new SSMClient({ requestHandler });
  const secrets = new SecretsManagerClient({ requestHandler });
  const configs = new RunnerConfigSource(ssm, settings.configPath, settings.configCacheMs, (name, problems) =>
    logger.error('runner config ignored: fix the SSM parameter', { parameter: name, problems }),
  );
  const runtime: Runtime = {
    settings,
    logger,
    store: new StateStore(new DynamoDBClient({ requestHandler, maxAttempts: 2 }), settings.stateTable),
    ec2: once(async () => {
      const { createEc2Launcher } = await import('./adapters/launch-clients');
      // Our own retries bound EC2 calls by the delivery budget; the SDK's would not.
      return createEc2Launcher({ requestHandler, maxAttempts: 1 });
    }),
    configs,
    github: once(async () => {
      const { createGitHubClient } = await import('./adapters/launch-clients');
      return rotatingGitHubClient(
        (privateKey) =>
          createGitHubClient({
            apiUrl: settings.githubApiUrl,
            appId: settings.githubAppId,
            privateKey,
            onWarning: (message) => logger.warn('GitHub API warning', { message }),
            requestTimeoutMs: settings.githubRequestTimeoutMs,
            fetch: network.fetch,
          }),
        () => readSecret(settings.githubPrivateKey, ssm, secrets, 'github.privateKey'),
        logger,
      );
    }),
    webhookSecret: new RotatingWebhookSecret(() =>
      readSecret(settings.webhookSecret, ssm, secrets, 'github.webhookSecret'),
    ),
    launchDeps: async (log) => {
      const [github, ec2] = await Promise.all([runtime.github(), runtime.ec2()]);
      return {
        github,
        ec2,
        store: runtime.store,
        logger: log,
        runnerScope: settings.runnerScope,
        runnerGroupId: settings.runnerGroupId,
        instanceArnPrefix: settings.instanceArnPrefix,
        ownerTag: settings.ownerTag,
        bootTimeoutMs: settings.bootTimeoutMs,
      };
    },
  };
  return runtime;
}
