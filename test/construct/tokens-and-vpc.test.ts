import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App, CfnParameter, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { ENV } from '../../lambda/core/settings';
import { EphemeralRunners, GitHubSecret, RunnerAmi } from '../../lib';
import { lambdaAsset } from '../../lib/lambda-assets';
import { ensureHandlerBundles, existingVpc } from './support';

const CA = `-----BEGIN CERTIFICATE-----
MIIBszCCAVmgAwIBAgIUexample0000000000000000000000wCgYIKoZIzj0EAwIw
-----END CERTIFICATE-----`;

function webhookEnvironment(template: Template): Record<string, unknown> {
  const fns = template.findResources('AWS::Lambda::Function', { Properties: { MemorySize: 1024 } });
  return Object.values(fns)[0].Properties.Environment.Variables;
}

describe('token-valued props', () => {
  ensureHandlerBundles();
  const app = new App();
  const stack = new Stack(app, 'Raw');
  const param = (id: string, type = 'String') => new CfnParameter(stack, id, { type });
  const runners = new EphemeralRunners(stack, 'Runners', {
    github: {
      url: param('Url').valueAsString,
      appId: param('AppId').valueAsString,
      privateKey: GitHubSecret.fromSsmParameter(param('KeyParameter').valueAsString),
      runnerGroupId: param('GroupId', 'Number').valueAsNumber,
      runnerScope: param('Scope').valueAsString as 'org',
    },
    allowedOwners: param('Owners', 'CommaDelimitedList').valueAsList,
    allowedRepositories: ['acme/app', param('ExtraRepo').valueAsString],
    runnerConfigs: [
      {
        name: 'x64',
        labels: ['linux', param('Label').valueAsString],
        instanceTypes: [new ec2.InstanceType('m7i.large')],
        ami: RunnerAmi.fromSsmParameter(param('AmiParameter').valueAsString),
      },
    ],
  });
  const template = Template.fromStack(stack);
  const env = webhookEnvironment(template);

  test('synthesize, passing the parameters through to the Lambdas', () => {
    expect(env[ENV.githubUrl]).toEqual({ Ref: 'Url' });
    expect(env[ENV.githubAppId]).toEqual({ Ref: 'AppId' });
    expect(env[ENV.runnerGroupId]).toEqual({ Ref: 'GroupId' });
    expect(env[ENV.runnerScope]).toEqual({ Ref: 'Scope' });
    expect(env[ENV.githubPrivateKey]).toEqual({ 'Fn::Join': ['', ['ssm:', { Ref: 'KeyParameter' }]] });
    expect(env[ENV.allowedOwners]).toEqual({ 'Fn::Join': [',', { Ref: 'Owners' }] });
    expect(env[ENV.allowedRepositories]).toEqual({ 'Fn::Join': [',', ['acme/app', { Ref: 'ExtraRepo' }]] });
  });

  test('the delivery budget is chosen at deploy time from the URL parameter', () => {
    expect(env[ENV.deliveryBudgetMs]).toEqual({
      'Fn::If': [expect.stringMatching(/IsGitHubCom/), '8000', '25000'],
    });
    const conditions = template.findConditions('*');
    const isDotCom = Object.entries(conditions).find(([id]) => id.includes('IsGitHubCom'));
    expect(JSON.stringify(isDotCom![1])).toContain('{"Fn::Equals":[{"Ref":"Url"},"https://github.com"]}');
  });

  test('token paths resolve at launch time, and the handlers may read them', () => {
    template.hasResourceProperties('AWS::EC2::LaunchTemplate', {
      LaunchTemplateData: Match.objectLike({
        ImageId: { 'Fn::Join': ['', ['resolve:ssm:', { Ref: 'AmiParameter' }]] },
      }),
    });
    const policies = JSON.stringify(template.findResources('AWS::IAM::Policy'));
    expect(policies).toContain('":parameter",{"Ref":"AmiParameter"}');
    expect(policies).toContain('":parameter",{"Ref":"KeyParameter"}');
    expect(runners.image).toBeUndefined(); // no config uses the baked AMI: no image pipeline
  });
});

