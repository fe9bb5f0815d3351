// The launch template's user data: what it writes, that it fits EC2's limit, and that the script it
// carries is byte for byte the boot script the sandbox tests run.
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';
import { App, Stack } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import {
  BOOT_SCRIPT_PATH,
  BOOT_SETTINGS_PATH,
  bootScriptSource,
  runnerBootUserData,
  splitPemCertificates,
} from '../../lib/runner-boot';
import { DEFAULT_RUNNER_RELEASE, RunnerPackage } from '../../lib/runner-image-package';
import { Cloud, runBoot, startCloud } from './sandbox';

function certificate(cn: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cert-'));
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-subj',
      `/CN=${cn}`,
      '-days',
      '2',
      '-keyout',
      path.join(dir, 'key.pem'),
      '-out',
      path.join(dir, 'cert.pem'),
    ],
    { stdio: 'ignore' },
  );
  const pem = fs.readFileSync(path.join(dir, 'cert.pem'), 'utf8');
  fs.rmSync(dir, { recursive: true });
  return pem;
}

function heredoc(script: string, marker: string): string[] {
  const lines = script.split('\n');
  const start = lines.findIndex((l) => l.includes(`<<'${marker}'`));
  const end = lines.indexOf(marker, start + 1);
  return lines.slice(start + 1, end);
}

