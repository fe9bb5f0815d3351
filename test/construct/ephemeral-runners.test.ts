import { Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import { App, CfnElement, Stack } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import { ENV } from '../../lambda/core/settings';
import { storedConfigProblems, type StoredRunnerConfig } from '../../lambda/core/runner-config';
import { INSTANCE_TAGS, TTL_ATTRIBUTE } from '../../lambda/core/state-schema';
import { EphemeralRunners, GitHubSecret } from '../../lib';
import { runnersProps, synthRunners } from './support';
import { STATE_TABLE_KEYS } from '../local-cloud/dynamodb';

/** Renders a CloudFormation string expression with `<LogicalId>` / `<LogicalId.Attr>` for references. */
function render(value: unknown): string {
  if (typeof value === 'string') return value;
  const v = value as Record<string, unknown>;
  if ('Ref' in v) return `<${v.Ref}>`;
  if ('Fn::GetAtt' in v) return `<${(v['Fn::GetAtt'] as string[]).join('.')}>`;
  if ('Fn::Join' in v) {
    const [sep, parts] = v['Fn::Join'] as [string, unknown[]];
    return parts.map(render).join(sep);
  }
  throw new Error(`cannot render ${JSON.stringify(value)}`);
}

function onlyResource(template: ReturnType<typeof synthRunners>['template'], type: string, props?: object) {
  const found = template.findResources(type, props ? { Properties: props } : undefined);
  const entries = Object.entries(found);
  expect(entries).toHaveLength(1);
  return { logicalId: entries[0][0], resource: entries[0][1] as { Properties: Record<string, unknown> } };
}

describe('EphemeralRunners with the defaults', () => {
  const { stack, runners, template } = synthRunners();
  const logicalId = (c: IConstruct) => stack.getLogicalId((c.node.defaultChild ?? c) as CfnElement);
  // Template JSON is untyped; the assertions below check its shape.
  type Json = ReturnType<Template['toJSON']>;
  const resourceOf = (c: IConstruct) => template.toJSON().Resources[logicalId(c)] as { Properties: Json };

  test('one launch template per config, with the security defaults', () => {
    template.resourceCountIs('AWS::EC2::LaunchTemplate', 1);
    template.hasResourceProperties('AWS::EC2::LaunchTemplate', {
      LaunchTemplateData: Match.objectLike({
        MetadataOptions: { HttpTokens: 'required', HttpPutResponseHopLimit: 1 },
        InstanceInitiatedShutdownBehavior: 'terminate',
        KeyName: Match.absent(),
        BlockDeviceMappings: [
          {
            DeviceName: '/dev/sda1',
            Ebs: { Encrypted: true, VolumeType: 'gp3', VolumeSize: 30, DeleteOnTermination: true },
          },
        ],
        // The default VPC has public subnets only: runners need a public IP to reach GitHub.
        NetworkInterfaces: [Match.objectLike({ DeviceIndex: 0, AssociatePublicIpAddress: true })],
        IamInstanceProfile: { Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('InstanceProfile'), 'Arn'] } },
        UserData: Match.anyValue(),
      }),
    });
  });

  test('the baked AMI is resolved from the image pipeline parameter at launch, created first', () => {
    const { resource } = onlyResource(template, 'AWS::EC2::LaunchTemplate');
    const data = resource.Properties.LaunchTemplateData as { ImageId: string };
    expect(data.ImageId).toBe(`resolve:ssm:${runners.image!.amiParameterName('x64')}`);
    // The parameter is written by the image construct: the launch template must wait for it.
    const dependsOn = (resource as { DependsOn?: string[] }).DependsOn ?? [];
    expect(dependsOn.filter((id) => id.startsWith('RunnersImage')).length).toBeGreaterThan(0);
  });

  test('volumes and instances carry the owner and config tags from the launch template', () => {
    const ownerTag = resourceOf(runners.webhookHandler).Properties.Environment.Variables[ENV.ownerTag];
    const { resource } = onlyResource(template, 'AWS::EC2::LaunchTemplate');
    const specs = (
      resource.Properties.LaunchTemplateData as {
        TagSpecifications: Array<{ ResourceType: string; Tags: unknown[] }>;
      }
    ).TagSpecifications;
    for (const type of ['instance', 'volume']) {
      expect(specs.find((t) => t.ResourceType === type)?.Tags).toEqual(
        expect.arrayContaining([
          { Key: INSTANCE_TAGS.owner, Value: ownerTag },
          { Key: INSTANCE_TAGS.config, Value: 'default' },
        ]),
      );
    }
  });

  test('the runner security group has no ingress and all egress', () => {
    template.hasResourceProperties('AWS::EC2::SecurityGroup', {
      GroupDescription: Match.stringLikeRegexp('no ingress'),
      SecurityGroupIngress: Match.absent(),
      SecurityGroupEgress: [{ CidrIp: '0.0.0.0/0', IpProtocol: '-1', Description: Match.anyValue() }],
    });
    template.resourceCountIs('AWS::EC2::SecurityGroupIngress', 0);
  });

  test('the default VPC has public subnets only and no NAT gateway', () => {
    template.resourceCountIs('AWS::EC2::NatGateway', 0);
    template.resourceCountIs('AWS::EC2::EIP', 0);
    template.allResourcesProperties('AWS::EC2::Subnet', { MapPublicIpOnLaunch: true });
    template.hasResourceProperties('AWS::EC2::VPCEndpoint', { VpcEndpointType: 'Gateway' });
  });

  test('the state table: on demand, PITR, TTL, one string key, the sparse pending index, retained', () => {
    template.hasResource('AWS::DynamoDB::Table', {
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
      Properties: {
        BillingMode: 'PAY_PER_REQUEST',
        DeletionProtectionEnabled: true,
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        TimeToLiveSpecification: { AttributeName: TTL_ATTRIBUTE, Enabled: true },
        KeySchema: STATE_TABLE_KEYS.KeySchema,
        AttributeDefinitions: Match.arrayWith([...STATE_TABLE_KEYS.AttributeDefinitions]),
        GlobalSecondaryIndexes: STATE_TABLE_KEYS.GlobalSecondaryIndexes,
      },
    });
  });

  test('both handlers run Node.js 22 on arm64 with index.handler and the settings of ENV', () => {
    for (const fn of [runners.webhookHandler, runners.retryHandler].map(resourceOf)) {
      const p = fn.Properties;
      expect(p.Runtime).toBe('nodejs22.x');
      expect(p.Architectures).toEqual(['arm64']);
      expect(p.Handler).toBe('index.handler');
      expect(p.LoggingConfig.LogGroup).toBeDefined();
      const env = p.Environment.Variables;
      for (const name of [
        ENV.stateTable,
        ENV.configPath,
        ENV.githubUrl,
        ENV.githubAppId,
        ENV.githubPrivateKey,
        ENV.webhookSecret,
        ENV.runnerScope,
        ENV.runnerGroupId,
        ENV.deliveryBudgetMs,
        ENV.pendingDeadlineMinutes,
        ENV.instanceArnPrefix,
        ENV.ownerTag,
        'POWERTOOLS_SERVICE_NAME',
      ])
        expect(env[name]).toBeDefined();
      expect(env[ENV.githubUrl]).toBe('https://github.com');
      expect(env[ENV.githubAppId]).toBe('123456');
      expect(env[ENV.runnerScope]).toBe('org');
      expect(env[ENV.runnerGroupId]).toBe('1');
      expect(env[ENV.deliveryBudgetMs]).toBe('8000');
      expect(env[ENV.pendingDeadlineMinutes]).toBe('1440');
      expect(env[ENV.configPath]).toBe('/cdk-ephemeral-runners/TestStack/Runners/runner-configs');
      expect(render(env[ENV.instanceArnPrefix])).toBe(
        'arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:instance/',
      );
      expect(env[ENV.githubPrivateKey]).toMatch(/^secretsmanager:/);
      expect(render(env[ENV.webhookSecret])).toMatch(/^secretsmanager:<RunnersWebhookSecret[0-9A-F]+>$/);
      expect(env[ENV.allowedOwners]).toBeUndefined();
      expect(env.NODE_EXTRA_CA_CERTS).toBeUndefined();
    }
    expect(resourceOf(runners.webhookHandler).Properties).toMatchObject({ Timeout: 30, MemorySize: 1024 });
    expect(resourceOf(runners.retryHandler).Properties).toMatchObject({ MemorySize: 512 });
  });

  test('every log group has a retention', () => {
    const groups = Object.values(template.findResources('AWS::Logs::LogGroup'));
    expect(groups.length).toBeGreaterThanOrEqual(4); // two handlers, the API access logs, the runners
    for (const g of groups) expect(g.Properties.RetentionInDays).toBe(30);
    for (const fn of [runners.webhookHandler, runners.retryHandler].map(resourceOf))
      expect(
        template.toJSON().Resources[fn.Properties.LoggingConfig.LogGroup.Ref].Properties.RetentionInDays,
      ).toBe(30);
  });

  test('the retry handler runs every minute', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(1 minute)',
      State: 'ENABLED',
      Targets: [
        Match.objectLike({
          Arn: { 'Fn::GetAtt': [logicalId(runners.retryHandler), 'Arn'] },
          RetryPolicy: { MaximumRetryAttempts: 0 },
        }),
      ],
    });
  });

  test('the webhook is POST /webhook on an HTTP API with access logs and throttling', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Api', { ProtocolType: 'HTTP' });
    template.resourceCountIs('AWS::ApiGatewayV2::Route', 1);
    template.hasResourceProperties('AWS::ApiGatewayV2::Route', { RouteKey: 'POST /webhook' });
    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
      AutoDeploy: true,
      AccessLogSettings: {
        DestinationArn: Match.anyValue(),
        Format: Match.stringLikeRegexp('\\$context.requestId'),
      },
      DefaultRouteSettings: { ThrottlingRateLimit: 100, ThrottlingBurstLimit: 200 },
    });
    const outputs = template.findOutputs('*');
    const url = Object.entries(outputs).find(([id]) => id.includes('WebhookUrl'));
    expect(url).toBeDefined();
    expect(render(url![1].Value)).toMatch(/^<RunnersWebhookApi\w+\.ApiEndpoint>\/webhook$/);
    expect(Object.keys(outputs).some((id) => id.includes('WebhookSecretArn'))).toBe(true);
  });

  test('each runner config is an SSM String parameter with the StoredRunnerConfig JSON', () => {
    const { resource } = onlyResource(template, 'AWS::SSM::Parameter', {
      Name: '/cdk-ephemeral-runners/TestStack/Runners/runner-configs/default',
    });
    expect(resource.Properties.Type).toBe('String');
    expect(resource.Properties.Tier).toBe('Standard');
    const stored = JSON.parse(render(resource.Properties.Value)) as StoredRunnerConfig;
    expect(storedConfigProblems(stored)).toEqual([]);
    const lt = onlyResource(template, 'AWS::EC2::LaunchTemplate');
    const subnets = Object.keys(template.findResources('AWS::EC2::Subnet')).map((id) => `<${id}>`);
    expect(stored).toEqual({
      name: 'default',
      labels: ['self-hosted', 'linux', 'x64'],
      instanceTypes: ['m7i.large', 'm6i.large', 'm5.large', 'c7i.large'],
      architecture: 'x64',
      spotStrategy: 'spotPreferred',
      launchTemplateId: `<${lt.logicalId}>`,
      // CloudFormation never moves a template's default version: the latest deployed one is stored.
      launchTemplateVersion: `<${lt.logicalId}.LatestVersionNumber>`,
      subnetIds: subnets,
      maxJobRuntimeMinutes: 360,
      order: 0,
    });
  });

  test('the runner role takes (DeleteItem) only its own JIT handoff item, and writes its logs', () => {
    const roleId = logicalId(runners.runnerRole);
    expect(resourceOf(runners.runnerRole).Properties.ManagedPolicyArns).toBeUndefined();
    const policies = Object.values(template.findResources('AWS::IAM::Policy')).filter((p) =>
      JSON.stringify(p.Properties.Roles).includes(roleId),
    );
    expect(policies).toHaveLength(1);
    const statements = policies[0].Properties.PolicyDocument.Statement as Array<Record<string, unknown>>;
    const table = onlyResource(template, 'AWS::DynamoDB::Table');
    expect(statements).toContainEqual({
      Effect: 'Allow',
      Action: 'dynamodb:DeleteItem',
      Resource: { 'Fn::GetAtt': [table.logicalId, 'Arn'] },
      Condition: {
        'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': ['${ec2:SourceInstanceARN}'] },
        Null: { 'dynamodb:LeadingKeys': 'false' },
      },
    });
    const actions = statements.flatMap((s) => [s.Action].flat() as string[]);
    // No other DynamoDB access, and no way to terminate (the instance shuts itself down).
    expect(actions.filter((a) => a.startsWith('dynamodb:')).sort()).toEqual(['dynamodb:DeleteItem']);
    expect(actions).not.toContain('ec2:TerminateInstances');
    expect(actions).toEqual(expect.arrayContaining(['logs:CreateLogStream', 'logs:PutLogEvents']));
  });

  test('the handlers launch only tagged instances, terminate only their own and pass only the runner role', () => {
    const ownerTag = resourceOf(runners.webhookHandler).Properties.Environment.Variables[ENV.ownerTag];
    expect(ownerTag).toMatch(/^TestStack-[0-9a-f]{42}$/);
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Sid: 'CreateFleetOwnedInstances',
            Action: 'ec2:CreateFleet',
            Condition: { StringEquals: { [`aws:RequestTag/${INSTANCE_TAGS.owner}`]: ownerTag } },
          }),
          Match.objectLike({
            Sid: 'RunOwnedInstancesFromOwnTemplates',
            Action: 'ec2:RunInstances',
            Condition: Match.objectLike({
              StringEquals: { [`aws:RequestTag/${INSTANCE_TAGS.owner}`]: ownerTag },
            }),
          }),
          Match.objectLike({
            Sid: 'TagAtLaunch',
            Action: 'ec2:CreateTags',
            Condition: { StringEquals: { 'ec2:CreateAction': ['CreateFleet', 'RunInstances'] } },
          }),
          Match.objectLike({
            Sid: 'TerminateOwnedInstances',
            Action: 'ec2:TerminateInstances',
            Condition: { StringEquals: { [`ec2:ResourceTag/${INSTANCE_TAGS.owner}`]: ownerTag } },
          }),
          Match.objectLike({
            Sid: 'PassRunnerRole',
            Action: 'iam:PassRole',
            Resource: { 'Fn::GetAtt': [logicalId(runners.runnerRole), 'Arn'] },
            Condition: { StringEquals: { 'iam:PassedToService': 'ec2.amazonaws.com' } },
          }),
          Match.objectLike({
            Sid: 'CreateSpotServiceLinkedRole',
            Condition: { StringEquals: { 'iam:AWSServiceName': 'spot.amazonaws.com' } },
          }),
          Match.objectLike({ Sid: 'ResolveAmiParameters', Action: 'ssm:GetParameters' }),
        ]),
      },
    });
  });

  test('only the webhook handler reads the webhook secret; both read the private key and the configs', () => {
    const policyOf = (fn: IConstruct) => {
      const roleId = resourceOf(fn).Properties.Role['Fn::GetAtt'][0];
      const policy = Object.values(template.findResources('AWS::IAM::Policy')).find((p) =>
        JSON.stringify(p.Properties.Roles).includes(roleId),
      );
      return JSON.stringify(policy!.Properties.PolicyDocument);
    };
    const webhook = policyOf(runners.webhookHandler);
    const retry = policyOf(runners.retryHandler);
    for (const policy of [webhook, retry]) {
      expect(policy).toContain('github-app-private-key');
      expect(policy).toContain('ssm:GetParametersByPath');
      expect(policy).toContain('dynamodb:UpdateItem');
    }
    expect(webhook).toMatch(/RunnersWebhookSecret[0-9A-F]+"/);
    expect(retry).not.toMatch(/RunnersWebhookSecret[0-9A-F]+"/);
  });

  test('exposes the resources and the metrics', () => {
    expect(Object.keys(runners.launchTemplates)).toEqual(['default']);
    expect(runners.webhookUrl).toContain('/webhook');
    expect(runners.configPath).toBe('/cdk-ephemeral-runners/TestStack/Runners/runner-configs');
    expect(runners.metricWebhookErrors().metricName).toBe('Errors');
    expect(runners.metricWebhookThrottles().metricName).toBe('Throttles');
    expect(runners.metricRetryErrors().metricName).toBe('Errors');
    expect(runners.metricWebhookServerErrors().metricName).toBe('5xx');
    expect(runners.metricWebhookClientErrors().metricName).toBe('4xx');
    expect(stack.resolve(runners.metricWebhookErrors().dimensions)).toEqual({
      FunctionName: { Ref: logicalId(runners.webhookHandler) },
    });
  });
});