describe('an existing VPC with private subnets', () => {
  ensureHandlerBundles();
  const app = new App();
  const stack = new Stack(app, 'Existing');
  const vpc = existingVpc(stack);
  const runners = new EphemeralRunners(stack, 'Runners', {
    vpc,
    github: {
      url: 'https://ghes.example.com',
      appId: '42',
      privateKey: GitHubSecret.fromSecretName('github/app-key'),
      extraCaCertificates: [CA],
    },
    runnerConfigs: [
      {
        name: 'arm',
        labels: ['linux', 'arm64'],
        instanceTypes: [new ec2.InstanceType('m7g.large'), new ec2.InstanceType('c7g.large')],
        ami: RunnerAmi.fromAmiId('ami-0123456789abcdef0', { rootDeviceName: '/dev/xvda' }),
      },
    ],
  });
  const template = Template.fromStack(stack);

  test('creates no VPC of its own and launches in the private subnets, without public IPs', () => {
    template.resourceCountIs('AWS::EC2::VPC', 1);
    expect(runners.vpc).toBe(vpc);
    template.hasResourceProperties('AWS::EC2::LaunchTemplate', {
      LaunchTemplateData: Match.objectLike({
        NetworkInterfaces: Match.absent(),
        SecurityGroupIds: [
          { 'Fn::GetAtt': [Match.stringLikeRegexp('RunnersFleetSecurityGroup'), 'GroupId'] },
        ],
        ImageId: 'ami-0123456789abcdef0',
        BlockDeviceMappings: [Match.objectLike({ DeviceName: '/dev/xvda' })],
      }),
    });
    const parameter = Object.values(template.findResources('AWS::SSM::Parameter'))[0];
    const value = JSON.stringify(parameter.Properties.Value);
    const privateIds = vpc.privateSubnets.map((s) => stack.resolve(s.subnetId).Ref as string);
    const publicIds = vpc.publicSubnets.map((s) => stack.resolve(s.subnetId).Ref as string);
    for (const id of privateIds) expect(value).toContain(id);
    for (const id of publicIds) expect(value).not.toContain(id);
    expect(value).toContain('\\"architecture\\":\\"arm64\\"'); // inferred from the Graviton types
  });

  test('ships the CA certificates to the Lambdas as a layer file', () => {
    template.resourceCountIs('AWS::Lambda::LayerVersion', 1);
    const env = webhookEnvironment(template);
    expect(env.NODE_EXTRA_CA_CERTS).toBe('/opt/extra-ca-certificates.pem');
    expect(env[ENV.deliveryBudgetMs]).toBe('25000');
    template.allResourcesProperties('AWS::Lambda::Function', {
      Layers: [{ Ref: Match.stringLikeRegexp('CaCertificates') }],
    });
  });
});

describe('RunnerAmi', () => {
  const stack = new Stack(new App(), 'Amis');
  const bind = (ami: RunnerAmi) => stack.resolve(ami.bind('x64'));

  test('a public SSM parameter has no account in its ARN; a private one has', () => {
    const name = '/aws/service/canonical/ubuntu/server/24.04/stable/current/amd64/hvm/ebs-gp3/ami-id';
    const ami = bind(RunnerAmi.fromSsmParameter(name));
    expect(ami.imageId).toBe(`resolve:ssm:${name}`);
    expect(ami.parameterArn['Fn::Join'][1]).toEqual([
      'arn:',
      { Ref: 'AWS::Partition' },
      ':ssm:',
      { Ref: 'AWS::Region' },
      `::parameter${name}`,
    ]);
    const own = bind(RunnerAmi.fromSsmParameter('golden-ami'));
    expect(own.parameterArn['Fn::Join'][1]).toEqual(
      expect.arrayContaining([{ Ref: 'AWS::AccountId' }, ':parameter/golden-ami']),
    );
  });

  test('a fixed AMI needs no parameter, and keeps its root device', () => {
    expect(bind(RunnerAmi.fromAmiId('ami-0123456789abcdef0', { rootDeviceName: '/dev/xvda' }))).toEqual({
      imageId: 'ami-0123456789abcdef0',
      rootDeviceName: '/dev/xvda',
    });
  });
});

describe('lambdaAsset', () => {
  test('finds the bundles from the sources (lib/) and from the compiled library (dist/lib)', () => {
    ensureHandlerBundles();
    const root = path.join(__dirname, '..', '..');
    expect(lambdaAsset('webhook', path.join(root, 'lib'))).toBe(path.join(root, 'dist', 'assets', 'webhook'));
    expect(lambdaAsset('retry', path.join(root, 'dist', 'lib'))).toBe(
      path.join(root, 'dist', 'assets', 'retry'),
    );
  });

  test('tells to run npm run build when a bundle is missing', () => {
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'no-assets-'));
    expect(() => lambdaAsset('webhook', path.join(empty, 'lib'))).toThrow(
      /The bundled Lambda handler "webhook" is missing .* Run `npm run build` to bundle lambda\/webhook\/index\.ts/,
    );
  });
});
