/**
 * The `EphemeralRunners` construct: ephemeral, just-in-time GitHub Actions runners on EC2 spot. It
 * composes the smaller constructs (state table, runner configs, fleet, image, webhook API, retry and
 * reconciler schedules) and wires the Lambdas' settings and permissions.
 */
import { Annotations, Aws, CfnOutput, Duration, Fn, Stack, Token, Tokenization } from 'aws-cdk-lib';
import type * as apigateway from 'aws-cdk-lib/aws-apigateway';
import type * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { ENV } from '../lambda/core/settings';
import { INSTANCE_TAGS } from '../lambda/core/state-schema';
import { allowLogsToUseKey } from './encryption';
import {
  GitHubSecret,
  LAMBDA_CA_BUNDLE_PATH,
  allowlistProblems,
  caCertificatesLayer,
  deliveryBudgetMs,
  deliveryBudgetProblems,
  generatedWebhookSecret,
  gitHubProblems,
} from './github-app';
import type { EphemeralRunnersProps } from './ephemeral-runners-props';
import { handlerFunction } from './lambda-assets';
import {
  DEFAULT_BOOT_TIMEOUT,
  DEFAULT_IDLE_TIMEOUT,
  DEFAULT_REDELIVERY_LOOKBACK,
  DEFAULT_RECONCILE_INTERVAL,
  ReconcilerSchedule,
  reconcileFunctionTimeout,
  reconcilerTimingProblems,
  timeoutSecondsSetting,
} from './reconciler';
import { InterruptionRules, interruptionEnvironment, interruptionProblems } from './interruptions';
import { RetrySchedule } from './retry-schedule';
import { RunnerFleet, defaultRunnerVpc, runnerSubnets } from './runner-fleet';
import { RunnerImage } from './runner-image';
import {
  DEFAULT_RUNNER_CONFIG,
  RunnerConfigStore,
  resolveRunnerConfigs,
  unknownInstanceFamilies,
} from './runner-configs';
import { StateTable } from './state-table';
import { DeploymentTeardown, TEARDOWN_FUNCTION_TIMEOUT } from './teardown';
import { WebhookApi } from './webhook-api';
import { PrivateEndpoint, PublicEndpoint, WebhookEndpoint } from './webhook-endpoint';
import { WebhookPrivateApi } from './webhook-private-api';
import { LambdaNetwork } from './lambda-network';

export type { EphemeralRunnersProps } from './ephemeral-runners-props';

/**
 * GitHub Actions runners that live for one job: a GitHub App webhook launches a fresh EC2 (spot)
 * instance per `workflow_job`, which registers just in time, runs the job and terminates.
 */
export class EphemeralRunners extends Construct {
  /** The URL to set as the GitHub App's webhook URL (also a stack output). */
  public readonly webhookUrl: string;
  /** The state table (jobs, JIT handoffs). */
  public readonly table: dynamodb.ITable;
  /** The launch template of each runner config, by config name. */
  public readonly launchTemplates: Record<string, ec2.LaunchTemplate>;
  /** The function answering GitHub's webhooks. */
  public readonly webhookHandler: lambda.IFunction;
  /** The function run every minute to retry launches and recover lost jobs. */
  public readonly retryHandler: lambda.IFunction;
  /**
   * The reconciler, run every `reconcileInterval` and on EC2 instances shutting down: it compares the job
   * records with the instances and runner registrations that exist and repairs the difference.
   */
  public readonly reconcileHandler: lambda.IFunction;
  /**
   * The function EC2's spot interruption warnings and rebalance recommendations go to: it relaunches a
   * job that has not started away from the interrupted pool, and records a running one for its re-run.
   */
  public readonly interruptHandler: lambda.IFunction;
  /** The role of the runner instances. */
  public readonly runnerRole: iam.IRole;
  /** The security group of the runner instances (no ingress). */
  public readonly runnerSecurityGroup: ec2.ISecurityGroup;
  /** The VPC of the runners. */
  public readonly vpc: ec2.IVpc;
  /** SSM path of the runner configs. */
  public readonly configPath: string;
  /** The generated webhook secret, when `github.webhookSecret` was not given. */
  public readonly webhookSecret?: secretsmanager.ISecret;
  /** The image pipeline, when a runner config uses `RunnerAmi.baked()`. */
  public readonly image?: RunnerImage;
  /** The HTTP API of the webhook (undefined with `WebhookEndpoint.privateRestApi()`). */
  public readonly api?: apigwv2.HttpApi;
  /** The private REST API of the webhook, with `WebhookEndpoint.privateRestApi()`. */
  public readonly restApi?: apigateway.RestApi;
  /**
   * Value of the `ephemeral-runners:owner` tag on every instance of this deployment (also a stack output):
   * IAM lets the Lambdas terminate only instances carrying it.
   */
  public readonly ownerTag: string;
  private readonly stateTable: StateTable;

