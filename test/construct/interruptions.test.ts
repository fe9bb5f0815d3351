import { App, CfnElement, Duration, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { IConstruct } from 'constructs';
import { ENV } from '../../lambda/core/settings';
import { EphemeralRunners } from '../../lib';
import { ensureHandlerBundles, runnersProps, synthRunners } from './support';

type Json = ReturnType<Template['toJSON']>;

describe('the interruption Lambda and its rule, with the defaults', () => {
  const { stack, runners, template } = synthRunners();
  const logicalId = (c: IConstruct) => stack.getLogicalId((c.node.defaultChild ?? c) as CfnElement);
  const fn = () => template.toJSON().Resources[logicalId(runners.interruptHandler)] as { Properties: Json };
  const statements = (): Json[] => {
    const roleId = fn().Properties.Role['Fn::GetAtt'][0] as string;
    return Object.values(template.findResources('AWS::IAM::Policy'))
      .filter((p) => JSON.stringify(p.Properties.Roles).includes(`"${roleId}"`))
      .flatMap((p) => p.Properties.PolicyDocument.Statement as Json[]);
  };

  test('one rule on the default bus sends both EC2 spot signals to it, retried within the two minutes', () => {
    const rules = Object.values(template.findResources('AWS::Events::Rule')).filter((r) =>
      (r.Properties.Targets as Json[]).some(
        (t) => t.Arn['Fn::GetAtt']?.[0] === logicalId(runners.interruptHandler),
      ),
    );
    expect(rules).toHaveLength(1);
    expect(rules[0].Properties.EventPattern).toEqual({
      source: ['aws.ec2'],
      'detail-type': ['EC2 Spot Instance Interruption Warning', 'EC2 Instance Rebalance Recommendation'],
    });
    expect(rules[0].Properties.EventBusName).toBeUndefined();
    expect(rules[0].Properties.Targets[0].RetryPolicy).toEqual({
      MaximumEventAgeInSeconds: 120,
      MaximumRetryAttempts: 2,
    });
  });

  test('runs Node.js 22 on arm64 with the settings of the other handlers, re-runs and rebalance replacement on', () => {
    const env = fn().Properties.Environment.Variables;
    expect(fn().Properties).toMatchObject({ Runtime: 'nodejs22.x', Architectures: ['arm64'], Timeout: 60 });
    expect(env[ENV.rerunInterruptedJobs]).toBe('true');
    expect(env[ENV.replaceOnRebalance]).toBe('true');
    expect(env[ENV.spotCircuitBreaker]).toBe('2/15/30');
    expect(env[ENV.bindingLabelPattern]).toBeUndefined();
    const webhookEnv =
      template.toJSON().Resources[logicalId(runners.webhookHandler)].Properties.Environment.Variables;
    expect({ ...env, POWERTOOLS_SERVICE_NAME: 0 }).toEqual({ ...webhookEnv, POWERTOOLS_SERVICE_NAME: 0 });
  });

  test('may launch (it relaunches) and terminate owned instances, but never read the webhook secret', () => {
    const actions = statements().flatMap((s) => [s.Action].flat() as string[]);
    expect(actions).toEqual(
      expect.arrayContaining(['ec2:CreateFleet', 'ec2:TerminateInstances', 'iam:PassRole']),
    );
    const text = JSON.stringify(statements());
    const webhookSecretId = Object.keys(template.findResources('AWS::SecretsManager::Secret')).find((id) =>
      id.includes('WebhookSecret'),
    );
    expect(webhookSecretId).toBeDefined();
    expect(text).not.toContain(webhookSecretId!);
  });

  test('its errors have a metric', () => {
    expect(runners.metricInterruptErrors().metricName).toBe('Errors');
  });
});

describe('the interruption props', () => {
  test('reach the Lambdas', () => {
    const { stack, runners, template } = synthRunners({
      rerunInterruptedJobs: false,
      replaceOnRebalance: false,
      spotCircuitBreaker: { interruptions: 3, within: Duration.minutes(10), openFor: Duration.hours(1) },
      bindingLabels: { prefix: 'bind-' },
    });
    const id = stack.getLogicalId(runners.webhookHandler.node.defaultChild as CfnElement);
    const env = template.toJSON().Resources[id].Properties.Environment.Variables;
    expect(env).toMatchObject({
      [ENV.rerunInterruptedJobs]: 'false',
      [ENV.replaceOnRebalance]: 'false',
      [ENV.spotCircuitBreaker]: '3/10/60',
      [ENV.bindingLabelPattern]: '^bind\\-',
    });
  });

  test('spotCircuitBreaker: false turns it off', () => {
    const { stack, runners, template } = synthRunners({ spotCircuitBreaker: false });
    const id = stack.getLogicalId(runners.retryHandler.node.defaultChild as CfnElement);
    expect(template.toJSON().Resources[id].Properties.Environment.Variables[ENV.spotCircuitBreaker]).toBe(
      'off',
    );
  });

  test.each<[string, Record<string, unknown>, RegExp]>([
    [
      'a binding pattern that matches a configured label',
      { bindingLabels: { pattern: '^lin' } },
      /bindingLabels: "\^lin" matches label "linux" of runner config "default"/,
    ],
    [
      'both prefix and pattern',
      { bindingLabels: { prefix: 'b-', pattern: '^b-' } },
      /exactly one of prefix and pattern/,
    ],
    ['a prefix with a space', { bindingLabels: { prefix: 'b ' } }, /bindingLabels.prefix "b " must be/],
    ['an invalid expression', { bindingLabels: { pattern: '(' } }, /not a valid regular expression/],
    [
      'a breaker of no interruptions',
      { spotCircuitBreaker: { interruptions: 0 } },
      /spotCircuitBreaker.interruptions 0 must be a whole number from 1 to 100/,
    ],
    [
      'a breaker window in seconds',
      { spotCircuitBreaker: { within: Duration.seconds(30) } },
      /spotCircuitBreaker.within 30 seconds must be whole minutes/,
    ],
  ])('%s is refused at synthesis, naming the prop', (_name, overrides, message) => {
    ensureHandlerBundles();
    const stack = new Stack(new App(), 'S', { env: { account: '111111111111', region: 'us-east-1' } });
    expect(() => new EphemeralRunners(stack, 'Runners', runnersProps(stack, overrides))).toThrow(message);
  });
});
