/**
 * Issue 10 on the template: customer-managed keys (EBS, the construct's data, an app key secret), the
 * tighter IAM (launch templates, images, handoff, configs, log streams), the removal custom resource and
 * its ordering, the outputs, and the synth-time checks that name the prop.
 */
import { App, Duration, Stack, Validations } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { AwsSolutionsChecks } from 'cdk-nag';
import { EphemeralRunners, GitHubSecret, RunnerAmi, type EphemeralRunnersProps } from '../../lib';
import { ensureHandlerBundles, runnersProps, unacknowledgedViolations } from './support';

type Statement = {
  Sid?: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: Record<string, unknown>;
};

function synth(over: (stack: Stack) => Partial<EphemeralRunnersProps> = () => ({})) {
  ensureHandlerBundles();
  const stack = new Stack(new App(), 'S');
  const props = runnersProps(stack);
  const runners = new EphemeralRunners(stack, 'Runners', { ...props, ...over(stack) });
  return { stack, runners, template: Template.fromStack(stack) };
}

/** Every statement of the policies attached to a role whose logical id starts with `rolePrefix`. */
function statementsOf(template: Template, rolePrefix: string): Statement[] {
  const policies = template.findResources('AWS::IAM::Policy');
  return Object.values(policies)
    .filter((p) => (p.Properties.Roles as Array<{ Ref: string }>).some((r) => r.Ref.startsWith(rolePrefix)))
    .flatMap((p) => p.Properties.PolicyDocument.Statement as Statement[]);
}
const actions = (s: Statement) => (Array.isArray(s.Action) ? s.Action : [s.Action]);
const withAction = (statements: Statement[], action: string) =>
  statements.filter((s) => actions(s).includes(action));