  constructor(scope: Construct, id: string, props: EphemeralRunnersProps) {
    super(scope, id);
    if (props?.github === undefined || props.github === null || typeof props.github !== 'object')
      throw new Error(
        `EphemeralRunners ${this.node.path}: invalid props:\n  - github is missing: give { appId, privateKey } of the GitHub App`,
      );
    const github = props.github;
    const url = github.url ?? 'https://github.com';
    const { configs, problems } = resolveRunnerConfigs(
      props.runnerConfigs ?? [DEFAULT_RUNNER_CONFIG],
      props.image?.volumeSizeGiB,
    );
    this.configPath = props.configPath ?? this.defaultConfigPath();
    problems.unshift(
      ...gitHubProblems(github),
      ...allowlistProblems(props.allowedOwners, props.allowedRepositories),
    );
    problems.push(
      ...deliveryBudgetProblems(props.deliveryBudget, url),
      ...this.settingsProblems(props),
      ...reconcilerTimingProblems(props),
      ...interruptionProblems(props, configs),
    );
    if (props.runnerConfigs !== undefined && props.runnerConfigs.length === 0)
      problems.push('runnerConfigs is empty: give at least one runner config, or omit it for the default');
    problems.push(...(props.webhookEndpoint?.problems() ?? []));
    if (problems.length > 0)
      throw new Error(`EphemeralRunners ${this.node.path}: invalid props:\n  - ${problems.join('\n  - ')}`);
    for (const c of configs) {
      const unknown = unknownInstanceFamilies(c.instanceTypes);
      if (unknown.length > 0)
        Annotations.of(this).addWarningV2(
          'cdk-ephemeral-runners:unknownInstanceFamily',
          `runnerConfigs[${c.order}] ("${c.name}").instanceTypes: ${unknown.join(', ')} of a family aws-cdk-lib does not know: check the spelling (a new family is fine)`,
        );
    }
    const dataKey = props.encryptionKey;
    if (dataKey) allowLogsToUseKey(dataKey);

    this.vpc = props.vpc ?? defaultRunnerVpc(this, 'Vpc', { lambdaSubnets: props.lambdaVpc !== undefined });
    // The created VPC's runners stay in its public subnets when it also has the Lambdas' isolated ones.
    const runnerSelection = props.subnetSelection ?? (props.vpc ? undefined : { subnetGroupName: 'Runners' });
    const subnets = runnerSubnets(this.vpc, runnerSelection, `EphemeralRunners ${this.node.path}`);
    // Every handlerFunction below finds it: in the VPC and behind the proxy when asked, else nothing.
    const network = LambdaNetwork.create(this, {
      vpc: this.vpc,
      vpcCreatedHere: props.vpc === undefined,
      inVpc: props.lambdaVpc,
      proxy: props.proxy,
    });
    const logRetention = props.logRetention ?? logs.RetentionDays.ONE_MONTH;
    this.stateTable = new StateTable(this, 'State', {
      removalPolicy: props.stateRemovalPolicy,
      encryptionKey: dataKey,
    });
    this.table = this.stateTable.table;

    const bakedArchitectures = [...new Set(configs.filter((c) => c.ami.isBaked).map((c) => c.architecture))];
    if (bakedArchitectures.length > 0) {
      this.image = new RunnerImage(this, 'Image', {
        ...props.image,
        vpc: this.vpc,
        subnetSelection: runnerSelection,
        architectures: bakedArchitectures,
        extraCaCertificates: github.extraCaCertificates,
      });
    }
    // Marks the instances of this deployment: IAM lets the handlers launch and terminate only those.
    const ownerTag = `${this.stackName()}-${this.node.addr}`;
    const fleet = new RunnerFleet(this, 'Fleet', {
      vpc: this.vpc,
      subnetIds: subnets.subnetIds,
      publicSubnets: subnets.public,
      configs,
      stateTable: this.stateTable,
      ownerTag,
      logRetention,
      bakedAmiParameterName: this.image ? (arch) => this.image!.amiParameterName(arch) : undefined,
      bakedAmiParameterCreated: this.image ? (arch) => this.image!.amiParameterCreated(arch) : undefined,
      extraCaCertificates: github.extraCaCertificates,
      runnerPackage: this.image?.runnerPackage ?? props.image?.runnerPackage,
      ebsEncryptionKey: props.ebsEncryptionKey,
      dataEncryptionKey: dataKey,
    });
    this.launchTemplates = fleet.launchTemplates;
    this.runnerRole = fleet.role;
    this.runnerSecurityGroup = fleet.securityGroup;
    network.admitToEndpoints(fleet.securityGroup);
    const configStore = new RunnerConfigStore(this, 'RunnerConfigs', {
      path: this.configPath,
      configs,
      launch: Object.fromEntries(
        configs.map((c) => [
          c.name,
          {
            launchTemplateId: fleet.launchTemplates[c.name].launchTemplateId!,
            launchTemplateVersion: fleet.launchTemplates[c.name].latestVersionNumber,
            subnetIds: subnets.subnetIds,
          },
        ]),
      ),
    });

    const privateKey = github.privateKey.bind(this, 'PrivateKey');
    this.webhookSecret = github.webhookSecret
      ? undefined
      : generatedWebhookSecret(this, 'WebhookSecret', dataKey);
    const webhookSecret = (github.webhookSecret ?? GitHubSecret.fromSecretsManager(this.webhookSecret!)).bind(
      this,
      'WebhookSecretRef',
    );
    const environment: Record<string, string> = {
      [ENV.stateTable]: this.table.tableName,
      [ENV.configPath]: this.configPath,
      [ENV.githubUrl]: url,
      [ENV.githubAppId]: github.appId,
      [ENV.githubPrivateKey]: privateKey.ref,
      [ENV.webhookSecret]: webhookSecret.ref,
      [ENV.runnerScope]: github.runnerScope ?? 'org',
      [ENV.runnerGroupId]: Tokenization.stringifyNumber(github.runnerGroupId ?? 1),
      [ENV.deliveryBudgetMs]: deliveryBudgetMs(this, props.deliveryBudget, url),
      [ENV.pendingDeadlineMinutes]: Tokenization.stringifyNumber(
        (props.pendingDeadline ?? Duration.hours(24)).toMinutes(),
      ),
      [ENV.instanceArnPrefix]: `arn:${Aws.PARTITION}:ec2:${Aws.REGION}:${Aws.ACCOUNT_ID}:instance/`,
      [ENV.ownerTag]: ownerTag,
      // The launch sets an instance's expiry from the boot timeout: every handler has both timeouts.
      [ENV.bootTimeoutSeconds]: timeoutSecondsSetting(props.bootTimeout ?? DEFAULT_BOOT_TIMEOUT),
      [ENV.idleTimeoutSeconds]: timeoutSecondsSetting(props.idleTimeout ?? DEFAULT_IDLE_TIMEOUT),
      [ENV.redeliveryLookbackSeconds]: timeoutSecondsSetting(
        props.redeliveryLookback ?? DEFAULT_REDELIVERY_LOOKBACK,
      ),
      ...joinedList(ENV.allowedOwners, props.allowedOwners),
      ...joinedList(ENV.allowedRepositories, props.allowedRepositories),
      ...interruptionEnvironment(props),
    };
    const caCertificates = github.extraCaCertificates ?? [];
    const layers =
      caCertificates.length > 0 ? [caCertificatesLayer(this, 'CaCertificates', caCertificates)] : undefined;
    if (layers) environment.NODE_EXTRA_CA_CERTS = LAMBDA_CA_BUNDLE_PATH;

    const webhook = handlerFunction(this, 'WebhookHandler', {
      handler: 'webhook',
      description: 'Answers the workflow_job webhooks of the GitHub App and launches runners',
      environment,
      timeout: Duration.seconds(30), // the most API Gateway waits
      memorySize: 1024,
      logRetention,
      layers,
      logEncryptionKey: dataKey,
    });
    const retry = handlerFunction(this, 'RetryHandler', {
      handler: 'retry',
      description:
        'Every minute: launches the jobs whose launch was deferred, or left behind by a failed webhook',
      environment,
      timeout: Duration.seconds(50),
      memorySize: 512,
      logRetention,
      layers,
      logEncryptionKey: dataKey,
    });
    for (const fn of [webhook, retry]) {
      this.stateTable.grantReadWriteData(fn);
      configStore.grantRead(fn);
      privateKey.grantRead(fn);
      fleet.grantLaunch(fn);
    }
    webhookSecret.grantRead(webhook); // only the webhook verifies signatures
    this.webhookHandler = webhook;
    this.retryHandler = retry;

    const reconcileInterval = props.reconcileInterval ?? DEFAULT_RECONCILE_INTERVAL;
    const reconcile = handlerFunction(this, 'ReconcileHandler', {
      handler: 'reconcile',
      description:
        'On a schedule and on EC2 state changes: reaps stuck, idle or orphaned runners, deletes ghost registrations, reopens lost jobs, redelivers failed webhook deliveries',
      environment,
      timeout: reconcileFunctionTimeout(reconcileInterval),
      memorySize: 512,
      logRetention,
      layers,
      logEncryptionKey: dataKey,
    });
    // It calls GitHub with the App and terminates instances, but never launches: no grantLaunch (no
    // CreateFleet, RunInstances or PassRole), and no webhook secret.
    this.stateTable.grantReadWriteData(reconcile);
    configStore.grantRead(reconcile);
    privateKey.grantRead(reconcile);
    fleet.grantReap(reconcile);
    this.reconcileHandler = reconcile;

    const interrupt = handlerFunction(this, 'InterruptHandler', {
      handler: 'interrupt',
      description:
        'On EC2 spot interruption warnings and rebalance recommendations: relaunches jobs not started away from the pool, records running ones for a re-run, counts the circuit breaker',
      environment,
      timeout: Duration.seconds(60), // the warning comes two minutes ahead
      memorySize: 512,
      logRetention,
      layers,
      logEncryptionKey: dataKey,
    });
    // It launches replacements: the launch grants (which include terminating owned instances); no
    // webhook secret.
    this.stateTable.grantReadWriteData(interrupt);
    configStore.grantRead(interrupt);
    privateKey.grantRead(interrupt);
    fleet.grantLaunch(interrupt);
    this.interruptHandler = interrupt;
    new InterruptionRules(this, 'InterruptionRules', { handler: interrupt });

    const endpoint = props.webhookEndpoint ?? WebhookEndpoint.publicHttpApi();
    const throttle = props.webhookThrottle ?? { rateLimit: 100, burstLimit: 200 };
    if (endpoint instanceof PrivateEndpoint) {
      const api = new WebhookPrivateApi(this, 'WebhookPrivateApi', {
        ...endpoint.options,
        vpc: this.vpc,
        defaultSubnets: network.subnets ? { subnets: network.subnets.subnets } : undefined,
        handler: webhook,
        throttle,
        logRetention,
        logEncryptionKey: dataKey,
      });
      this.restApi = api.api;
      this.webhookUrl = api.url;
    } else {
      const api = new WebhookApi(this, 'WebhookApi', {
        handler: webhook,
        throttle,
        logRetention,
        logEncryptionKey: dataKey,
      });
      this.api = api.api;
      this.webhookUrl = api.url;
      const cidrs = (endpoint as PublicEndpoint).options.allowedSourceCidrs;
      if (cidrs !== undefined)
        webhook.addEnvironment(
          ENV.webhookSourceCidrs,
          Token.isUnresolved(cidrs) ? Fn.join(',', cidrs) : cidrs.join(','),
        );
    }
    new RetrySchedule(this, 'RetrySchedule', { handler: retry });
    new ReconcilerSchedule(this, 'ReconcilerSchedule', { handler: reconcile, interval: reconcileInterval });
    new CfnOutput(this, 'WebhookUrl', {
      value: this.webhookUrl,
      description: 'Webhook URL of the GitHub App',
    });

    // On delete: terminate this deployment's instances and delete its registrations, after everything
    // that launches is gone and before the fleet, the VPC and the table go.
    const teardown = handlerFunction(this, 'TeardownHandler', {
      handler: 'teardown',
      description:
        'On stack deletion: terminates the runner instances of this deployment and deletes its runner registrations',
      environment,
      timeout: TEARDOWN_FUNCTION_TIMEOUT,
      memorySize: 256,
      logRetention,
      layers,
      logEncryptionKey: dataKey,
    });
    this.stateTable.grantReadRecords(teardown);
    privateKey.grantRead(teardown);
    fleet.grantReap(teardown);
    const removal = new DeploymentTeardown(this, 'Teardown', {
      handler: teardown,
      deleteAfter: [fleet, this.vpc, this.stateTable],
    });
    removal.deleteBefore(webhook, retry, reconcile, interrupt);
    this.ownerTag = ownerTag;
    new CfnOutput(this, 'StateTableName', {
      value: this.table.tableName,
      description:
        'State table: one item per job (pk job#{host}#{job id}#{run attempt}); kept after a stack deletion by default',
    });
    new CfnOutput(this, 'OwnerTag', {
      value: ownerTag,
      description: `Value of the ${INSTANCE_TAGS.owner} tag on every instance this deployment launches`,
    });
  }

