import { App, Duration, Size, Stack, Token } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { EphemeralRunners, RunnerAmi, type RunnerConfigProps } from '../../lib';
import { ensureHandlerBundles, existingVpc, runnersProps, type Overrides } from './support';

const types = (...names: string[]) => names.map((n) => new ec2.InstanceType(n));
const x64: RunnerConfigProps = { name: 'x64', labels: ['linux', 'x64'], instanceTypes: types('m7i.large') };

/** The error of constructing the runners with these props. */
function errorOf(overrides: Overrides, stackSetup?: (stack: Stack) => Overrides): string {
  ensureHandlerBundles();
  const stack = new Stack(new App(), 'S');
  const props = runnersProps(stack, { ...overrides, ...stackSetup?.(stack) });
  try {
    new EphemeralRunners(stack, 'Runners', props);
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error('expected the props to be rejected');
}

describe('synth-time validation names the prop and the fix', () => {
  test.each<[string, Overrides, RegExp]>([
    [
      'two configs with the same label set (case and order ignored, self-hosted added)',
      { runnerConfigs: [x64, { ...x64, name: 'other', labels: ['X64', 'Linux', 'self-hosted'] }] },
      /runnerConfigs\[1\] \("other"\)\.labels .* same label set as runnerConfigs\[0\] \("x64"\).*add a distinguishing label/,
    ],
    [
      'a config with no instance types',
      { runnerConfigs: [{ ...x64, instanceTypes: [] }] },
      /runnerConfigs\[0\] \("x64"\)\.instanceTypes is empty/,
    ],
    [
      'a label GitHub rejects',
      { runnerConfigs: [{ ...x64, labels: ['linux', 'has space'] }] },
      /runnerConfigs\[0\] \("x64"\)\.labels: label "has space" contains a comma or whitespace; GitHub would reject it/,
    ],
    [
      'a label with a comma',
      { runnerConfigs: [{ ...x64, labels: ['a,b'] }] },
      /runnerConfigs\[0\] \("x64"\)\.labels: label "a,b" contains a comma/,
    ],
    [
      'more than 100 labels',
      { runnerConfigs: [{ ...x64, labels: Array.from({ length: 100 }, (_, i) => `l${i}`) }] },
      /runnerConfigs\[0\] \("x64"\)\.labels has 101 labels \(with self-hosted\); GitHub allows 100/,
    ],
    [
      'a label given twice',
      { runnerConfigs: [{ ...x64, labels: ['linux', 'LINUX'] }] },
      /labels has "LINUX" twice/,
    ],
    [
      'duplicate config names',
      { runnerConfigs: [x64, { ...x64, labels: ['gpu'] }] },
      /runnerConfigs\[1\] \("x64"\)\.name is also the name of runnerConfigs\[0\]/,
    ],
    [
      'a config name SSM cannot hold',
      { runnerConfigs: [{ ...x64, name: 'has space' }] },
      /runnerConfigs\[0\] \("has space"\)\.name must be/,
    ],
    [
      'an owner that is not a login',
      { allowedOwners: ['acme', 'not/a-login'] },
      /allowedOwners\[1\] "not\/a-login" is not a GitHub login/,
    ],
    [
      'a repository that is not owner/repo',
      { allowedRepositories: ['acme'] },
      /allowedRepositories\[0\] "acme" must be "owner\/repo"/,
    ],
    [
      'a repository with too many parts',
      { allowedRepositories: ['a/b/c'] },
      /allowedRepositories\[0\] "a\/b\/c" must be "owner\/repo"/,
    ],
    [
      'instance types of the other architecture',
      { runnerConfigs: [{ ...x64, instanceTypes: types('m7i.large', 'm7g.large'), architecture: 'x64' }] },
      /runnerConfigs\[0\] \("x64"\)\.instanceTypes m7g\.large are not x64: .*split them into two configs/,
    ],
    [
      'an unknown spot strategy',
      { runnerConfigs: [{ ...x64, spotStrategy: 'cheap' as never }] },
      /spotStrategy "cheap" must be one of/,
    ],
    [
      'a tiny root volume',
      { runnerConfigs: [{ ...x64, rootVolumeSize: Size.gibibytes(4) }] },
      /rootVolumeSize 4 GiB must be between 8 GiB/,
    ],
    [
      "a job runtime over GitHub's limit",
      { runnerConfigs: [{ ...x64, maxJobRuntime: Duration.days(6) }] },
      /runnerConfigs\[0\] \("x64"\)\.maxJobRuntime 6 days must be between 10 minutes and 5 days/,
    ],
    [
      'a malformed AMI id',
      { runnerConfigs: [{ ...x64, ami: RunnerAmi.fromAmiId('ubuntu') }] },
      /runnerConfigs\[0\] \("x64"\)\.ami: "ubuntu" is not an AMI id/,
    ],
    [
      'a relative SSM AMI parameter path',
      { runnerConfigs: [{ ...x64, ami: RunnerAmi.fromSsmParameter('a/b') }] },
      /\.ami: "a\/b" is not an SSM parameter name/,
    ],
    ['an empty list of configs', { runnerConfigs: [] }, /runnerConfigs is empty/],
    [
      'a GitHub URL that is not a URL',
      { github: { url: 'github.com' } },
      /github\.url "github\.com" is not a URL/,
    ],
    [
      'an app id that is not numeric',
      { github: { appId: 'my-app' } },
      /github\.appId "my-app" must be the App's numeric id/,
    ],
    [
      'an unknown runner scope',
      { github: { runnerScope: 'enterprise' as never } },
      /github\.runnerScope "enterprise" must be "org" or "repo"/,
    ],
    [
      'a runner group id of 0',
      { github: { runnerGroupId: 0 } },
      /github\.runnerGroupId 0 must be a positive integer/,
    ],
    [
      'a CA certificate that is not PEM',
      { github: { extraCaCertificates: ['hello'] } },
      /github\.extraCaCertificates\[0\] is not a PEM certificate/,
    ],
    [
      'a delivery budget GitHub.com would not wait for',
      { deliveryBudget: Duration.seconds(12) },
      /deliveryBudget 12 seconds must be .* at most 9 seconds: GitHub waits 10 s \(github\.com\)/,
    ],
    [
      'a GHES delivery budget over the Lambda timeout',
      { github: { url: 'https://ghes.example.com' }, deliveryBudget: Duration.seconds(30) },
      /deliveryBudget 30 seconds must be .* at most 29 seconds: GitHub waits 30 s \(GHES\)/,
    ],
    [
      'a pending deadline over a day',
      { pendingDeadline: Duration.hours(25) },
      /pendingDeadline 1 day 1 hour must be whole minutes between 1 minute and 24 hours \(GitHub cancels/,
    ],
    [
      'a reconcile interval that is not whole minutes',
      { reconcileInterval: Duration.seconds(90) },
      /reconcileInterval 1 minute 30 seconds must be whole minutes between 1 minute and 1 hour: stuck instances/,
    ],
    [
      'a reconcile interval over an hour',
      { reconcileInterval: Duration.hours(2) },
      /reconcileInterval 2 hours must be whole minutes between 1 minute and 1 hour/,
    ],
    [
      'a boot timeout too short for installing the runner at boot',
      { bootTimeout: Duration.minutes(1) },
      /bootTimeout 1 minute must be whole seconds between 2 minutes and 1 hour: on the first deploy a runner installs the actions runner at boot/,
    ],
    [
      'a boot timeout over an hour',
      { bootTimeout: Duration.minutes(61) },
      /bootTimeout 1 hour 1 minute must be whole seconds between 2 minutes and 1 hour/,
    ],
    [
      'an idle timeout under a minute',
      { idleTimeout: Duration.seconds(30) },
      /idleTimeout 30 seconds must be whole seconds between 1 minute and 2 hours: it is counted from the instance's launch/,
    ],
    [
      'an idle timeout over two hours',
      { idleTimeout: Duration.hours(3) },
      /idleTimeout 3 hours must be whole seconds between 1 minute and 2 hours/,
    ],
    [
      "a redelivery look-back past GitHub's window",
      { redeliveryLookback: Duration.days(4) },
      /redeliveryLookback 4 days must be whole seconds between 1 minute and 3 days: GitHub keeps deliveries for 3 days/,
    ],
    [
      'an idle timeout that is not whole seconds',
      { idleTimeout: Duration.millis(90_500) },
      /idleTimeout .* must be whole seconds between 1 minute and 2 hours/,
    ],
    [
      'a reconcile interval token in seconds',
      { reconcileInterval: Duration.seconds(Token.asNumber({ Ref: 'Interval' })) },
      /reconcileInterval from a token must be given in minutes, Duration\.minutes\(token\)/,
    ],
    [
      'a boot timeout token in minutes',
      { bootTimeout: Duration.minutes(Token.asNumber({ Ref: 'Boot' })) },
      /bootTimeout from a token must be given in seconds, Duration\.seconds\(token\): CloudFormation cannot convert it/,
    ],
    [
      'a relative config path',
      { configPath: 'runner-configs' },
      /configPath "runner-configs" must begin with "\/"/,
    ],
    [
      'a root volume smaller than the baked image',
      { image: { volumeSizeGiB: 40 }, runnerConfigs: [x64] },
      /runnerConfigs\[0\] \("x64"\)\.rootVolumeSize 30 GiB is smaller than the baked image \(image\.volumeSizeGiB 40 GiB\)/,
    ],
  ])('%s', (_case, overrides, expected) => {
    expect(errorOf(overrides)).toMatch(expected);
  });

  test('every problem is reported at once, under the construct path', () => {
    const message = errorOf({ allowedOwners: ['-bad'], runnerConfigs: [{ ...x64, instanceTypes: [] }] });
    expect(message).toMatch(/^EphemeralRunners S\/Runners: invalid props:/);
    expect(message).toContain('allowedOwners[0]');
    expect(message).toContain('runnerConfigs[0] ("x64").instanceTypes is empty');
  });

  test('subnets mixing public and private are rejected', () => {
    const message = errorOf({}, (stack) => ({
      vpc: existingVpc(stack),
      subnetSelection: { subnetFilters: [ec2.SubnetFilter.byIds([])] },
    }));
    expect(message).toMatch(/subnetSelection selects no subnet of the VPC/);
    const mixed = errorOf({}, (stack) => {
      const vpc = existingVpc(stack);
      return { vpc, subnetSelection: { subnets: [vpc.publicSubnets[0], vpc.privateSubnets[0]] } };
    });
    expect(mixed).toMatch(/subnetSelection mixes public and private subnets; select one type/);
  });

  test('self-hosted is added to the labels when missing, and kept once when given', () => {
    ensureHandlerBundles();
    const stack = new Stack(new App(), 'S');
    new EphemeralRunners(
      stack,
      'Runners',
      runnersProps(stack, {
        runnerConfigs: [
          x64,
          { name: 'given', labels: ['Self-Hosted', 'gpu'], instanceTypes: types('g6.xlarge') },
        ],
      }),
    );
    const values = Object.values(Template.fromStack(stack).findResources('AWS::SSM::Parameter')).map((p) =>
      JSON.stringify(p.Properties.Value),
    );
    expect(values).toHaveLength(2);
    expect(values[0]).toContain('\\"labels\\":[\\"self-hosted\\",\\"linux\\",\\"x64\\"]');
    expect(values[1]).toContain('\\"labels\\":[\\"Self-Hosted\\",\\"gpu\\"]');
  });
});