describe('runnerBootUserData', () => {
  test('writes the settings, then the boot script, then runs it', () => {
    const script = runnerBootUserData({
      stateTableName: 'state-table',
      logGroupName: '/runners/logs',
    }).render();

    expect(script.startsWith('#!/bin/bash\n')).toBe(true);
    expect(heredoc(script, 'EPHEMERAL_RUNNERS_SETTINGS')).toEqual([
      'STATE_TABLE_NAME=state-table',
      'LOG_GROUP_NAME=/runners/logs',
      `RUNNER_VERSION=${DEFAULT_RUNNER_RELEASE.version}`,
      `RUNNER_URL_X64=https://github.com/actions/runner/releases/download/v2.333.0/actions-runner-linux-x64-2.333.0.tar.gz`,
      `RUNNER_URL_ARM64=https://github.com/actions/runner/releases/download/v2.333.0/actions-runner-linux-arm64-2.333.0.tar.gz`,
      `RUNNER_SHA256_X64=${DEFAULT_RUNNER_RELEASE.sha256.x64}`,
      `RUNNER_SHA256_ARM64=${DEFAULT_RUNNER_RELEASE.sha256.arm64}`,
    ]);
    const packed = Buffer.from(heredoc(script, 'EPHEMERAL_RUNNERS_BOOT').join(''), 'base64');
    expect(zlib.gunzipSync(packed).toString()).toBe(bootScriptSource());
    expect(script.trimEnd().split('\n').pop()).toBe(`exec ${BOOT_SCRIPT_PATH} ${BOOT_SETTINGS_PATH}`);
    // Any failure before the boot script takes over still ends the instance.
    expect(script).toContain(
      `trap 'echo "ephemeral runner user data failed: shutting down" >&2; shutdown -h now' EXIT`,
    );
    expect(Buffer.byteLength(script)).toBeLessThan(10 * 1024);
  });

  test('is the same on every synthesis (no timestamps in the gzip header)', () => {
    const a = runnerBootUserData({ stateTableName: 't', logGroupName: 'l' }).render();
    const b = runnerBootUserData({ stateTableName: 't', logGroupName: 'l' }).render();
    expect(a).toBe(b);
  });

  test('carries tokens (table and log group of the stack) through', () => {
    const stack = new Stack(new App(), 'S');
    const bucket = new s3.Bucket(stack, 'Runners');
    const userData = runnerBootUserData({
      stateTableName: new s3.Bucket(stack, 'StateLike').bucketName,
      logGroupName: 'logs',
      runnerPackage: RunnerPackage.fromS3({
        ...DEFAULT_RUNNER_RELEASE,
        bucket,
        keys: { x64: 'runner/x64.tar.gz', arm64: 'runner/arm64.tar.gz' },
      }),
    });
    const rendered = JSON.stringify(stack.resolve(userData.render()));
    expect(rendered).toContain('STATE_TABLE_NAME=');
    expect(rendered).toMatch(/RUNNER_URL_X64=s3:\/\/", *\{ *"Ref": *"Runners/);
  });

  test('writes each extra CA certificate to its own file', () => {
    const a = certificate('first');
    const b = certificate('second');
    const script = runnerBootUserData({
      stateTableName: 't',
      logGroupName: 'l',
      extraCaCertificates: [a + b],
    }).render();

    expect(script).toContain(
      `cat >/etc/ephemeral-runners/ca/extra-0.crt <<'EPHEMERAL_RUNNERS_CA'\n${a.trim()}\nEPHEMERAL_RUNNERS_CA`,
    );
    expect(script).toContain(
      `cat >/etc/ephemeral-runners/ca/extra-1.crt <<'EPHEMERAL_RUNNERS_CA'\n${b.trim()}\nEPHEMERAL_RUNNERS_CA`,
    );
  });

  test('rejects what is not a PEM certificate, and user data over 16 KB', () => {
    expect(() => splitPemCertificates(['not a certificate'])).toThrow(
      /extraCaCertificates\[0\] must hold only PEM/,
    );
    const many = Array.from({ length: 8 }, (_, i) => certificate(`ca-${i}`));
    expect(() =>
      runnerBootUserData({ stateTableName: 't', logGroupName: 'l', extraCaCertificates: many }),
    ).toThrow(/over EC2's 16 KB limit/);
  });
});

describe('the rendered user data, run in the sandbox', () => {
  let cloud: Cloud;
  beforeAll(async () => {
    cloud = await startCloud();
  });
  afterAll(async () => {
    await cloud.close();
  });

  test('unpacks a boot script that boots a runner', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'user-data-'));
    const pem = certificate('sandbox');
    // Redirect the user data's absolute paths into the sandbox and stop before it execs the script.
    const script = runnerBootUserData({
      stateTableName: 'unused',
      logGroupName: 'l',
      extraCaCertificates: [pem],
    })
      .render()
      .replaceAll('/etc/ephemeral-runners', path.join(dir, 'etc'))
      .replaceAll(BOOT_SCRIPT_PATH, path.join(dir, 'boot.sh'))
      .replace(/^exec .*$/m, 'trap - EXIT');
    fs.writeFileSync(path.join(dir, 'user-data.sh'), script);
    const stubs = path.join(dir, 'stubs');
    fs.mkdirSync(stubs);
    fs.writeFileSync(path.join(stubs, 'shutdown'), `#!/bin/bash\necho "shutdown $*" >>${dir}/calls\n`, {
      mode: 0o755,
    });
    execFileSync('bash', [path.join(dir, 'user-data.sh')], { env: { PATH: `${stubs}:${process.env.PATH}` } });

    expect(fs.existsSync(path.join(dir, 'calls'))).toBe(false);
    expect(fs.readFileSync(path.join(dir, 'boot.sh'), 'utf8')).toBe(bootScriptSource());
    expect(fs.statSync(path.join(dir, 'boot.sh')).mode & 0o777).toBe(0o755);
    expect(fs.readFileSync(path.join(dir, 'etc', 'ca', 'extra-0.crt'), 'utf8')).toBe(`${pem.trim()}\n`);
    expect(fs.readFileSync(path.join(dir, 'etc', 'boot.env'), 'utf8')).toMatch(/^STATE_TABLE_NAME=unused\n/);

    const r = await runBoot(cloud, { jitConfig: 'from-user-data', script: path.join(dir, 'boot.sh') });
    expect(r.exitCode).toBe(0);
    expect(r.runner?.jitConfig).toBe('from-user-data');
    r.cleanup();
    fs.rmSync(dir, { recursive: true });
  });
});