  /** Allows a principal to read the state table (jobs and their runners), for dashboards and tools. */
  public grantReadState(grantee: iam.IGrantable): iam.Grant {
    return this.table.grantReadData(grantee);
  }

  /** Errors of the webhook function (unhandled failures, not rejected deliveries). */
  public metricWebhookErrors(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.webhookHandler.metricErrors(props);
  }

  /** Throttled invocations of the webhook function. */
  public metricWebhookThrottles(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.webhookHandler.metricThrottles(props);
  }

  /** Errors of the retry function. */
  public metricRetryErrors(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.retryHandler.metricErrors(props);
  }

  /** Errors of the reconciler function (failed runs, including those triggered by instance state changes). */
  public metricReconcileErrors(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.reconcileHandler.metricErrors(props);
  }

  /** Errors of the interruption function (spot interruption warnings and rebalance recommendations). */
  public metricInterruptErrors(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.interruptHandler.metricErrors(props);
  }

  /** 5xx answers of the webhook endpoint: deliveries GitHub records as failed. */
  public metricWebhookServerErrors(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return (this.api ?? this.restApi!).metricServerError(props);
  }

  /** 4xx answers of the webhook endpoint: bad signatures, unknown routes, throttling. */
  public metricWebhookClientErrors(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return (this.api ?? this.restApi!).metricClientError(props);
  }

