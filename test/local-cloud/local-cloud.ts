/**
 * The whole local cloud for end-to-end tests and the benchmark: dynalite, the EC2, SSM/Secrets
 * Manager and GitHub emulators, seeded with a GitHub App, its installation, secrets and runner
 * configs, and the Lambda environment that points the real handlers at them.
 */
import { sign } from '@octokit/webhooks-methods';
import { StoredRunnerConfig } from '../../lambda/core/runner-config';
import { AwsJsonEmulator } from './aws-json-emulator';
import { createStateTable, LocalDynamo, startDynamo } from './dynamodb';
import { Ec2Emulator } from './ec2-emulator';
import { GitHubEmulator, type Permissions } from './github-emulator';

/** Options of one local cloud. */
export interface LocalCloudOptions {
  /** Serve GitHub as GHES (`/api/v3`). */
  readonly ghes?: boolean;
  readonly runnerScope?: 'org' | 'repo';
  readonly configs?: Partial<StoredRunnerConfig>[];
  readonly allowedOwners?: string[];
  readonly allowedRepositories?: string[];
  readonly deliveryBudgetMs?: number;
  /** The permissions granted to the app's installation. @default what the runners need */
  readonly installationPermissions?: Permissions;
  /** How instances start: `pending` lets a simulation boot them. @default 'running' */
  readonly ec2LaunchState?: 'pending' | 'running';
  /** More Lambda environment (timeouts, say). */
  readonly extraEnv?: Record<string, string>;
}

/** A running local cloud. */
export interface LocalCloud {
  readonly dynamo: LocalDynamo;
  readonly ec2: Ec2Emulator;
  readonly aws: AwsJsonEmulator;
  readonly github: GitHubEmulator;
  /** The Lambda environment, as the construct would set it, pointed at the local cloud. */
  readonly env: Record<string, string>;
  readonly tableName: string;
  readonly webhookSecret: string;
  readonly privateKeyPem: string;
  readonly installationId: number;
  readonly configs: StoredRunnerConfig[];
  /** Secrets the handlers must never log. */
  secrets(): string[];
  stop(): Promise<void>;
}

/** The owner and repository every delivery comes from by default. */
export const OWNER = 'acme';
export const REPOSITORY = 'acme/app';
const APP_ID = 4242;
const INSTALLATION_ID = 77;
const CONFIG_PATH = '/cdk-ephemeral-runners/test/runner-configs';

/** A stored runner config with sensible test values. */
export function testConfig(over: Partial<StoredRunnerConfig> = {}): StoredRunnerConfig {
  return {
    name: 'linux',
    labels: ['self-hosted', 'linux', 'x64'],
    instanceTypes: ['m7i.large', 'm6i.large'],
    architecture: 'x64',
    spotStrategy: 'spotPreferred',
    launchTemplateId: 'lt-0123456789abcdef0',
    subnetIds: ['subnet-aaaa', 'subnet-bbbb'],
    maxJobRuntimeMinutes: 360,
    order: 0,
    ...over,
  };
}

/** Starts every server on 127.0.0.1 and seeds them. */
export async function startLocalCloud(options: LocalCloudOptions = {}): Promise<LocalCloud> {
  const [dynamo, ec2, aws, github] = await Promise.all([
    startDynamo(),
    Ec2Emulator.start({ launchState: options.ec2LaunchState }),
    AwsJsonEmulator.start(),
    GitHubEmulator.start({ ghes: options.ghes }),
  ]);
  const tableName = 'runner-state';
  await createStateTable(dynamo.client, tableName);

  const { privateKeyPem } = github.registerApp(APP_ID);
  github.addInstallation({
    id: INSTALLATION_ID,
    appId: APP_ID,
    account: OWNER,
    accountType: 'Organization',
    permissions: options.installationPermissions,
  });
  const webhookSecret = `whsec-${Math.random().toString(36).slice(2)}`;
  const keyArn = aws.putSecret('github-app-key', privateKeyPem);
  aws.putParameter('/cdk-ephemeral-runners/test/webhook-secret', webhookSecret, 'SecureString');

  const configs = (options.configs ?? [{}]).map((c, i) => testConfig({ order: i, ...c }));
  for (const c of configs) aws.putParameter(`${CONFIG_PATH}/${c.name}`, JSON.stringify(c));

  const env: Record<string, string> = {
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
    AWS_ENDPOINT_URL_EC2: ec2.endpoint,
    AWS_ENDPOINT_URL_SSM: aws.endpoint,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: aws.endpoint,
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    POWERTOOLS_SERVICE_NAME: 'cdk-ephemeral-runners-test',
    STATE_TABLE_NAME: tableName,
    RUNNER_CONFIG_PATH: CONFIG_PATH,
    GITHUB_URL: options.ghes ? github.webUrl : 'https://github.com',
    ...(options.ghes ? {} : { GITHUB_API_URL: github.apiUrl }),
    GITHUB_APP_ID: String(APP_ID),
    GITHUB_PRIVATE_KEY_REF: `secretsmanager:${keyArn}`,
    GITHUB_WEBHOOK_SECRET_REF: 'ssm:/cdk-ephemeral-runners/test/webhook-secret',
    RUNNER_SCOPE: options.runnerScope ?? 'org',
    RUNNER_GROUP_ID: '1',
    ALLOWED_OWNERS: (options.allowedOwners ?? []).join(','),
    ALLOWED_REPOSITORIES: (options.allowedRepositories ?? []).join(','),
    DELIVERY_BUDGET_MS: String(options.deliveryBudgetMs ?? 8000),
    INSTANCE_ARN_PREFIX: 'arn:aws:ec2:us-east-1:123456789012:instance/',
    RUNNER_OWNER_TAG: 'test-deployment',
    ...options.extraEnv,
  };

  return {
    dynamo,
    ec2,
    aws,
    github,
    env,
    tableName,
    webhookSecret,
    privateKeyPem,
    installationId: INSTALLATION_ID,
    configs,
    secrets: () => [
      webhookSecret,
      ...privateKeyPem.split('\n').filter((l) => l.length > 40),
      ...github.issuedTokens,
    ],
    stop: async () => {
      await Promise.all([dynamo.stop(), ec2.stop(), aws.stop(), github.stop()]);
    },
  };
}

