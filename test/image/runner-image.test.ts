// Template assertions for the image pipeline: a Stack holding only a RunnerImage.
import * as fs from 'fs';
import * as path from 'path';
import { Match } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import { DEFAULT_RUNNER_RELEASE } from '../../lib/runner-image';
import { recipeComponents, recipeFor, resources, synth } from './image-template';

const COMPONENTS = path.join(__dirname, '..', '..', 'image-builder', 'components');

describe('RunnerImage', () => {
  const { template, image } = synth();

  test('one recipe per architecture, on Canonical’s current Ubuntu 24.04', () => {
    expect(recipeFor(template, 'x64').Properties).toMatchObject({
      ParentImage: 'ssm:/aws/service/canonical/ubuntu/server/24.04/stable/current/amd64/hvm/ebs-gp3/ami-id',
      Version: expect.stringMatching(/^1\.0\.\d+$/),
      BlockDeviceMappings: [
        { DeviceName: '/dev/sda1', Ebs: { VolumeSize: 30, VolumeType: 'gp3', Encrypted: true } },
      ],
    });
    expect(recipeFor(template, 'arm64').Properties.ParentImage).toBe(
      'ssm:/aws/service/canonical/ubuntu/server/24.04/stable/current/arm64/hvm/ebs-gp3/ami-id',
    );
  });

  test('recipes run the built-in components in order, with the runner pinned by SHA-256 per architecture', () => {
    for (const arch of ['x64', 'arm64'] as const) {
      expect(recipeComponents(template, arch)).toEqual([
        ['base-packages', {}],
        ['docker', {}],
        [
          'github-runner',
          {
            RunnerVersion: DEFAULT_RUNNER_RELEASE.version,
            RunnerSha256: DEFAULT_RUNNER_RELEASE.sha256[arch],
            RunnerTarballUrl: `https://github.com/actions/runner/releases/download/v2.333.0/actions-runner-linux-${arch}-2.333.0.tar.gz`,
          },
        ],
        ['cloudwatch-agent', {}],
      ]);
    }
  });

  test('components carry the documents under image-builder/components, versioned by content', () => {
    const components = resources(template, 'AWS::ImageBuilder::Component');
    expect(components).toHaveLength(4);
    for (const c of components) {
      const file = String(c.Properties.Name).replace(/^[A-Za-z0-9]+-Image-[0-9A-F]+-/, '');
      expect(c.Properties).toMatchObject({
        Platform: 'Linux',
        Version: expect.stringMatching(/^1\.0\.\d+$/),
      });
      expect(c.Properties.Data).toBe(fs.readFileSync(path.join(COMPONENTS, `${file}.yml`), 'utf8'));
    }
  });

  test('a weekly pipeline per architecture that rebuilds even when the recipe did not change', () => {
    template.resourceCountIs('AWS::ImageBuilder::ImagePipeline', 2);
    template.hasResourceProperties('AWS::ImageBuilder::ImagePipeline', {
      Schedule: {
        ScheduleExpression: 'cron(0 4 ? * sun *)',
        PipelineExecutionStartCondition: 'EXPRESSION_MATCH_ONLY',
      },
      ImageTestsConfiguration: { ImageTestsEnabled: true },
      ImageTags: { 'ephemeral-runners:image': Match.stringLikeRegexp('-x64$') },
      Status: 'ENABLED',
    });
  });

  test('distribution writes the AMI id to an SSM parameter Image Builder may write', () => {
    for (const arch of ['x64', 'arm64'] as const) {
      expect(image.amiParameterName(arch)).toMatch(
        new RegExp(`^/imagebuilder/ephemeral-runners/ImageStack-Image-[0-9A-F]+/${arch}$`),
      );
      template.hasResourceProperties('AWS::ImageBuilder::DistributionConfiguration', {
        Distributions: [
          {
            Region: 'eu-west-1',
            AmiDistributionConfiguration: {
              Name: Match.stringLikeRegexp(`-${arch}-\\{\\{ imagebuilder:buildDate \\}\\}$`),
            },
            SsmParameterConfigurations: [
              { ParameterName: image.amiParameterName(arch), DataType: 'aws:ec2:image' },
            ],
          },
        ],
      });
    }
  });

  test('build instances use IMDSv2, a private subnet and a security group without ingress', () => {
    template.hasResourceProperties('AWS::ImageBuilder::InfrastructureConfiguration', {
      InstanceMetadataOptions: { HttpTokens: 'required' },
      InstanceTypes: ['m7g.large', 'm6g.large'],
      SubnetId: { Ref: Match.stringLikeRegexp('VpcPrivateSubnet1') },
      TerminateInstanceOnFailure: true,
    });
    template.hasResourceProperties('AWS::EC2::SecurityGroup', {
      GroupDescription: Match.stringLikeRegexp('Image Builder build'),
      SecurityGroupIngress: Match.absent(),
    });
    template.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: Match.objectLike({
        Statement: [Match.objectLike({ Principal: { Service: 'ec2.amazonaws.com' } })],
      }),
      ManagedPolicyArns: [
        {
          'Fn::Join': [
            '',
            ['arn:', { Ref: 'AWS::Partition' }, ':iam::aws:policy/EC2InstanceProfileForImageBuilder'],
          ],
        },
        {
          'Fn::Join': [
            '',
            ['arn:', { Ref: 'AWS::Partition' }, ':iam::aws:policy/AmazonSSMManagedInstanceCore'],
          ],
        },
      ],
    });
  });

  test('a lifecycle policy per architecture keeps the three newest images', () => {
    template.resourceCountIs('AWS::ImageBuilder::LifecyclePolicy', 2);
    template.hasResourceProperties('AWS::ImageBuilder::LifecyclePolicy', {
      ResourceType: 'AMI_IMAGE',
      ExecutionRole: { 'Fn::GetAtt': [Match.stringLikeRegexp('LifecycleRole'), 'Arn'] },
      PolicyDetails: [
        {
          Action: { Type: 'DELETE', IncludeResources: { Amis: true, Snapshots: true } },
          Filter: { Type: 'COUNT', Value: 3 },
        },
      ],
      ResourceSelection: { TagMap: { 'ephemeral-runners:image': Match.stringLikeRegexp('-arm64$') } },
    });
    template.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: Match.objectLike({
        Statement: [Match.objectLike({ Principal: { Service: 'imagebuilder.amazonaws.com' } })],
      }),
      ManagedPolicyArns: [
        {
          'Fn::Join': [
            '',
            [
              'arn:',
              { Ref: 'AWS::Partition' },
              ':iam::aws:policy/service-role/EC2ImageBuilderLifecycleExecutionPolicy',
            ],
          ],
        },
      ],
    });
  });

  test('first deploy: the AMI parameter starts as the stock Ubuntu AMI, created once and never updated by CloudFormation', () => {
    template.resourceCountIs('AWS::SSM::Parameter', 0);
    const seeds = Object.values(template.findResources('Custom::AWS')).filter((r) =>
      JSON.stringify(r.Properties.Create).includes('putParameter'),
    );
    expect(seeds).toHaveLength(2);
    for (const seed of seeds) {
      const create = JSON.stringify(seed.Properties.Create);
      expect(create).toContain('\\"Overwrite\\":false');
      expect(create).toContain('\\"DataType\\":\\"aws:ec2:image\\"');
      expect(create).toMatch(
        /SsmParameterValueawsservicecanonicalubuntuserver2404stablecurrent(amd|arm)64hvmebsgp3amiid/,
      );
      expect(seed.Properties.Update).toBeUndefined();
      expect(JSON.stringify(seed.Properties.Delete)).toContain('deleteParameter');
    }
  });

  test('offers the parameters’ creation as a dependency for launch templates', () => {
    const { template: t } = synth({}, (stack, img) => {
      const lt = new ec2.LaunchTemplate(stack, 'Runner', {
        machineImage: ec2.MachineImage.resolveSsmParameterAtLaunch(img.amiParameterName('x64')),
      });
      lt.node.addDependency(img.amiParametersCreated);
    });
    const [lt] = Object.values(t.findResources('AWS::EC2::LaunchTemplate'));
    expect(lt.DependsOn).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^ImageAmiParameterX64/),
        expect.stringMatching(/^ImageAmiParameterArm64/),
      ]),
    );
  });

  test('starts a build on deploy and whenever the recipe changes', () => {
    const starts = Object.values(template.findResources('Custom::AWS')).filter((r) =>
      JSON.stringify(r.Properties.Create).includes('startImagePipelineExecution'),
    );
    expect(starts).toHaveLength(2);
    for (const s of starts) expect(s.Properties.Update).toEqual(s.Properties.Create);
  });

  test('grants the launching role read access to the AMI parameters', () => {
    const { template: t } = synth({}, (stack, img) => {
      const launcher = new iam.Role(stack, 'Launcher', {
        assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      });
      img.grantAmiParameterRead(launcher);
    });
    t.hasResourceProperties('AWS::IAM::Policy', {
      Roles: [{ Ref: Match.stringLikeRegexp('Launcher') }],
      PolicyDocument: {
        Statement: [
          Match.objectLike({
            Action: ['ssm:GetParameters', 'ssm:GetParameter'],
            Resource: [
              Match.objectLike({
                'Fn::Join': [
                  '',
                  Match.arrayWith([
                    Match.stringLikeRegexp(':parameter/imagebuilder/ephemeral-runners/.*/x64$'),
                  ]),
                ],
              }),
              Match.objectLike({
                'Fn::Join': [
                  '',
                  Match.arrayWith([
                    Match.stringLikeRegexp(':parameter/imagebuilder/ephemeral-runners/.*/arm64$'),
                  ]),
                ],
              }),
            ],
          }),
        ],
      },
    });
  });
});
