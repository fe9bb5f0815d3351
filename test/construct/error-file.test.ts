/**
 * A synthesis that succeeds leaves no `cdk.out/error.txt`. The CDK CLI points `CDK_ERROR_FILE` at that
 * file, and aws-cdk-lib writes into it whenever one of its errors is constructed, even one that is
 * caught: a construct that probes the VPC by catching CDK's errors leaves the file behind.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { EphemeralRunners } from '../../lib';
import { EphemeralRunnersStack } from '../../bin/app';
import { ensureHandlerBundles, runnersProps } from './support';

let dir: string;
let errorFile: string;
const saved = process.env.CDK_ERROR_FILE;
beforeEach(() => {
  ensureHandlerBundles();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'error-file-'));
  errorFile = path.join(dir, 'error.txt');
  process.env.CDK_ERROR_FILE = errorFile;
});
afterEach(() => {
  if (saved === undefined) delete process.env.CDK_ERROR_FILE;
  else process.env.CDK_ERROR_FILE = saved;
  fs.rmSync(dir, { recursive: true, force: true });
});

test('the default app synthesizes without writing the error file', () => {
  const app = new App({ outdir: path.join(dir, 'out') });
  new EphemeralRunnersStack(app, 'EphemeralRunnersStack');
  app.synth();
  expect(fs.existsSync(errorFile)).toBe(false);
});

test('a VPC with public subnets only: the image builds take a public subnet, and no error file is written', () => {
  const app = new App({ outdir: path.join(dir, 'out') });
  const stack = new Stack(app, 'PublicOnly');
  const vpc = new ec2.Vpc(stack, 'Vpc', {
    maxAzs: 2,
    natGateways: 0,
    subnetConfiguration: [{ name: 'Public', subnetType: ec2.SubnetType.PUBLIC }],
  });
  new EphemeralRunners(stack, 'Runners', runnersProps(stack, { vpc }));
  app.synth();
  expect(fs.existsSync(errorFile)).toBe(false);
  const firstPublic = stack.getLogicalId(vpc.publicSubnets[0].node.defaultChild as ec2.CfnSubnet);
  Template.fromStack(stack).allResourcesProperties('AWS::ImageBuilder::InfrastructureConfiguration', {
    SubnetId: { Ref: firstPublic },
  });
});

test('the error file is the signal this test reads: a CDK error, even caught, writes it', () => {
  const stack = new Stack(new App(), 'Probe');
  const vpc = new ec2.Vpc(stack, 'Vpc', {
    natGateways: 0,
    subnetConfiguration: [{ name: 'Public', subnetType: ec2.SubnetType.PUBLIC }],
  });
  expect(() => vpc.selectSubnets({ subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS })).toThrow(/no 'Private'/);
  expect(fs.existsSync(errorFile)).toBe(true);
});