describe('customer-managed KMS keys', () => {
  test('ebsEncryptionKey: launch templates encrypt with it; launching roles may use it through EC2 only; the reconciler may not', () => {
    let keyId = '';
    const { stack, template } = synth((s) => {
      const key = new kms.Key(s, 'EbsKey', { enableKeyRotation: true });
      keyId = s.getLogicalId(key.node.defaultChild as kms.CfnKey);
      return { ebsEncryptionKey: key };
    });
    expect(stack).toBeDefined();
    template.hasResourceProperties('AWS::EC2::LaunchTemplate', {
      LaunchTemplateData: {
        BlockDeviceMappings: [{ Ebs: { Encrypted: true, KmsKeyId: { 'Fn::GetAtt': [keyId, 'Arn'] } } }],
      },
    });
    for (const role of ['RunnersWebhookHandlerRole', 'RunnersRetryHandlerRole']) {
      const statements = statementsOf(template, role);
      const use = withAction(statements, 'kms:GenerateDataKeyWithoutPlaintext');
      expect(use).toHaveLength(1);
      expect(actions(use[0]).sort()).toEqual(
        [
          'kms:Decrypt',
          'kms:DescribeKey',
          'kms:GenerateDataKeyWithoutPlaintext',
          'kms:ReEncryptFrom',
          'kms:ReEncryptTo',
        ].sort(),
      );
      expect(use[0].Resource).toEqual({ 'Fn::GetAtt': [keyId, 'Arn'] });
      expect(JSON.stringify(use[0].Condition)).toContain('kms:ViaService');
      const grant = withAction(statements, 'kms:CreateGrant');
      expect(grant).toHaveLength(1);
      expect(grant[0].Condition).toMatchObject({ Bool: { 'kms:GrantIsForAWSResource': 'true' } });
    }
    expect(withAction(statementsOf(template, 'RunnersReconcileHandlerRole'), 'kms:CreateGrant')).toEqual([]);
  });

  test('without ebsEncryptionKey no KMS grant is made and volumes use the account default', () => {
    const { template } = synth();
    const all = Object.values(template.findResources('AWS::IAM::Policy')).flatMap(
      (p) => p.Properties.PolicyDocument.Statement as Statement[],
    );
    expect(all.filter((s) => actions(s).some((a) => a.startsWith('kms:')))).toEqual([]);
    template.hasResourceProperties('AWS::EC2::LaunchTemplate', {
      LaunchTemplateData: {
        BlockDeviceMappings: [{ Ebs: Match.objectLike({ Encrypted: true, KmsKeyId: Match.absent() }) }],
      },
    });
  });

  test('encryptionKey: table, every log group and the generated secret use it; CloudWatch Logs may; Lambdas and runners get its use', () => {
    let keyArn: unknown;
    const { template } = synth((s) => {
      const key = new kms.Key(s, 'DataKey', { enableKeyRotation: true });
      keyArn = { 'Fn::GetAtt': [s.getLogicalId(key.node.defaultChild as kms.CfnKey), 'Arn'] };
      return { encryptionKey: key };
    });
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      SSESpecification: { SSEEnabled: true, SSEType: 'KMS', KMSMasterKeyId: keyArn },
    });
    const groups = Object.values(template.findResources('AWS::Logs::LogGroup'));
    expect(groups.length).toBeGreaterThanOrEqual(6); // 4 handlers, the API, the runners
    for (const g of groups) expect(g.Properties.KmsKeyId).toEqual(keyArn);
    template.hasResourceProperties('AWS::SecretsManager::Secret', { KmsKeyId: keyArn });
    const keyPolicy = Object.values(template.findResources('AWS::KMS::Key'))[0].Properties.KeyPolicy
      .Statement as Array<{ Sid?: string; Principal: { Service?: unknown } }>;
    const logs = keyPolicy.find((st) => st.Sid === 'AllowCloudWatchLogsOfThisAccount');
    expect(JSON.stringify(logs?.Principal.Service)).toContain('logs.');
    expect(JSON.stringify(logs)).toContain('kms:EncryptionContext:aws:logs:arn');
    for (const role of ['RunnersWebhookHandlerRole', 'RunnersReconcileHandlerRole', 'RunnersFleetRole'])
      expect(withAction(statementsOf(template, role), 'kms:Decrypt').map((s) => s.Resource)).toContainEqual(
        keyArn,
      );
  });

  test('an app key secret under a customer-managed key: its own key when the secret knows it, the option otherwise', () => {
    let ownKey: unknown;
    let optionKey: unknown;
    const { template } = synth((s) => {
      const key = new kms.Key(s, 'SecretKey', { enableKeyRotation: true });
      ownKey = { 'Fn::GetAtt': [s.getLogicalId(key.node.defaultChild as kms.CfnKey), 'Arn'] };
      const secret = secretsmanager.Secret.fromSecretAttributes(s, 'Known', {
        secretPartialArn: 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:app-key',
        encryptionKey: key,
      });
      return { github: { appId: '1', privateKey: GitHubSecret.fromSecretsManager(secret) } };
    });
    // The secret's own grant: CDK puts it in the key's policy, for Secrets Manager's use.
    const keyStatements = Object.values(template.findResources('AWS::KMS::Key'))[0].Properties.KeyPolicy
      .Statement as Array<{
      Action: string;
      Principal: { AWS?: { 'Fn::GetAtt'?: string[] } };
      Condition?: unknown;
    }>;
    for (const role of [
      'RunnersWebhookHandlerRole',
      'RunnersRetryHandlerRole',
      'RunnersReconcileHandlerRole',
      'RunnersTeardownHandlerRole',
    ]) {
      const grant = keyStatements.find((st) => st.Principal.AWS?.['Fn::GetAtt']?.[0].startsWith(role));
      expect(grant?.Action).toBe('kms:Decrypt');
      expect(JSON.stringify(grant?.Condition)).toContain('secretsmanager.');
    }
    expect(ownKey).toBeDefined();

    const byName = synth((s) => {
      const key = kms.Key.fromKeyArn(
        s,
        'Imported',
        'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab',
      );
      optionKey = key.keyArn;
      return {
        github: { appId: '1', privateKey: GitHubSecret.fromSecretName('app-key', { encryptionKey: key }) },
      };
    }).template;
    for (const role of [
      'RunnersWebhookHandlerRole',
      'RunnersRetryHandlerRole',
      'RunnersReconcileHandlerRole',
      'RunnersTeardownHandlerRole',
    ]) {
      const decrypt = withAction(statementsOf(byName, role), 'kms:Decrypt');
      expect(decrypt.map((s) => s.Resource)).toContainEqual(optionKey);
      expect(JSON.stringify(decrypt)).toContain('secretsmanager.');
    }
  });

  test('with both keys the app is cdk-nag clean', () => {
    ensureHandlerBundles();
    const app = new App({ context: { '@aws-cdk/core:validateAgainstDefaultRules': true } });
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    const stack = new Stack(app, 'KeysStack');
    new EphemeralRunners(stack, 'Runners', {
      ...runnersProps(stack),
      ebsEncryptionKey: new kms.Key(stack, 'EbsKey', { enableKeyRotation: true }),
      encryptionKey: new kms.Key(stack, 'DataKey', { enableKeyRotation: true }),
    });
    expect(unacknowledgedViolations(app)).toEqual([]);
  });
});

