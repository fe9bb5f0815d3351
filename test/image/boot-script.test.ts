// The real boot script (image-builder/boot/runner-boot.sh) in a sandbox: IMDSv2 and DynamoDB stand-ins,
// a stand-in runner, and stubs for shutdown, user switching and package installation.
import * as fs from 'fs';
import * as path from 'path';
import { Cloud, RunResult, runBoot, startCloud } from './sandbox';

const JIT = 'eyJzZWNyZXQiOiJqaXQtY29uZmlnLWZvci10aGlzLWluc3RhbmNlIn0/+=';

let cloud: Cloud;
const results: RunResult[] = [];

beforeAll(async () => {
  cloud = await startCloud();
});

afterAll(async () => {
  await cloud.close();
  for (const r of results) r.cleanup();
});

async function boot(options: Parameters<typeof runBoot>[1]): Promise<RunResult> {
  const r = await runBoot(cloud, options);
  results.push(r);
  return r;
}

function expectSecretKept(r: RunResult, secret = JIT) {
  expect(r.output).not.toContain(secret);
  expect(r.log).not.toContain(secret);
  expect(r.calls.join('\n')).not.toContain(secret);
}

function expectShutdownLast(r: RunResult) {
  expect(r.calls[r.calls.length - 1]).toMatch(/^shutdown -h now/);
  expect(r.calls.filter((c) => c.startsWith('shutdown'))).toHaveLength(1);
}

