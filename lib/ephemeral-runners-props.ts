/**
 * The props of the `EphemeralRunners` construct: what a user of the library configures, each with its
 * default. Validated by the construct at synthesis.
 */
import type { Duration, RemovalPolicy } from 'aws-cdk-lib';
import type * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type { GitHubProps } from './github-app';
import type { BindingLabelsProps, SpotCircuitBreakerProps } from './interruptions';
import type { LambdaProxyOptions, LambdaVpcOptions } from './lambda-network';
import type { WebhookEndpoint } from './webhook-endpoint';
import type { RunnerImageOptions } from './runner-image';
import type { RunnerConfigProps } from './runner-configs';

/** Props of `EphemeralRunners`. */
export interface EphemeralRunnersProps {
  /** The GitHub App and where runners register. */
  readonly github: GitHubProps;
  /**
   * The kinds of runners. Each is stored as an SSM String parameter `{configPath}/{name}`.
   * @default - one config "default": labels self-hosted, linux, x64 on m7i/m6i/m5/c7i large instances
   */
  readonly runnerConfigs?: RunnerConfigProps[];
  /**
   * The VPC of the runners. Public subnets give runners a public IP; private subnets need a NAT or
   * other egress to reach GitHub.
   * @default - a new VPC with public subnets only and no NAT gateway, which costs nothing while idle
   */
  readonly vpc?: ec2.IVpc;
  /**
   * The subnets of the runners (and of the image builds) in the VPC; all public or all private.
   * @default - the VPC's private subnets with egress, or its public subnets when it has none
   */
  readonly subnetSelection?: ec2.SubnetSelection;
  /**
   * Owners (organizations or users) whose repositories may use the runners. May be a token.
   * @default - none: with no allowedRepositories either, every repository the App is installed on
   */
  readonly allowedOwners?: string[];
  /**
   * Repositories (`owner/repo`) that may use the runners, besides those of the allowedOwners.
   * @default - none
   */
  readonly allowedRepositories?: string[];
  /**
   * How long the webhook may spend launching before it answers GitHub and leaves the job to the retry
   * schedule. GitHub waits 10 s (github.com) or 30 s (GHES) for an answer.
   * @default - 8 seconds for github.com, 25 seconds for GitHub Enterprise Server
   */
  readonly deliveryBudget?: Duration;
  /**
   * How long a job that could not be launched is retried before it is given up (GitHub cancels a job
   * queued for 24 hours).
   * @default Duration.hours(24)
   */
  readonly pendingDeadline?: Duration;
  /**
   * How often the reconciler runs: it terminates this deployment's stuck, idle, orphaned or expired
   * instances, deletes runner registrations nothing will use, and reopens jobs whose runner was lost.
   * Whole minutes from 1 to 60; a token must be `Duration.minutes(token)` above 1 (EventBridge refuses
   * `rate(1 minutes)`).
   * @default Duration.minutes(2)
   */
  readonly reconcileInterval?: Duration;
  /**
   * How long a launched runner may take to come online at GitHub before the reconciler terminates it and
   * reopens its job. On the first deploy, before the first image is baked, the runner is installed at
   * boot (one to three minutes): that must fit. From 2 minutes to 1 hour; a token must be
   * `Duration.seconds(token)`.
   * @default Duration.minutes(10)
   */
  readonly bootTimeout?: Duration;
  /**
   * How long a runner may be online without a job, counted from its instance's launch: past it the
   * reconciler deregisters the runner and terminates the instance (a runner running a job is not
   * idle). From 1 minute to 2 hours; a token must be `Duration.seconds(token)`.
   * @default Duration.minutes(10)
   */
  readonly idleTimeout?: Duration;
  /**
   * How far back the reconciler's first scan of the App's webhook deliveries looks for failed ones to
   * redeliver, after a deploy (later scans start where the last one stopped). From 1 minute to 3 days
   * (GitHub's window); a token must be `Duration.seconds(token)`.
   * @default Duration.hours(1)
   */
  readonly redeliveryLookback?: Duration;
  /**
   * SSM path under which the runner configs are stored; must begin with `/`.
   * @default '/cdk-ephemeral-runners/{stackName}/{path of this construct}/runner-configs'
   */
  readonly configPath?: string;
  /**
   * Settings of the image pipeline that bakes the runner AMIs, used when a config uses `RunnerAmi.baked()`.
   * @default - the pipeline's defaults
   */
  readonly image?: RunnerImageOptions;
  /**
   * What happens to the state table when it leaves the stack; `RETAIN` also turns on deletion protection.
   * @default RemovalPolicy.RETAIN
   */
  readonly stateRemovalPolicy?: RemovalPolicy;
  /**
   * How long the logs of the Lambdas, the API and the runners are kept.
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly logRetention?: logs.RetentionDays;
  /**
   * Throttling of the webhook endpoint, a guard against floods. A throttled delivery is answered 429, and
   * GitHub does not resend a failed delivery by itself: keep the limits above your peak job rate.
   * @default - 100 requests a second, bursts of 200
   */
  readonly webhookThrottle?: apigwv2.ThrottleSettings;