describe('least privilege', () => {
  const { template } = synth((s) => ({
    runnerConfigs: [
      { name: 'baked', labels: ['linux'], instanceTypes: [new ec2.InstanceType('m7i.large')] },
      {
        name: 'fixed',
        labels: ['linux', 'arm64'],
        instanceTypes: [new ec2.InstanceType('m7g.large')],
        ami: RunnerAmi.fromAmiId('ami-0123456789abcdef0'),
      },
    ],
    vpc: undefined,
    ...(s ? {} : {}),
  }));
  const webhook = statementsOf(template, 'RunnersWebhookHandlerRole');

  test('RunInstances only from this deployment launch templates, with the owner tag', () => {
    const run = webhook.filter((s) => s.Sid === 'RunOwnedInstancesFromOwnTemplates')[0];
    expect(actions(run)).toEqual(['ec2:RunInstances']);
    const templates = (run.Condition!.ArnEquals as Record<string, unknown[]>)['ec2:LaunchTemplate'];
    expect(templates).toHaveLength(2);
    expect(JSON.stringify(templates)).toContain('launch-template/');
    expect(run.Condition!.StringEquals).toHaveProperty(['aws:RequestTag/ephemeral-runners:owner']);
    // No statement lets RunInstances launch an instance without that condition.
    const instanceGrants = withAction(webhook, 'ec2:RunInstances').filter((s) =>
      JSON.stringify(s.Resource).includes('instance/*'),
    );
    expect(instanceGrants.map((s) => s.Sid)).toEqual(['RunOwnedInstancesFromOwnTemplates']);
  });

  test('images: the fixed AMI by id, baked AMIs only of the account (ec2:Owner)', () => {
    const templatesStatement = webhook.find((s) => s.Sid === 'LaunchFromOwnTemplates')!;
    expect(JSON.stringify(templatesStatement.Resource)).toContain('image/ami-0123456789abcdef0');
    expect(JSON.stringify(templatesStatement.Resource)).not.toContain('image/*');
    const own = webhook.find((s) => s.Sid === 'RunOwnImages')!;
    expect(own.Condition).toEqual({ StringEquals: { 'ec2:Owner': { Ref: 'AWS::AccountId' } } });
  });

  test("a user's SSM AMI parameter may name anyone's image: then any image is allowed", () => {
    const t = synth(() => ({
      runnerConfigs: [
        {
          name: 'param',
          labels: ['linux'],
          instanceTypes: [new ec2.InstanceType('m7i.large')],
          ami: RunnerAmi.fromSsmParameter('/my/ami'),
        },
      ],
    })).template;
    const s = statementsOf(t, 'RunnersWebhookHandlerRole');
    expect(s.find((x) => x.Sid === 'LaunchParameterImages')).toBeDefined();
    expect(s.find((x) => x.Sid === 'RunOwnImages')).toBeUndefined();
  });

  test('only the Spot service-linked role may be created (an instant fleet needs no EC2 Fleet role)', () => {
    const slr = withAction(webhook, 'iam:CreateServiceLinkedRole');
    expect(slr).toHaveLength(1);
    expect(JSON.stringify(slr[0])).toContain('AWSServiceRoleForEC2Spot');
    expect(JSON.stringify(slr[0])).not.toContain('ec2fleet');
  });

  test('grants no code uses are gone: handoff DeleteItem only, no batch/scan/describe, configs by path only', () => {
    const runner = statementsOf(template, 'RunnersFleetRole');
    const dynamo = runner.filter((s) => actions(s).some((a) => a.startsWith('dynamodb:')));
    expect(dynamo.flatMap(actions)).toEqual(['dynamodb:DeleteItem']);
    const control = webhook.flatMap(actions).filter((a) => a.startsWith('dynamodb:'));
    expect(control.sort()).toEqual(
      [
        'dynamodb:DeleteItem',
        'dynamodb:GetItem',
        'dynamodb:PutItem',
        'dynamodb:Query',
        'dynamodb:UpdateItem',
      ].sort(),
    );
    expect(
      webhook
        .flatMap(actions)
        .filter((a) => a.startsWith('ssm:'))
        .sort(),
    ).toEqual(
      ['ssm:GetParameters', 'ssm:GetParametersByPath'].sort(), // GetParameters: EC2 resolving resolve:ssm AMIs
    );
  });

  test('runners write only instance-named streams, and read or delete none', () => {
    const runner = statementsOf(template, 'RunnersFleetRole');
    const logs = runner.filter((s) => actions(s).some((a) => a.startsWith('logs:')));
    const put = logs.find((s) => actions(s).includes('logs:PutLogEvents'))!;
    expect(JSON.stringify(put.Resource)).toMatch(/:log-stream:i-\*/);
    expect(logs.flatMap(actions).sort()).toEqual(
      ['logs:CreateLogStream', 'logs:DescribeLogStreams', 'logs:PutLogEvents'].sort(),
    );
  });

  test('the removal function reads records and reaps, and launches nothing', () => {
    const teardown = statementsOf(template, 'RunnersTeardownHandlerRole').flatMap(actions);
    expect(teardown).toEqual(
      expect.arrayContaining([
        'ec2:TerminateInstances',
        'ec2:DescribeInstances',
        'dynamodb:GetItem',
        'dynamodb:Query',
      ]),
    );
    for (const a of [
      'ec2:CreateFleet',
      'ec2:RunInstances',
      'iam:PassRole',
      'dynamodb:PutItem',
      'dynamodb:UpdateItem',
    ])
      expect(teardown).not.toContain(a);
  });
});

