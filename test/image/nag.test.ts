// cdk-nag's AWS Solutions checks find nothing unexplained in the image pipeline.
import { App, Stack, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { AwsSolutionsChecks } from 'cdk-nag';
import { RunnerImage } from '../../lib/runner-image';

test('the image pipeline passes the AWS Solutions checks', () => {
  const app = new App();
  const stack = new Stack(app, 'ImageStack', { env: { account: '123456789012', region: 'eu-west-1' } });
  const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 1 });
  Validations.of(vpc).acknowledge({ id: 'AwsSolutions-VPC7', reason: 'The test VPC is not under test.' });
  new RunnerImage(stack, 'Image', { vpc, architectures: ['x64', 'arm64'] });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  expect(() => app.synth()).not.toThrow();
});