describe('EphemeralRunners options', () => {
  test('grantReadState lets a principal read the state table', () => {
    const app = new App();
    const stack = new Stack(app, 'S');
    const runners = new EphemeralRunners(stack, 'Runners', runnersProps(stack));
    const reader = new iam.Role(stack, 'Reader', { assumedBy: new iam.AccountRootPrincipal() });
    runners.grantReadState(reader);
    const template = Template.fromStack(stack);
    template.hasResourceProperties('AWS::IAM::Policy', {
      Roles: [{ Ref: Match.stringLikeRegexp('^Reader') }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Action: Match.arrayWith(['dynamodb:Query', 'dynamodb:GetItem']) }),
        ]),
      },
    });
  });

  test('a given webhook secret is used and nothing is generated', () => {
    const { template, runners } = synthRunners({
      github: { webhookSecret: GitHubSecret.fromSsmParameter('/github/webhook-secret') },
    });
    expect(runners.webhookSecret).toBeUndefined();
    template.resourceCountIs('AWS::SecretsManager::Secret', 0);
    template.hasResourceProperties('AWS::Lambda::Function', {
      MemorySize: 1024,
      Environment: { Variables: Match.objectLike({ [ENV.webhookSecret]: 'ssm:/github/webhook-secret' }) },
    });
  });

  test('GHES: the delivery budget defaults to 25 s, the allowlist is passed comma-joined', () => {
    const { template } = synthRunners({
      github: { url: 'https://ghes.example.com' },
      allowedOwners: ['acme', 'octo-org'],
      allowedRepositories: ['other/repo'],
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          [ENV.githubUrl]: 'https://ghes.example.com',
          [ENV.deliveryBudgetMs]: '25000',
          [ENV.allowedOwners]: 'acme,octo-org',
          [ENV.allowedRepositories]: 'other/repo',
        }),
      },
    });
  });
});