describe('removal and day-two facts', () => {
  const { template, runners, stack } = synth();
  const resources = template.toJSON().Resources as Record<string, { Type: string; DependsOn?: string[] }>;
  const logicalId = (type: string, prefix: string) =>
    Object.keys(resources).find((k) => resources[k].Type === type && k.startsWith(prefix))!;
  const removal = logicalId('Custom::EphemeralRunnersTeardown', 'RunnersTeardown');

  test('a removal custom resource, answered by the teardown function, with a bounded service timeout', () => {
    template.hasResourceProperties('Custom::EphemeralRunnersTeardown', {
      ServiceToken: { 'Fn::GetAtt': [Match.stringLikeRegexp('^RunnersTeardownHandler'), 'Arn'] },
      ServiceTimeout: '300',
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: Match.stringLikeRegexp('On stack deletion'),
      Timeout: 240,
    });
  });

  test('deleted after everything that launches, before the fleet, the VPC and the table', () => {
    for (const launcher of ['RunnersWebhookHandler', 'RunnersRetryHandler', 'RunnersReconcileHandler']) {
      const fn = logicalId('AWS::Lambda::Function', launcher);
      expect(resources[fn].DependsOn).toContain(removal);
    }
    const deps = resources[removal].DependsOn ?? [];
    for (const [type, prefix] of [
      ['AWS::EC2::SecurityGroup', 'RunnersFleetSecurityGroup'],
      ['AWS::EC2::LaunchTemplate', 'RunnersFleetLaunchTemplate'],
      ['AWS::EC2::Subnet', 'RunnersVpc'],
      ['AWS::DynamoDB::Table', 'RunnersState'],
    ])
      expect(deps).toContain(logicalId(type, prefix));
  });

  test('outputs: the state table name and the owner tag', () => {
    const outputs = template.toJSON().Outputs as Record<string, { Value: unknown; Description: string }>;
    const table = Object.entries(outputs).find(([k]) => k.startsWith('RunnersStateTableName'))![1];
    expect(table.Value).toEqual({ Ref: logicalId('AWS::DynamoDB::Table', 'RunnersState') });
    const owner = Object.entries(outputs).find(([k]) => k.startsWith('RunnersOwnerTag'))![1];
    expect(owner.Value).toBe(runners.ownerTag);
    expect(runners.ownerTag).toMatch(new RegExp(`^${stack.stackName}-`));
    expect(owner.Description).toContain('ephemeral-runners:owner');
  });
});

