import { Fn, Token } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as imagebuilder from 'aws-cdk-lib/aws-imagebuilder';
import { Construct } from 'constructs';
import { RunnerArchitecture } from '../lambda/core/runner-config';
import { splitPemCertificates } from './runner-boot';
import {
  RunnerImageComponent,
  builtInComponentDocument,
  checkedComponentDocument,
  contentVersion,
  withParameterDefault,
} from './runner-image-components';
import { RunnerPackage } from './runner-image-package';

/** Ubuntu LTS release the runner image is built on. */
export type UbuntuVersion = '24.04' | '22.04';

/** One component of a recipe: its ARN, its version (what the recipe's version hashes) and parameters. */
export interface RecipeComponent {
  readonly arn: string;
  readonly version: string;
  readonly parameters: Record<string, string>;
}

/** What goes into the recipes. */
export interface RecipeContents {
  /** Prefix of the components' names. */
  readonly prefix: string;
  readonly runnerPackage: RunnerPackage;
  readonly extraCaCertificates?: string[];
  readonly prePulledDockerImages?: string[];
  readonly components?: RunnerImageComponent[];
}

/** Canonical's public SSM parameter holding the current stock Ubuntu AMI id. */
export function canonicalAmiParameter(version: UbuntuVersion, arch: RunnerArchitecture): string {
  // Canonical publishes 24.04 with gp3 root volumes only, 22.04 under its long-standing gp2 name.
  const volume = version === '24.04' ? 'ebs-gp3' : 'ebs-gp2';
  const cpu = arch === 'x64' ? 'amd64' : 'arm64';
  return `/aws/service/canonical/ubuntu/server/${version}/stable/current/${cpu}/hvm/${volume}/ami-id`;
}

/** `x64` → `X64`, `base-packages` → `BasePackages`: construct ids. */
export function pascal(s: string): string {
  return s
    .split(/[^A-Za-z0-9]+/)
    .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
    .join('');
}

/**
 * Creates the components (once, shared by the architectures) and returns, per architecture, the
 * recipe's components in order: base packages, CA certificates, Docker, the runner (its tarball from
 * S3 first when it lives there), pre-pulled images, the CloudWatch agent, then the user's.
 */
export function recipeComponents(
  scope: Construct,
  contents: RecipeContents,
): (arch: RunnerArchitecture) => RecipeComponent[] {
  const created = new Map<string, { arn: string; version: string }>();
  const component = (id: string, data: string, description: string) => {
    const existing = created.get(id);
    if (existing) return existing;
    const version = contentVersion(data);
    const c = new imagebuilder.CfnComponent(scope, `Component${pascal(id)}`, {
      name: `${contents.prefix}-${id}`,
      version, // components are immutable: new content, new version (and a replaced resource)
      platform: 'Linux',
      description,
      data,
    });
    created.set(id, { arn: c.attrArn, version });
    return { arn: c.attrArn, version };
  };
  const builtIn = (name: string, description: string, data = builtInComponentDocument(name)) =>
    component(name, data, description);
  const certs = splitPemCertificates(contents.extraCaCertificates ?? []);
  const pkg = contents.runnerPackage;
  const images = contents.prePulledDockerImages ?? [];

  return (arch) => {
    const list: RecipeComponent[] = [];
    const add = (c: { arn: string; version: string }, parameters: Record<string, string> = {}) =>
      list.push({ ...c, parameters });
    add(builtIn('base-packages', 'Ubuntu updates and the tools runner jobs expect'));
    if (certs.length > 0) {
      // Written as the parameter's default: a recipe parameter would bound the bundle's length.
      const value = certs.map((pem) => Buffer.from(`${pem}\n`).toString('base64')).join(' ');
      const doc = withParameterDefault(
        builtInComponentDocument('extra-ca-certificates'),
        'CaCertificatesBase64',
        value,
      );
      add(
        builtIn(
          'extra-ca-certificates',
          'Extra CA certificates',
          checkedComponentDocument(doc, 'extra-ca-certificates'),
        ),
      );
    }
    add(builtIn('docker', 'Docker engine'));
    const location = pkg.location(arch);
    const runner: Record<string, string> = { RunnerVersion: pkg.version, RunnerSha256: pkg.sha256[arch] };
    if (location.startsWith('s3://'))
      add(builtIn('runner-tarball-s3', 'Runner tarball from S3'), { TarballS3Uri: location });
    else runner.RunnerTarballUrl = location;
    add(builtIn('github-runner', 'GitHub Actions runner, checked against its SHA-256'), runner);
    if (images.length > 0)
      add(builtIn('prepull-docker-images', 'Pre-pulled Docker images'), { Images: images.join(' ') });
    add(builtIn('cloudwatch-agent', 'Amazon CloudWatch agent'));
    (contents.components ?? []).forEach((c, i) => {
      if (c.arn) list.push({ arn: c.arn, version: c.arn, parameters: c.parameters });
      else add(component(`custom-${i + 1}`, c.document ?? '', `Custom component ${i + 1}`), c.parameters);
    });
    return list;
  };
}

/**
 * The build instances' subnet: the selection's first, else private with egress, else public. The
 * subnet lists are read directly, not through `selectSubnets` by type: for a type the VPC lacks, that
 * constructs a CDK error, and every CDK error constructed writes `cdk.out/error.txt` (the file the
 * CLI reads when an app fails), caught or not.
 */
export function buildSubnet(vpc: ec2.IVpc, selection?: ec2.SubnetSelection): string {
  const candidates = selection
    ? vpc.selectSubnets(selection).subnets
    : [...vpc.privateSubnets, ...vpc.publicSubnets];
  // A subnet imported from a list token (a CloudFormation list parameter) is the whole list: its first.
  if (candidates.length > 0)
    return Token.isUnresolved([candidates[0].subnetId])
      ? Fn.select(0, [candidates[0].subnetId])
      : candidates[0].subnetId;
  throw new Error(
    'RunnerImage: the VPC has no subnet with outbound access for the image builds: pass subnetSelection',
  );
}
