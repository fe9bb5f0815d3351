import * as fs from 'fs';
import * as zlib from 'zlib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { Token } from 'aws-cdk-lib';
import { imageBuilderFile } from './runner-image-components';
import { RunnerPackage } from './runner-image-package';

/** What the runner instances' boot script needs to know. */
export interface RunnerBootOptions {
  /** Name of the DynamoDB state table holding the JIT handoff items (may be a CDK token). */
  readonly stateTableName: string;
  /** CloudWatch Logs group the boot and runner logs are shipped to (may be a CDK token). */
  readonly logGroupName: string;
  /**
   * Extra CA certificates (PEM) to trust: installed in the OS store at boot (a no-op when the image
   * already has them) and given to the runner's Node through NODE_EXTRA_CA_CERTS.
   * @default - none
   */
  readonly extraCaCertificates?: string[];
  /**
   * The runner to install at boot when the AMI has none: the stock Ubuntu AMI used until the image
   * pipeline publishes its first image. Pass the image's `RunnerImage.runnerPackage`.
   * @default RunnerPackage.github() - the version this library pins
   */
  readonly runnerPackage?: RunnerPackage;
}

/** Where the boot script lands on the instance, and its settings. */
export const BOOT_SCRIPT_PATH = '/usr/local/sbin/ephemeral-runner-boot';
/** The settings file the user data writes and the boot script reads. */
export const BOOT_SETTINGS_PATH = '/etc/ephemeral-runners/boot.env';
/** Where the runner is installed, in the image and on custom AMIs alike. */
export const RUNNER_INSTALL_DIR = '/opt/actions-runner';
/** The unprivileged user the runner runs as. */
export const RUNNER_USER = 'runner';

/** EC2's limit on user data, before base64. */
const USER_DATA_LIMIT = 16 * 1024;
/** A generous length for a CloudFormation token once resolved (a table or log group name). */
const TOKEN_ESTIMATE = 256;

/** The boot script's source (image-builder/boot/runner-boot.sh). */
export function bootScriptSource(): string {
  return fs.readFileSync(imageBuilderFile('boot', 'runner-boot.sh'), 'utf8');
}

/**
 * Splits PEM inputs into single certificates (update-ca-certificates wants one per file) and
 * rejects anything that is not a PEM certificate.
 */
export function splitPemCertificates(pems: readonly string[]): string[] {
  const certs: string[] = [];
  pems.forEach((pem, i) => {
    const found = pem.match(/-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]+?-----END CERTIFICATE-----/g);
    const rest = pem
      .replace(/-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]+?-----END CERTIFICATE-----/g, '')
      .trim();
    if (!found || rest !== '') {
      throw new Error(
        `extraCaCertificates[${i}] must hold only PEM certificates (-----BEGIN CERTIFICATE----- …)`,
      );
    }
    certs.push(...found.map((c) => c.replace(/\r\n/g, '\n').trim()));
  });
  return certs;
}

/** The boot script gzipped (with a fixed header, so synthesis is stable) and base64-encoded. */
function packedBootScript(): string[] {
  const gz = zlib.gzipSync(Buffer.from(bootScriptSource()), { level: 9 });
  gz[9] = 3; // gzip's OS byte: "Unix" wherever the app is synthesized
  return gz.toString('base64').match(/.{1,76}/g) ?? [];
}

function settingLine(key: string, value: string): string {
  if (!Token.isUnresolved(value) && /[\r\n]/.test(value))
    throw new Error(`${key} must not contain a line break`);
  return `${key}=${value}`;
}

/**
 * The launch template's user data: writes the settings and the boot script, then runs it. The script
 * fetches this instance's JIT config, runs one job as user `runner` and shuts the instance down.
 */
export function runnerBootUserData(options: RunnerBootOptions): ec2.UserData {
  const pkg = options.runnerPackage ?? RunnerPackage.github();
  const settings = [
    settingLine('STATE_TABLE_NAME', options.stateTableName),
    settingLine('LOG_GROUP_NAME', options.logGroupName),
    settingLine('RUNNER_VERSION', pkg.version),
    settingLine('RUNNER_URL_X64', pkg.location('x64')),
    settingLine('RUNNER_URL_ARM64', pkg.location('arm64')),
    settingLine('RUNNER_SHA256_X64', pkg.sha256.x64),
    settingLine('RUNNER_SHA256_ARM64', pkg.sha256.arm64),
  ];
  const certs = splitPemCertificates(options.extraCaCertificates ?? []).flatMap((pem, i) => [
    `cat >/etc/ephemeral-runners/ca/extra-${i}.crt <<'EPHEMERAL_RUNNERS_CA'`,
    pem,
    'EPHEMERAL_RUNNERS_CA',
  ]);
  const commands = [
    // Until the boot script takes over, any failure must still end the instance.
    `trap 'echo "ephemeral runner user data failed: shutting down" >&2; shutdown -h now' EXIT`,
    'set -euo pipefail',
    'install -d -m 0755 /etc/ephemeral-runners /etc/ephemeral-runners/ca',
    `cat >${BOOT_SETTINGS_PATH} <<'EPHEMERAL_RUNNERS_SETTINGS'`,
    ...settings,
    'EPHEMERAL_RUNNERS_SETTINGS',
    ...certs,
    `base64 -d <<'EPHEMERAL_RUNNERS_BOOT' | gunzip >${BOOT_SCRIPT_PATH}`,
    ...packedBootScript(),
    'EPHEMERAL_RUNNERS_BOOT',
    `chmod 0755 ${BOOT_SCRIPT_PATH}`,
    `exec ${BOOT_SCRIPT_PATH} ${BOOT_SETTINGS_PATH}`,
  ];
  const userData = ec2.UserData.forLinux({ shebang: '#!/bin/bash' });
  userData.addCommands(...commands);

  const estimated = commands.reduce(
    (n, c) =>
      n +
      1 +
      (Token.isUnresolved(c)
        ? c.replace(/\$\{Token\[[^\]]+\]\}/g, 'x'.repeat(TOKEN_ESTIMATE)).length
        : c.length),
    12,
  );
  if (estimated > USER_DATA_LIMIT) {
    throw new Error(
      `the runner user data would be about ${estimated} bytes, over EC2's 16 KB limit: ` +
        'pass fewer extraCaCertificates (or bake them into a custom AMI)',
    );
  }
  return userData;
}