describe('boot script', () => {
  test('hands the JIT config to the runner as user runner, deletes the record, then shuts down', async () => {
    const before = cloud.rejected.length;
    const r = await boot({ jitConfig: JIT });

    expect(r.exitCode).toBe(0);
    expect(r.runner).toMatchObject({
      user: 'runner',
      envUser: 'runner',
      jitConfig: JIT,
      args: '', // not on the command line, where ps would show it
      cwd: r.runnerDir,
    });
    expect(r.runner?.home).toMatch(/home\/runner$/);
    expect(r.calls).toEqual([
      'setpriv --reuid=runner --regid=runner --init-groups -- ./run.sh',
      'shutdown -h now ephemeral runner done',
    ]);
    expect(r.handoffItem).toBeUndefined();
    expect(cloud.rejected.slice(before)).toEqual([]); // every DynamoDB request carried a valid SigV4 signature
    expectSecretKept(r);
  });

  test('speaks IMDSv2: a session token first, then every read with it', async () => {
    const before = cloud.imdsRequests.length;
    await boot({ jitConfig: JIT });
    const requests = cloud.imdsRequests.slice(before);

    expect(requests[0]).toEqual({ method: 'PUT', path: '/latest/api/token', withToken: false });
    expect(requests.slice(1).every((q) => q.method === 'GET' && q.withToken)).toBe(true);
    expect(requests.map((q) => q.path)).toEqual(
      expect.arrayContaining([
        '/latest/dynamic/instance-identity/document',
        '/latest/meta-data/services/partition',
        '/latest/meta-data/services/domain',
        '/latest/meta-data/iam/security-credentials/ephemeral-runner-role',
      ]),
    );
  });

  test('the IMDS stand-in refuses reads without a token, as IMDSv2 does', async () => {
    const res = await fetch(`${cloud.imdsUrl}/latest/meta-data/services/domain`);
    expect(res.status).toBe(401);
  });

  test('the DynamoDB stand-in refuses a request whose signature does not verify', async () => {
    const before = cloud.rejected.length;
    const res = await fetch(`${cloud.dynamodbEndpoint}/`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-amz-json-1.0',
        'x-amz-target': 'DynamoDB_20120810.ListTables',
        'x-amz-date': '20261123T080000Z',
        'x-amz-security-token': 'token',
        authorization: `AWS4-HMAC-SHA256 Credential=ASIASANDBOXKEY000001/20261123/eu-west-1/dynamodb/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target, Signature=${'0'.repeat(64)}`,
      },
      body: '{}',
    });
    expect(res.status).toBe(400);
    expect(cloud.rejected.slice(before)).toEqual(['signature does not match']);
  });

  test('logs parseable timing marks, in order', async () => {
    const r = await boot({ jitConfig: JIT });
    const names = ['script-start', 'jit-fetched', 'runner-start', 'runner-exit', 'shutdown'];
    expect(Object.keys(r.marks)).toEqual(names);
    const elapsed = names.map((n) => r.marks[n].elapsedMs);
    expect([...elapsed].sort((a, b) => a - b)).toEqual(elapsed);
    expect(r.marks['script-start'].elapsedMs).toBe(0);
    expect(Number(r.runner?.startedMs)).toBeGreaterThanOrEqual(r.marks['runner-start'].epochMs);
  });

  test('waits for a JIT config written a moment after the instance starts', async () => {
    const r = await boot({ jitConfig: JIT, handoffDelayMs: 1500, jitPollSeconds: 0.25 });

    expect(r.exitCode).toBe(0);
    expect(r.runner?.jitConfig).toBe(JIT);
    expect(r.output).toMatch(/waiting for the JIT config: no handoff item/);
    expect(r.output).toMatch(/JIT config read and deleted \(attempt ([2-9]|\d\d+)\)/);
    expect(r.handoffItem).toBeUndefined();
    expectSecretKept(r);
  });

  test('without a JIT config, gives up after the timeout and shuts down without starting the runner', async () => {
    const r = await boot({ jitTimeoutSeconds: 1, jitPollSeconds: 0.2 });

    expect(r.exitCode).not.toBe(0);
    expect(r.runner).toBeUndefined();
    expect(r.output).toMatch(/ERROR: no JIT config after \d+ attempts in 1s/);
    expect(r.log).toMatch(/boot failed/);
    expect(r.calls).toEqual(['shutdown -h now ephemeral runner done']);
    expect(r.durationMs).toBeGreaterThanOrEqual(1000);
  });

  test('shuts down after a runner that fails, too', async () => {
    const r = await boot({ jitConfig: JIT, runnerExitCode: 3 });

    expect(r.runner?.jitConfig).toBe(JIT);
    expect(r.output).toMatch(/runner exited with status 3/);
    expectShutdownLast(r);
  });

  test('shuts down when the runner exits, even if a process it left behind holds its output open', async () => {
    const r = await boot({ jitConfig: JIT, lingerSeconds: 4 });

    expect(r.marks.shutdown.epochMs - r.marks['runner-exit'].epochMs).toBeLessThan(1000);
    expect(r.marks.shutdown.epochMs - Number(r.runner?.startedMs)).toBeLessThan(2500);
    expectShutdownLast(r);
  });

  test('without its settings, shuts down', async () => {
    const missing = await boot({ jitConfig: JIT, omitSettingsFile: true });
    const incomplete = await boot({ jitConfig: JIT, settings: { STATE_TABLE_NAME: '' } });

    expect(missing.output).toMatch(/settings file .*boot.env is missing/);
    expect(incomplete.output).toMatch(/STATE_TABLE_NAME is not set/);
    for (const r of [missing, incomplete]) {
      expect(r.exitCode).not.toBe(0);
      expect(r.runner).toBeUndefined();
      expectShutdownLast(r);
    }
  });

  test('ignores unknown settings, saying so', async () => {
    const r = await boot({ jitConfig: JIT, settings: { SURPRISE: 'x' } });
    expect(r.exitCode).toBe(0);
    expect(r.output).toMatch(/ignoring unknown setting SURPRISE/);
  });

  test('ships its logs with the CloudWatch agent when the image has it', async () => {
    const r = await boot({ jitConfig: JIT, cloudWatchAgent: true });
    const config = JSON.parse(r.cloudWatchConfig);
    const files = config.logs.logs_collected.files.collect_list;

    expect(files.map((f: { log_stream_name: string }) => f.log_stream_name)).toEqual([
      '{instance_id}/boot',
      '{instance_id}/cloud-init',
      '{instance_id}/runner',
      '{instance_id}/worker',
    ]);
    expect(files.every((f: { log_group_name: string }) => f.log_group_name === 'sandbox-runner-logs')).toBe(
      true,
    );
    expect(
      r.calls.some((c) => /^amazon-cloudwatch-agent-ctl -a fetch-config -m ec2 -s -c file:/.test(c)),
    ).toBe(true);
    expectShutdownLast(r);
  });
});