  // --- Spot interruptions and stolen runners ---
  /**
   * Re-run, once and on-demand, a job that a spot interruption failed while it ran, when its workflow
   * run has completed (GitHub refuses a re-run before). Never a job that failed for another reason,
   * nor one a person already re-ran. Needs the GitHub App's *Actions: write* repository permission; a
   * refusal is logged naming it.
   * @default true
   */
  readonly rerunInterruptedJobs?: boolean;
  /**
   * Treat an `EC2 Instance Rebalance Recommendation` for a runner whose job has not started like an
   * interruption warning: launch a replacement away from that pool and give the instance up.
   * @default true
   */
  readonly replaceOnRebalance?: boolean;
  /**
   * The spot circuit breaker of each `spotPreferred` config: K spot interruptions within W minutes make
   * the config launch on-demand for T minutes. `false` turns it off.
   * @default - 2 interruptions within 15 minutes open it for 30 minutes
   */
  readonly spotCircuitBreaker?: SpotCircuitBreakerProps | false;
  /**
   * Binding labels (opt-in): a job label that matches is left out of routing and added to the labels of
   * the runner launched for that job, so that no other runner can take the job. For example, with
   * `{ prefix: 'bind-' }`, `runs-on: [self-hosted, linux, x64, "bind-${{ github.run_id }}-${{ github.job }}-${{ strategy.job-index }}"]`.
   * The pattern must match no label of any runner config.
   * @default - none: every label routes
   */
  readonly bindingLabels?: BindingLabelsProps;

  // --- Customer-managed KMS keys ---
  /**
   * The customer-managed KMS key of the runners' EBS volumes: give it when the account encrypts EBS by
   * default with a customer-managed key (or to choose one). The launch templates encrypt the root volume
   * with it, and the launching Lambdas get the KMS grants EC2 needs for it (through EC2 only). Spot
   * launches also need the Spot service-linked role `AWSServiceRoleForEC2Spot` to be allowed to use the
   * key, in the key policy or with a grant: see the README, "Customer-managed KMS keys".
   * @default - the account's default EBS key (`aws/ebs`, or the one EBS encryption by default names)
   */
  readonly ebsEncryptionKey?: kms.IKey;
  /**
   * A customer-managed KMS key for the construct's own data: the state table, the log groups of the
   * Lambdas, the API and the runners, and the generated webhook secret. A customer-managed key costs $1 a
   * month (plus $0.03 per 10,000 requests); the default AWS-owned and AWS-managed keys cost nothing. The
   * key policy must let CloudWatch Logs use the key; for a key of this stack the construct adds that
   * statement (see the README for an imported key).
   * @default - AWS-owned keys (DynamoDB, CloudWatch Logs) and the AWS-managed `aws/secretsmanager`
   */
  readonly encryptionKey?: kms.IKey;

  // --- Private networks (GitHub Enterprise Server) ---
  /**
   * Puts every Lambda of the construct in the runners' VPC (private subnets, a security group of their
   * own with no ingress), to reach a GitHub Enterprise Server on your network (Direct Connect, VPN,
   * peering). The AWS APIs are then reached through the endpoints created (the DynamoDB gateway endpoint,
   * free, by default; interface endpoints about $7.30 a month each per AZ) or the VPC's egress or proxy.
   * @default - the Lambdas run outside any VPC (nothing billed while idle)
   */
  readonly lambdaVpc?: LambdaVpcOptions;
  /**
   * An HTTP(S) proxy for the Lambdas' calls to GitHub and the AWS APIs (`HTTPS_PROXY`, `NO_PROXY`).
   * @default - no proxy
   */
  readonly proxy?: LambdaProxyOptions;
  /**
   * Where GitHub delivers the webhooks: `WebhookEndpoint.publicHttpApi()` (optionally only from given
   * source ranges) or `WebhookEndpoint.privateRestApi()` for a GHES that cannot reach the internet.
   * @default WebhookEndpoint.publicHttpApi()
   */
  readonly webhookEndpoint?: WebhookEndpoint;
}