describe('errors at synth name the prop', () => {
  const errorOf = (over: (base: EphemeralRunnersProps) => unknown): string => {
    ensureHandlerBundles();
    const stack = new Stack(new App(), 'S');
    const base = runnersProps(stack);
    try {
      new EphemeralRunners(stack, 'Runners', { ...base, ...(over(base) as object) });
    } catch (e) {
      return (e as Error).message;
    }
    throw new Error('expected the props to be rejected');
  };
  const config = (instanceTypes: string[], extra: object = {}) => ({
    runnerConfigs: [
      {
        name: 'ci',
        labels: ['linux'],
        instanceTypes: instanceTypes.map((t) => new ec2.InstanceType(t)),
        ...extra,
      },
    ],
  });

  test.each<[string, string, RegExp]>([
    [
      'm7i.lage',
      'a size typo',
      /runnerConfigs\[0\] \("ci"\)\.instanceTypes: "m7i\.lage" has no size "lage".*did you mean m7i\.large\?/,
    ],
    ['m7i', 'no size', /runnerConfigs\[0\] \("ci"\)\.instanceTypes: "m7i" is not an instance type name/],
    ['m7i.large.x', 'three parts', /"m7i\.large\.x" is not an instance type name/],
    ['7i.large', 'a family without letters first', /"7i\.large" is not an instance type name/],
  ])('%s (%s)', (type, _case, expected) => {
    expect(errorOf(() => config([type]))).toMatch(expected);
  });

  test.each([
    'm7i.large',
    'm7i-flex.2xlarge',
    'c7i.metal-24xl',
    'u-6tb1.112xlarge',
    'u7i-12tb.224xlarge',
    'mac2-m2pro.metal',
    't4g.nano',
    'r8g.48xlarge',
  ])('a real instance type passes: %s', (type) => {
    ensureHandlerBundles();
    const stack = new Stack(new App(), 'S');
    const arch = /g\.|g-|mac2/.test(type) ? 'arm64' : 'x64';
    expect(
      () =>
        new EphemeralRunners(stack, 'Runners', {
          ...runnersProps(stack),
          ...config([type], { architecture: arch }),
        }),
    ).not.toThrow();
  });

  test('a well-formed family aws-cdk-lib does not know is a warning naming the prop', () => {
    ensureHandlerBundles();
    const stack = new Stack(new App(), 'S');
    new EphemeralRunners(stack, 'Runners', { ...runnersProps(stack), ...config(['m7x.large']) });
    Annotations.fromStack(stack).hasWarning(
      '*',
      Match.stringLikeRegexp('runnerConfigs\\[0\\] \\("ci"\\)\\.instanceTypes: m7x\\.large of a family'),
    );
  });

  test.each<[string, unknown, RegExp]>([
    ['a missing appId', { appId: undefined }, /github\.appId is missing/],
    ['a numeric appId', { appId: 123456 }, /github\.appId must be a string: give '123456'/],
    ['an object appId', { appId: {} }, /github\.appId must be a string/],
    [
      'a missing privateKey',
      { privateKey: undefined },
      /github\.privateKey is missing: give where the App's private key \(PEM\) is kept, GitHubSecret\.fromSecretName/,
    ],
    [
      'a secret name for privateKey',
      { privateKey: 'github/app-key' },
      /github\.privateKey is a string \("github\/app-key"\): give GitHubSecret\.fromSecretName/,
    ],
    [
      'the PEM itself',
      { privateKey: '-----BEGIN RSA PRIVATE KEY-----\nMIIE...' },
      /github\.privateKey is the key itself: never put it in code/,
    ],
    [
      'an object that is no GitHubSecret',
      { privateKey: { secretName: 'x' } },
      /github\.privateKey must be GitHubSecret/,
    ],
    ['a string webhookSecret', { webhookSecret: 'hunter2' }, /github\.webhookSecret is a string/],
  ])('from JavaScript: %s', (_case, github, expected) => {
    const message = errorOf((base) => ({ github: { ...base.github, ...(github as object) } }));
    expect(message).toMatch(expected);
  });

  test('from JavaScript: no github at all', () => {
    expect(errorOf(() => ({ github: undefined }))).toMatch(/github is missing: give \{ appId, privateKey \}/);
  });

  test.each<[string, Duration, boolean]>([
    ['one minute', Duration.minutes(1), false],
    ['nine minutes', Duration.minutes(9), false],
    ['ten minutes', Duration.minutes(10), true],
    ['five days', Duration.days(5), true],
  ])('maxJobRuntime of %s', (_case, maxJobRuntime, ok) => {
    const attempt = () => errorOf(() => config(['m7i.large'], { maxJobRuntime }));
    if (ok) expect(attempt).toThrow('expected the props to be rejected');
    else
      expect(attempt()).toMatch(
        /runnerConfigs\[0\] \("ci"\)\.maxJobRuntime .* must be between 10 minutes and 5 days/,
      );
  });
});