describe('boot script on a custom AMI', () => {
  test('with the runner at /opt/actions-runner but no user runner: creates the user, then runs the job', async () => {
    const r = await boot({ jitConfig: JIT, userExists: false });

    expect(r.exitCode).toBe(0);
    expect(r.calls).toEqual([
      'useradd --create-home --shell /bin/bash runner',
      `chown -R runner: ${r.runnerDir}`,
      'setpriv --reuid=runner --regid=runner --init-groups -- ./run.sh',
      'shutdown -h now ephemeral runner done',
    ]);
    expect(fs.readFileSync(path.join(r.dir, 'sudoers.d', 'runner'), 'utf8')).toBe(
      'runner ALL=(ALL) NOPASSWD:ALL\n',
    );
    expect(fs.statSync(path.join(r.dir, 'sudoers.d', 'runner')).mode & 0o777).toBe(0o440);
    expect(r.runner).toMatchObject({ user: 'runner', jitConfig: JIT });
  });
});

describe('boot script on an AMI without the runner (first deploy: stock Ubuntu)', () => {
  test('installs the runner from its URL after checking the SHA-256, then runs the job', async () => {
    const r = await boot({ jitConfig: JIT, preinstalled: false });

    expect(r.exitCode).toBe(0);
    expect(r.calls).toEqual([
      'apt-get -qq -o DPkg::Lock::Timeout=300 update',
      'apt-get -qq -o DPkg::Lock::Timeout=300 install -y --no-install-recommends ca-certificates curl git jq tar unzip docker.io',
      'usermod -aG docker runner',
      'installdependencies.sh ',
      `chown -R runner: ${r.runnerDir}`,
      'setpriv --reuid=runner --regid=runner --init-groups -- ./run.sh',
      'shutdown -h now ephemeral runner done',
    ]);
    expect(r.runner?.jitConfig).toBe(JIT);
    expect(Object.keys(r.marks)).toEqual(expect.arrayContaining(['install-start', 'install-done']));
  });

  test('refuses a tarball whose SHA-256 does not match, and shuts down', async () => {
    const r = await boot({ jitConfig: JIT, preinstalled: false, tarballSha256: 'f'.repeat(64) });

    expect(r.exitCode).not.toBe(0);
    expect(r.output).toMatch(/does not match SHA-256 f{64}/);
    expect(r.runner).toBeUndefined();
    expect(fs.existsSync(path.join(r.runnerDir, 'run.sh'))).toBe(false);
    expectShutdownLast(r);
    expect(r.handoffItem).toBeDefined(); // the JIT config was not consumed
  });

  test('downloads from S3 with a signed request and creates the runner user', async () => {
    const before = cloud.rejected.length;
    const r = await boot({ jitConfig: JIT, preinstalled: false, tarballFromS3: true, userExists: false });

    expect(r.exitCode).toBe(0);
    expect(cloud.rejected.slice(before)).toEqual([]);
    expect(r.calls).toContain('useradd --create-home --shell /bin/bash runner');
    expect(r.runner).toMatchObject({ user: 'runner', jitConfig: JIT });
    expectSecretKept(r);
  });
});

describe('boot script with extra CA certificates', () => {
  const pem = [
    '-----BEGIN CERTIFICATE-----',
    'MIIBsandboxcertificate0000',
    '-----END CERTIFICATE-----',
    '',
  ].join('\n');

  test('adds them to the OS store and to the runner’s Node', async () => {
    const r = await boot({ jitConfig: JIT, caCertificates: [pem] });

    expect(fs.readFileSync(path.join(r.caTrustDir, 'extra-0.crt'), 'utf8')).toBe(pem);
    expect(r.calls).toContain('update-ca-certificates ');
    expect(fs.readFileSync(path.join(r.runnerDir, '.env'), 'utf8')).toBe(
      `NODE_EXTRA_CA_CERTS=${path.join(r.caTrustDir, 'bundle.pem')}\n`,
    );
    expect(fs.readFileSync(path.join(r.caTrustDir, 'bundle.pem'), 'utf8')).toBe(pem);
  });

  test('skips the store update when the image already has them', async () => {
    const r = await boot({ jitConfig: JIT, caCertificates: [pem] });
    // Second boot against the same trust directory: the image baked the same certificate.
    const again = await boot({
      jitConfig: JIT,
      caCertificates: [pem],
      settings: { CA_TRUST_DIR: r.caTrustDir, RUNNER_DIR: r.runnerDir },
    });

    expect(again.calls).not.toContain('update-ca-certificates ');
    expect(
      fs.readFileSync(path.join(r.runnerDir, '.env'), 'utf8').match(/NODE_EXTRA_CA_CERTS/g),
    ).toHaveLength(1);
  });
});