  /** The stack's name, or its id when the name is a token. */
  private stackName(): string {
    const stack = Stack.of(this);
    return Token.isUnresolved(stack.stackName) ? stack.node.id : stack.stackName;
  }

  private defaultConfigPath(): string {
    const stack = Stack.of(this);
    const stackName = this.stackName();
    const segments = this.node.scopes.slice(stack.node.scopes.length).map((s) => s.node.id);
    const clean = (s: string): string => s.replace(/[^A-Za-z0-9_.-]/g, '-');
    return `/cdk-ephemeral-runners/${[stackName, ...segments].map(clean).join('/')}/runner-configs`;
  }

  private settingsProblems(props: EphemeralRunnersProps): string[] {
    const problems: string[] = [];
    const path = props.configPath;
    if (path !== undefined && !Token.isUnresolved(path) && !/^(\/[A-Za-z0-9_.-]+)+$/.test(path))
      problems.push(
        `configPath "${path}" must begin with "/" and hold only letters, digits, "_", ".", "-" and "/"`,
      );
    const deadline = props.pendingDeadline;
    if (deadline !== undefined && !deadline.isUnresolved()) {
      const minutes = deadline.toMinutes({ integral: false });
      if (!(Number.isInteger(minutes) && minutes >= 1 && minutes <= 24 * 60))
        problems.push(
          `pendingDeadline ${deadline.toHumanString()} must be whole minutes between 1 minute and 24 hours (GitHub cancels a job queued for 24 hours)`,
        );
    }
    return problems;
  }
}

/** An environment entry with a comma-joined list; none for an empty literal list. */
function joinedList(name: string, list: string[] | undefined): Record<string, string> {
  if (list === undefined || (!Token.isUnresolved(list) && list.length === 0)) return {};
  const literal = !Token.isUnresolved(list) && list.every((v) => !Token.isUnresolved(v));
  return { [name]: literal ? list.join(',') : Fn.join(',', list) };
}