/** The fields of a `workflow_job` payload a test varies. */
export interface JobSpec {
  readonly action?: string;
  readonly jobId: number;
  readonly runAttempt?: number;
  readonly labels?: string[];
  readonly repository?: string;
  readonly runnerName?: string | null;
  readonly conclusion?: string | null;
}

/** A `workflow_job` payload shaped like GitHub's (the fields we read, and a few we do not). */
export function workflowJobPayload(spec: JobSpec): Record<string, unknown> {
  const repository = spec.repository ?? REPOSITORY;
  const [owner, name] = repository.split('/');
  return {
    action: spec.action ?? 'queued',
    workflow_job: {
      id: spec.jobId,
      run_id: spec.jobId * 10,
      workflow_name: 'CI',
      head_branch: 'main',
      run_url: `https://api.github.com/repos/${repository}/actions/runs/${spec.jobId * 10}`,
      run_attempt: spec.runAttempt ?? 1,
      node_id: 'CR_kwDO',
      head_sha: 'f'.repeat(40),
      url: `https://api.github.com/repos/${repository}/actions/jobs/${spec.jobId}`,
      html_url: `https://github.com/${repository}/actions/runs/${spec.jobId * 10}/job/${spec.jobId}`,
      status:
        spec.action === 'completed' ? 'completed' : spec.action === 'in_progress' ? 'in_progress' : 'queued',
      conclusion: spec.conclusion ?? null,
      created_at: '2026-11-23T08:00:00Z',
      started_at: '2026-11-23T08:00:01Z',
      completed_at: null,
      name: 'build',
      steps: [],
      check_run_url: `https://api.github.com/repos/${repository}/check-runs/${spec.jobId}`,
      labels: spec.labels ?? ['self-hosted', 'linux'],
      runner_id: spec.runnerName ? 12 : null,
      runner_name: spec.runnerName ?? null,
      runner_group_id: spec.runnerName ? 1 : null,
      runner_group_name: spec.runnerName ? 'Default' : null,
    },
    repository: {
      id: 1296269,
      name,
      full_name: repository,
      private: true,
      owner: { login: owner, id: 1, type: 'Organization' },
    },
    organization: { login: owner, id: 1 },
    sender: { login: 'octocat', id: 2, type: 'User' },
    installation: { id: INSTALLATION_ID, node_id: 'MDIz' },
  };
}

/** Options of one delivery. */
export interface DeliveryOptions {
  readonly event?: string;
  readonly deliveryId?: string;
  readonly base64?: boolean;
  /** Sign with another secret (a forged delivery). */
  readonly secret?: string;
  readonly contentType?: string;
  /** A raw body instead of the JSON of the payload. */
  readonly rawBody?: string;
  readonly omitSignature?: boolean;
}

/** An API Gateway HTTP API (payload v2) event carrying a signed GitHub delivery. */
export async function apiGatewayEvent(
  cloud: Pick<LocalCloud, 'webhookSecret'>,
  payload: unknown,
  o: DeliveryOptions = {},
) {
  const body = o.rawBody ?? JSON.stringify(payload);
  const signature = await sign(o.secret ?? cloud.webhookSecret, body);
  const headers: Record<string, string> = {
    'content-type': o.contentType ?? 'application/json',
    'user-agent': 'GitHub-Hookshot/abc1234',
    'x-github-event': o.event ?? 'workflow_job',
    'x-github-delivery': o.deliveryId ?? `${Math.random().toString(16).slice(2)}-delivery`,
    'x-github-hook-id': '123',
    'x-github-hook-installation-target-type': 'integration',
    'x-github-hook-installation-target-id': '4242',
  };
  if (!o.omitSignature) headers['x-hub-signature-256'] = signature;
  return {
    version: '2.0',
    routeKey: 'POST /webhook',
    rawPath: '/webhook',
    rawQueryString: '',
    headers,
    requestContext: {
      http: {
        method: 'POST',
        path: '/webhook',
        protocol: 'HTTP/1.1',
        sourceIp: '140.82.115.1',
        userAgent: 'GitHub-Hookshot/abc1234',
      },
      requestId: 'req',
      routeKey: 'POST /webhook',
      stage: '$default',
      timeEpoch: Date.now(),
    },
    body: o.base64 ? Buffer.from(body).toString('base64') : body,
    isBase64Encoded: o.base64 ?? false,
  };
}
