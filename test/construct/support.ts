/**
 * Shared fixtures of the construct tests: a stack with the runners, and the validation report of a
 * synthesized app.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { EphemeralRunners, GitHubSecret, type EphemeralRunnersProps, type GitHubProps } from '../../lib';

/** Props to override in a test; `github` fields are merged with the test app's. */
export type Overrides = Omit<Partial<EphemeralRunnersProps>, 'github'> & { github?: Partial<GitHubProps> };

/** The bundles the construct packages; `npm run build` makes them, a placeholder does for these tests. */
export function ensureHandlerBundles(): void {
  for (const name of ['webhook', 'retry', 'reconcile', 'teardown']) {
    const file = path.join(__dirname, '..', '..', 'dist', 'assets', name, 'index.js');
    if (!fs.existsSync(file)) {
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, 'exports.handler = async () => undefined;\n');
    }
  }
}

/** Props with a private key in Secrets Manager, overridable. */
export function runnersProps(stack: Stack, overrides: Overrides = {}): EphemeralRunnersProps {
  const privateKey = GitHubSecret.fromSecretsManager(
    secretsmanager.Secret.fromSecretNameV2(stack, 'AppKey', 'github-app-private-key'),
  );
  return { ...overrides, github: { appId: '123456', privateKey, ...overrides.github } };
}

/** A stack with the runners, synthesized. */
export function synthRunners(overrides: Overrides = {}): {
  stack: Stack;
  runners: EphemeralRunners;
  template: Template;
} {
  ensureHandlerBundles();
  const app = new App();
  const stack = new Stack(app, 'TestStack');
  const runners = new EphemeralRunners(stack, 'Runners', runnersProps(stack, overrides));
  return { stack, runners, template: Template.fromStack(stack) };
}

/** A VPC of the user's: public subnets, and private subnets with a NAT gateway. */
export function existingVpc(stack: Stack): ec2.Vpc {
  return new ec2.Vpc(stack, 'ExistingVpc', {
    flowLogs: { All: {} },
    maxAzs: 2,
    natGateways: 1,
    subnetConfiguration: [
      { name: 'Public', subnetType: ec2.SubnetType.PUBLIC },
      { name: 'Private', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
    ],
  });
}

/** One violation of a validation report, flattened. */
export interface Violation {
  readonly plugin: string;
  readonly rule: string;
  readonly paths: string[];
  readonly description: string;
}

/**
 * Synthesizes an app and returns the violations left in its validation report (those not acknowledged),
 * errors and warnings alike; synthesis fails on errors, which are reported here too.
 */
export function unacknowledgedViolations(app: App): Violation[] {
  try {
    app.synth();
  } catch (e) {
    if (!/ValidationFailed|Validation failed/.test(String(e))) throw e;
  }
  const file = path.join(app.outdir, 'validation-report.json');
  if (!fs.existsSync(file)) return [];
  const report = JSON.parse(fs.readFileSync(file, 'utf8')) as {
    pluginReports?: Array<{
      summary?: { pluginName?: string };
      pluginName?: string;
      violations?: Array<{
        ruleName: string;
        description: string;
        violatingConstructs?: Array<{ constructPath?: string }>;
        violatingResources?: Array<{ constructPath?: string }>;
      }>;
    }>;
  };
  return (report.pluginReports ?? []).flatMap((r) =>
    (r.violations ?? []).map((v) => ({
      plugin: r.summary?.pluginName ?? r.pluginName ?? '?',
      rule: v.ruleName,
      description: v.description,
      paths: [...(v.violatingConstructs ?? []), ...(v.violatingResources ?? [])].map(
        (c) => c.constructPath ?? '?',
      ),
    })),
  );
}
