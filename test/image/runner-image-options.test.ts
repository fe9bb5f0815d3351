// RunnerImage's options and RunnerPackage: what each changes in the template, and what is refused.
import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as YAML from 'yaml';
import {
  DEFAULT_RUNNER_RELEASE,
  RunnerImage,
  RunnerImageComponent,
  RunnerImageProps,
  RunnerPackage,
} from '../../lib/runner-image';
import { recipeComponents, recipeFor, resources, synth } from './image-template';

describe('RunnerImage options', () => {
  test('Ubuntu 22.04, one architecture', () => {
    const { template } = synth({ ubuntuVersion: '22.04', architectures: ['arm64'] });
    template.resourceCountIs('AWS::ImageBuilder::ImagePipeline', 1);
    expect(recipeFor(template, 'arm64').Properties.ParentImage).toBe(
      'ssm:/aws/service/canonical/ubuntu/server/22.04/stable/current/arm64/hvm/ebs-gp2/ami-id',
    );
  });

  test('pre-pulled images, extra CA certificates and custom components', () => {
    const pem = '-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----';
    const mine = YAML.stringify({
      schemaVersion: 1.0,
      phases: [
        {
          name: 'build',
          steps: [{ name: 'Hello', action: 'ExecuteBash', inputs: { commands: ['echo hello'] } }],
        },
      ],
    });
    const arn = 'arn:aws:imagebuilder:eu-west-1:aws:component/amazon-corretto-21-headless/x.x.x';
    const { template } = synth({
      prePulledDockerImages: ['node:22', 'public.ecr.aws/docker/library/alpine:3.20'],
      extraCaCertificates: [pem],
      components: [RunnerImageComponent.fromDocument(mine), RunnerImageComponent.fromArn(arn, { Flag: 'x' })],
    });
    const names = recipeComponents(template, 'x64').map(([n]) => n);
    expect(names).toEqual([
      'base-packages',
      'extra-ca-certificates',
      'docker',
      'github-runner',
      'prepull-docker-images',
      'cloudwatch-agent',
      'custom-1',
      arn,
    ]);
    expect(recipeComponents(template, 'x64')[4][1]).toEqual({
      Images: 'node:22 public.ecr.aws/docker/library/alpine:3.20',
    });
    expect(recipeComponents(template, 'x64')[7][1]).toEqual({ Flag: 'x' });
    const ca = resources(template, 'AWS::ImageBuilder::Component').find((c) =>
      String(c.Properties.Name).endsWith('extra-ca-certificates'),
    );
    expect(YAML.parse(String(ca?.Properties.Data)).parameters[0].CaCertificatesBase64.default).toBe(
      Buffer.from(`${pem}\n`).toString('base64'),
    );
  });

  test('a runner from S3 for air-gapped installations', () => {
    const stack = new Stack(new App(), 'S3Stack', { env: { account: '123456789012', region: 'eu-west-1' } });
    const bucket = new s3.Bucket(stack, 'Mirror');
    const img = new RunnerImage(stack, 'Image', {
      vpc: new ec2.Vpc(stack, 'Vpc', { maxAzs: 1 }),
      architectures: ['x64'],
      runnerPackage: RunnerPackage.fromS3({
        ...DEFAULT_RUNNER_RELEASE,
        bucket,
        keys: { x64: 'runner/x64.tgz', arm64: 'runner/arm64.tgz' },
      }),
    });
    const t = Template.fromStack(stack);
    expect(recipeComponents(t, 'x64').map(([n]) => n)).toEqual([
      'base-packages',
      'docker',
      'runner-tarball-s3',
      'github-runner',
      'cloudwatch-agent',
    ]);
    expect(recipeComponents(t, 'x64')[3][1]).toEqual({
      RunnerVersion: '2.333.0',
      RunnerSha256: DEFAULT_RUNNER_RELEASE.sha256.x64,
    });
    t.hasResourceProperties('AWS::IAM::Policy', {
      Roles: [{ Ref: Match.stringLikeRegexp('ImageBuildRole') }],
      PolicyDocument: {
        Statement: Match.arrayWith([Match.objectLike({ Action: Match.arrayWith(['s3:GetObject*']) })]),
      },
    });
    expect(img.runnerPackage.location('x64')).toMatch(/^s3:\/\/\$\{Token\[.*\]\}\/runner\/x64.tgz$/);
  });

  test('schedule, images kept, no build on deploy', () => {
    const { template } = synth({
      scheduleExpression: 'cron(0 2 * * ? *)',
      imagesToKeep: 5,
      buildOnDeploy: false,
    });
    template.hasResourceProperties('AWS::ImageBuilder::ImagePipeline', {
      Schedule: { ScheduleExpression: 'cron(0 2 * * ? *)' },
    });
    template.hasResourceProperties('AWS::ImageBuilder::LifecyclePolicy', {
      PolicyDetails: [Match.objectLike({ Filter: { Type: 'COUNT', Value: 5 } })],
    });
    const starts = Object.values(template.findResources('Custom::AWS')).filter((r) =>
      JSON.stringify(r.Properties.Create).includes('startImagePipelineExecution'),
    );
    expect(starts).toHaveLength(0);
  });

  test('recipe versions change with the runner, and only then', () => {
    const version = (props: Partial<RunnerImageProps>) =>
      recipeFor(synth(props).template, 'x64').Properties.Version;
    const newer = RunnerPackage.github({
      version: '2.334.0',
      sha256: { x64: 'a'.repeat(64), arm64: 'b'.repeat(64) },
    });
    expect(version({})).toBe(version({}));
    expect(version({ runnerPackage: newer })).not.toBe(version({}));
  });

  test.each<[string, Partial<RunnerImageProps>, RegExp]>([
    ['no architecture', { architectures: [] }, /architectures must name at least one/],
    ['a bad image reference', { prePulledDockerImages: ['node:22; rm -rf /'] }, /invalid image reference/],
    ['keeping no image', { imagesToKeep: 0 }, /imagesToKeep must be a whole number of at least 1/],
    ['a tiny volume', { volumeSizeGiB: 4 }, /volumeSizeGiB must be a whole number of at least 8/],
  ])('rejects %s', (_, props, message) => {
    expect(() => synth(props)).toThrow(message);
  });
});

describe('RunnerPackage', () => {
  test('rejects a version github.com no longer accepts, and a checksum that is not one', () => {
    expect(() =>
      RunnerPackage.github({ version: '2.328.0', sha256: { x64: 'a'.repeat(64), arm64: 'b'.repeat(64) } }),
    ).toThrow(/older than 2.329.0/);
    expect(() =>
      RunnerPackage.github({ version: '2.334.0', sha256: { x64: 'abc', arm64: 'b'.repeat(64) } }),
    ).toThrow(/sha256.x64 of runner 2.334.0 must be 64 hex digits/);
    expect(() =>
      RunnerPackage.fromUrl({
        ...DEFAULT_RUNNER_RELEASE,
        urls: { x64: 'http://mirror/x64.tgz', arm64: 'https://mirror/arm64.tgz' },
      }),
    ).toThrow(/urls.x64 must be an https:\/\/ URL/);
  });

  test('serves a GHES mirror by URL, with the checksums it was given', () => {
    const pkg = RunnerPackage.fromUrl({
      ...DEFAULT_RUNNER_RELEASE,
      urls: { x64: 'https://ghes.example.com/x64.tgz', arm64: 'https://ghes.example.com/arm64.tgz' },
    });
    expect(pkg.location('arm64')).toBe('https://ghes.example.com/arm64.tgz');
    expect(pkg.sha256).toEqual(DEFAULT_RUNNER_RELEASE.sha256);
  });
});
