import { App, Stack, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { AwsSolutionsChecks } from 'cdk-nag';
import { EphemeralRunnersStack } from '../../bin/app';
import { EphemeralRunners, GitHubSecret, RunnerAmi } from '../../lib';
import { ensureHandlerBundles, existingVpc, unacknowledgedViolations } from './support';

const CA = `-----BEGIN CERTIFICATE-----
MIIBszCCAVmgAwIBAgIUexample0000000000000000000000wCgYIKoZIzj0EAwIw
-----END CERTIFICATE-----`;

/** An app checked by cdk-nag's AwsSolutions pack and by CDK's CloudFormation rules, as errors. */
function checkedApp(): App {
  ensureHandlerBundles();
  const app = new App({ context: { '@aws-cdk/core:validateAgainstDefaultRules': true } });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return app;
}

describe('cdk-nag AwsSolutions and CloudFormation validation', () => {
  test('the default app has no unacknowledged finding', () => {
    const app = checkedApp();
    new EphemeralRunnersStack(app, 'EphemeralRunnersStack');
    expect(unacknowledgedViolations(app)).toEqual([]);
  });

  test('an existing VPC with private subnets, GHES with a private CA, all AMI kinds: no unacknowledged finding', () => {
    const app = checkedApp();
    const stack = new Stack(app, 'ExistingVpcStack', {
      env: { account: '111122223333', region: 'eu-west-1' },
    });
    new EphemeralRunners(stack, 'Runners', {
      vpc: existingVpc(stack),
      github: {
        url: 'https://ghes.example.com',
        appId: '42',
        privateKey: GitHubSecret.fromSsmParameter('/github/app-key'),
        runnerScope: 'repo',
        extraCaCertificates: [CA],
      },
      allowedOwners: ['acme'],
      runnerConfigs: [
        { name: 'baked', labels: ['linux', 'x64'], instanceTypes: [new ec2.InstanceType('m7i.large')] },
        {
          name: 'custom',
          labels: ['linux', 'arm64'],
          instanceTypes: [new ec2.InstanceType('m7g.large')],
          ami: RunnerAmi.fromAmiId('ami-0123456789abcdef0'),
        },
        {
          name: 'public-parameter',
          labels: ['linux', 'x64', 'ubuntu'],
          instanceTypes: [new ec2.InstanceType('c7i.large')],
          ami: RunnerAmi.fromSsmParameter(
            '/aws/service/canonical/ubuntu/server/24.04/stable/current/amd64/hvm/ebs-gp3/ami-id',
          ),
        },
      ],
    });
    expect(unacknowledgedViolations(app)).toEqual([]);
  });

  test('custom AMIs only (no image pipeline): the construct own resources have no unacknowledged finding', () => {
    const app = checkedApp();
    const stack = new Stack(app, 'CustomAmiStack');
    new EphemeralRunners(stack, 'Runners', {
      github: { appId: '42', privateKey: GitHubSecret.fromSecretName('github-app-key') },
      runnerConfigs: [
        {
          name: 'x64',
          labels: ['linux', 'x64'],
          instanceTypes: [new ec2.InstanceType('m7i.large')],
          ami: RunnerAmi.fromSsmParameter('/my/runner-ami/x64'),
        },
        {
          name: 'arm64',
          labels: ['linux', 'arm64'],
          instanceTypes: [new ec2.InstanceType('m7g.large')],
          ami: RunnerAmi.fromAmiId('ami-0123456789abcdef0', { rootDeviceName: '/dev/xvda' }),
        },
      ],
    });
    expect(unacknowledgedViolations(app)).toEqual([]);
  });

  test('an unacknowledged finding is reported (the check can fail)', () => {
    const app = checkedApp();
    const stack = new Stack(app, 'Bad');
    new ec2.Vpc(stack, 'VpcWithoutFlowLogs', { natGateways: 0, restrictDefaultSecurityGroup: false });
    expect(unacknowledgedViolations(app).map((v) => v.rule)).toContain('AwsSolutions-VPC7');
  });
});
