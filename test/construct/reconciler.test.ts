import { App, CfnElement, CfnParameter, Duration, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { IConstruct } from 'constructs';
import { ENV } from '../../lambda/core/settings';
import { INSTANCE_TAGS, LIVE_INDEX, PENDING_INDEX } from '../../lambda/core/state-schema';
import { EphemeralRunners, GitHubSecret } from '../../lib';
import { ensureHandlerBundles, synthRunners } from './support';

type Json = ReturnType<Template['toJSON']>;
type Statement = { Sid?: string; Action: string | string[]; Resource: unknown; Condition?: Json };

/** Accessors of one synthesized stack: a construct's resource, its function's role policy. */
function inspect(stack: Stack, template: Template) {
  const logicalId = (c: IConstruct) => stack.getLogicalId((c.node.defaultChild ?? c) as CfnElement);
  const resourceOf = (c: IConstruct) => template.toJSON().Resources[logicalId(c)] as { Properties: Json };
  const statementsOf = (fn: IConstruct): Statement[] => {
    const roleId = resourceOf(fn).Properties.Role['Fn::GetAtt'][0] as string;
    const policies = Object.values(template.findResources('AWS::IAM::Policy')).filter((p) =>
      JSON.stringify(p.Properties.Roles).includes(`"${roleId}"`),
    );
    expect(policies).toHaveLength(1);
    return policies[0].Properties.PolicyDocument.Statement as Statement[];
  };
  const rules = () =>
    Object.values(template.findResources('AWS::Events::Rule')) as Array<{ Properties: Json }>;
  const rulesTargeting = (fn: IConstruct) =>
    rules().filter((r) =>
      (r.Properties.Targets as Json[]).some((t) => t.Arn['Fn::GetAtt']?.[0] === logicalId(fn)),
    );
  return { logicalId, resourceOf, statementsOf, rulesTargeting };
}

const actionsOf = (statements: Statement[]) => statements.flatMap((s) => [s.Action].flat());

describe('the reconciler with the defaults', () => {
  const { stack, runners, template } = synthRunners();
  const { logicalId, resourceOf, statementsOf, rulesTargeting } = inspect(stack, template);
  const reconcile = () => resourceOf(runners.reconcileHandler).Properties;

  test('runs Node.js 22 on arm64, 512 MiB, a timeout inside the 2-minute interval', () => {
    expect(reconcile()).toMatchObject({
      Runtime: 'nodejs22.x',
      Architectures: ['arm64'],
      Handler: 'index.handler',
      MemorySize: 512,
      Timeout: 110,
    });
    expect(reconcile().Environment.Variables.POWERTOOLS_SERVICE_NAME).toBe('ephemeral-runners-reconcile');
    const logGroup = template.toJSON().Resources[reconcile().LoggingConfig.LogGroup.Ref];
    expect(logGroup.Properties.RetentionInDays).toBe(30);
  });

  test('has the settings of the other handlers, and every handler has both timeouts', () => {
    const env = reconcile().Environment.Variables;
    const retryEnv = resourceOf(runners.retryHandler).Properties.Environment.Variables;
    expect({ ...env, POWERTOOLS_SERVICE_NAME: undefined }).toEqual({
      ...retryEnv,
      POWERTOOLS_SERVICE_NAME: undefined,
    });
    for (const fn of [runners.webhookHandler, runners.retryHandler, runners.reconcileHandler]) {
      const vars = resourceOf(fn).Properties.Environment.Variables;
      expect(vars[ENV.bootTimeoutSeconds]).toBe('600');
      expect(vars[ENV.idleTimeoutSeconds]).toBe('600');
    }
  });

  test('runs every 2 minutes, a missed run not retried', () => {
    const schedule = rulesTargeting(runners.reconcileHandler).filter((r) => r.Properties.ScheduleExpression);
    expect(schedule).toHaveLength(1);
    expect(schedule[0].Properties).toMatchObject({
      ScheduleExpression: 'rate(2 minutes)',
      State: 'ENABLED',
      Targets: [
        {
          Arn: { 'Fn::GetAtt': [logicalId(runners.reconcileHandler), 'Arn'] },
          RetryPolicy: { MaximumRetryAttempts: 0, MaximumEventAgeInSeconds: 120 },
        },
      ],
    });
  });

  test('receives EC2 instances shutting down or terminated from the default bus', () => {
    const onEvents = rulesTargeting(runners.reconcileHandler).filter((r) => r.Properties.EventPattern);
    expect(onEvents).toHaveLength(1);
    expect(onEvents[0].Properties.EventBusName).toBeUndefined(); // the default bus
    expect(onEvents[0].Properties.EventPattern).toEqual({
      source: ['aws.ec2'],
      'detail-type': ['EC2 Instance State-change Notification'],
      detail: { state: ['shutting-down', 'terminated'] },
    });
    expect(onEvents[0].Properties.Targets).toEqual([
      expect.objectContaining({
        Arn: { 'Fn::GetAtt': [logicalId(runners.reconcileHandler), 'Arn'] },
        RetryPolicy: { MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 3600 },
      }),
    ]);
  });

  test('EventBridge may invoke it from both rules, and only those', () => {
    const permissions = Object.values(
      template.findResources('AWS::Lambda::Permission', {
        Properties: { FunctionName: { 'Fn::GetAtt': [logicalId(runners.reconcileHandler), 'Arn'] } },
      }),
    );
    expect(permissions).toHaveLength(2);
    for (const p of permissions)
      expect(p.Properties).toMatchObject({
        Action: 'lambda:InvokeFunction',
        Principal: 'events.amazonaws.com',
        SourceArn: { 'Fn::GetAtt': [expect.stringMatching(/^RunnersReconcilerSchedule/), 'Arn'] },
      });
  });

  test('describes any instance, terminates only owner-tagged ones, and cannot launch or pass a role', () => {
    const ownerTag = reconcile().Environment.Variables[ENV.ownerTag];
    const statements = statementsOf(runners.reconcileHandler);
    expect(statements).toContainEqual(
      expect.objectContaining({ Sid: 'DescribeInstances', Action: 'ec2:DescribeInstances', Resource: '*' }),
    );
    expect(statements).toContainEqual(
      expect.objectContaining({
        Sid: 'TerminateOwnedInstances',
        Action: 'ec2:TerminateInstances',
        Condition: { StringEquals: { [`ec2:ResourceTag/${INSTANCE_TAGS.owner}`]: ownerTag } },
      }),
    );
    const actions = actionsOf(statements);
    for (const denied of [
      'ec2:CreateFleet',
      'ec2:RunInstances',
      'ec2:CreateTags',
      'iam:PassRole',
      'iam:CreateServiceLinkedRole',
    ])
      expect(actions).not.toContain(denied);
    expect(actions.filter((a) => a.startsWith('ec2:')).sort()).toEqual([
      'ec2:DescribeInstances',
      'ec2:TerminateInstances',
    ]);
    // The only unconditioned wildcard is DescribeInstances, which has no resource-level permissions.
    const wildcards = statements.filter((s) => JSON.stringify(s.Resource).includes('*'));
    expect(wildcards.map((s) => [s.Sid, s.Condition !== undefined])).toEqual([
      ['TerminateOwnedInstances', true],
      ['DescribeInstances', false],
    ]);
  });

  test('reads and writes the state and both indexes, reads the configs and the private key, not the webhook secret', () => {
    const statements = statementsOf(runners.reconcileHandler);
    const policy = JSON.stringify(statements);
    expect(policy).toContain('github-app-private-key');
    expect(policy).toContain('ssm:GetParametersByPath');
    expect(policy).not.toMatch(/RunnersWebhookSecret[0-9A-F]+"/);
    const table = Object.keys(template.findResources('AWS::DynamoDB::Table'))[0];
    const dynamo = statements.find((s) => actionsOf([s]).includes('dynamodb:UpdateItem'))!;
    expect(dynamo.Resource).toEqual([
      { 'Fn::GetAtt': [table, 'Arn'] },
      { 'Fn::Join': ['', [{ 'Fn::GetAtt': [table, 'Arn'] }, `/index/${PENDING_INDEX}`]] },
      { 'Fn::Join': ['', [{ 'Fn::GetAtt': [table, 'Arn'] }, `/index/${LIVE_INDEX}`]] },
    ]);
  });

  test('the webhook and retry handlers keep launching and terminating', () => {
    for (const fn of [runners.webhookHandler, runners.retryHandler]) {
      const actions = actionsOf(statementsOf(fn));
      for (const needed of [
        'ec2:CreateFleet',
        'iam:PassRole',
        'ec2:TerminateInstances',
        'ec2:DescribeInstances',
      ])
        expect(actions).toContain(needed);
      expect(JSON.stringify(statementsOf(fn))).toContain(`/index/${LIVE_INDEX}`);
    }
  });

  test('exposes the function and its error metric', () => {
    expect(runners.metricReconcileErrors().metricName).toBe('Errors');
    expect(stack.resolve(runners.metricReconcileErrors().dimensions)).toEqual({
      FunctionName: { Ref: logicalId(runners.reconcileHandler) },
    });
  });
});

describe('the reconciler with custom props', () => {
  test.each<[string, Duration, string, number]>([
    ['every minute: at least 60 s', Duration.minutes(1), 'rate(1 minute)', 60],
    ['every 5 minutes: the interval less 10 s', Duration.minutes(5), 'rate(5 minutes)', 290],
    ['hourly: at most 5 minutes', Duration.hours(1), 'rate(1 hour)', 300],
  ])('%s', (_case, interval, expression, timeout) => {
    const { stack, runners, template } = synthRunners({ reconcileInterval: interval });
    const { resourceOf, rulesTargeting } = inspect(stack, template);
    expect(resourceOf(runners.reconcileHandler).Properties.Timeout).toBe(timeout);
    const schedule = rulesTargeting(runners.reconcileHandler).find((r) => r.Properties.ScheduleExpression)!;
    expect(schedule.Properties.ScheduleExpression).toBe(expression);
    expect(schedule.Properties.Targets[0].RetryPolicy).toEqual({
      MaximumRetryAttempts: 0,
      MaximumEventAgeInSeconds: interval.toSeconds(),
    });
    // The retry schedule keeps its own minute.
    template.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(1 minute)' });
  });

  test('the boot and idle timeouts reach every handler in seconds', () => {
    const { stack, runners, template } = synthRunners({
      bootTimeout: Duration.minutes(15),
      idleTimeout: Duration.seconds(90),
    });
    const { resourceOf } = inspect(stack, template);
    for (const fn of [runners.webhookHandler, runners.retryHandler, runners.reconcileHandler]) {
      const vars = resourceOf(fn).Properties.Environment.Variables;
      expect(vars[ENV.bootTimeoutSeconds]).toBe('900');
      expect(vars[ENV.idleTimeoutSeconds]).toBe('90');
    }
  });

  test('the redelivery look-back reaches the reconciler in seconds (an hour by default)', () => {
    const custom = synthRunners({ redeliveryLookback: Duration.hours(6) });
    const vars = (r: typeof custom) =>
      inspect(r.stack, r.template).resourceOf(r.runners.reconcileHandler).Properties.Environment.Variables;
    expect(vars(custom)[ENV.redeliveryLookbackSeconds]).toBe('21600');
    const defaults = synthRunners({});
    expect(vars(defaults)[ENV.redeliveryLookbackSeconds]).toBe('3600');
  });

  test('tokens pass through to the schedule and the environment', () => {
    ensureHandlerBundles();
    const stack = new Stack(new App(), 'Raw');
    const number = (id: string) => new CfnParameter(stack, id, { type: 'Number' }).valueAsNumber;
    const runners = new EphemeralRunners(stack, 'Runners', {
      github: { appId: '42', privateKey: GitHubSecret.fromSsmParameter('/github/app-key') },
      reconcileInterval: Duration.minutes(number('Interval')),
      bootTimeout: Duration.seconds(number('Boot')),
      idleTimeout: Duration.seconds(number('Idle')),
    });
    const template = Template.fromStack(stack);
    const { resourceOf, rulesTargeting } = inspect(stack, template);
    const fn = resourceOf(runners.reconcileHandler).Properties;
    expect(fn.Timeout).toBe(60); // the floor, right for any interval
    expect(fn.Environment.Variables[ENV.bootTimeoutSeconds]).toEqual({ Ref: 'Boot' });
    expect(fn.Environment.Variables[ENV.idleTimeoutSeconds]).toEqual({ Ref: 'Idle' });
    const schedule = rulesTargeting(runners.reconcileHandler).find((r) => r.Properties.ScheduleExpression)!;
    expect(schedule.Properties.ScheduleExpression).toEqual({
      'Fn::Join': ['', ['rate(', { Ref: 'Interval' }, ' minutes)']],
    });
    expect(schedule.Properties.Targets[0].RetryPolicy).toEqual({
      MaximumRetryAttempts: 0,
      MaximumEventAgeInSeconds: 60,
    });
  });
});
