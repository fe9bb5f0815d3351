/**
 * The wiring every handler shares: settings read once per container, one logger, and one of each
 * adapter (state store, EC2 launcher, GitHub client, config source). Secrets are fetched once per
 * container, lazily, so a handler that does not need them never pays for them.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EC2Client } from '@aws-sdk/client-ec2';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SSMClient } from '@aws-sdk/client-ssm';
import { loadSettings, Settings } from './core/settings';
import { Ec2Launcher } from './adapters/ec2-launcher';
import { createGitHubClient, GitHubRunners } from './adapters/github';
import { RunnerConfigSource } from './adapters/runner-config-source';
import { readSecret } from './adapters/secrets';
import { StateStore } from './adapters/state-store';
import type { LaunchDeps } from './launch/launch-job';
import { RotatingWebhookSecret, rotatingGitHubClient } from './adapters/rotating-secrets';

/** Everything a handler uses, built once per container. */
export interface Runtime {
  readonly settings: Settings;
  readonly logger: Logger;
  readonly store: StateStore;
  readonly ec2: Ec2Launcher;
  readonly configs: RunnerConfigSource;
  /** The GitHub client, created on first use (it needs the private key). */
  github(): Promise<GitHubRunners>;
  /** The webhook secret: the current one (fetched on first use) and, after a rotation, the previous one for a while. */
  readonly webhookSecret: RotatingWebhookSecret;
  /** The launch path's dependencies, logging to `logger`. */
  launchDeps(logger: Logger): Promise<LaunchDeps>;
}

// Timeouts well inside GitHub's delivery budget; the callers' retries handle the rest.
const requestHandler = { connectionTimeout: 2000, requestTimeout: 5000 };

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
    // Our own retries bound EC2 calls by the delivery budget; the SDK's would not.
    ec2: new Ec2Launcher(new EC2Client({ requestHandler, maxAttempts: 1 })),
    configs,
    github: once(async () =>
      rotatingGitHubClient(
        (privateKey) =>
          createGitHubClient({
            apiUrl: settings.githubApiUrl,
            appId: settings.githubAppId,
            privateKey,
            onWarning: (message) => logger.warn('GitHub API warning', { message }),
            requestTimeoutMs: settings.githubRequestTimeoutMs,
          }),
        () => readSecret(settings.githubPrivateKey, ssm, secrets),
        logger,
      ),
    ),
    webhookSecret: new RotatingWebhookSecret(() => readSecret(settings.webhookSecret, ssm, secrets)),
    launchDeps: async (log) => ({
      github: await runtime.github(),
      ec2: runtime.ec2,
      store: runtime.store,
      logger: log,
      runnerScope: settings.runnerScope,
      runnerGroupId: settings.runnerGroupId,
      instanceArnPrefix: settings.instanceArnPrefix,
      ownerTag: settings.ownerTag,
      bootTimeoutMs: settings.bootTimeoutMs,
    }),
  };
  return runtime;
}
