/**
 * Issue 10 on the adapters: every GitHub request (installation tokens and the app's own calls included)
 * carries `X-GitHub-Api-Version`, and a private-key secret that does not exist is an error naming
 * `github.privateKey` and the secret looked for.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SSMClient } from '@aws-sdk/client-ssm';
import { createGitHubClient, GITHUB_API_VERSION } from '../../lambda/adapters/github';
import { readSecret, SecretError } from '../../lambda/adapters/secrets';
import { AwsJsonEmulator } from '../local-cloud/aws-json-emulator';
import { GitHubEmulator } from '../local-cloud/github-emulator';

describe('X-GitHub-Api-Version on every GitHub call', () => {
  let gh: GitHubEmulator;
  let proxy: Server;
  let proxyUrl = '';
  let privateKeyPem = '';
  const seen: Array<{ method: string; path: string; version: string | undefined }> = [];

  beforeAll(async () => {
    gh = await GitHubEmulator.start();
    privateKeyPem = gh.registerApp(11).privateKeyPem;
    gh.addInstallation({ id: 5, appId: 11, account: 'acme' });
    // A recording pass-through in front of the emulator: what the client sends, header by header.
    proxy = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', async () => {
        seen.push({
          method: req.method ?? '',
          path: (req.url ?? '').split('?')[0],
          version: req.headers['x-github-api-version'] as string | undefined,
        });
        const headers = Object.fromEntries(
          Object.entries(req.headers).filter(([k]) => k !== 'host' && k !== 'content-length'),
        ) as Record<string, string>;
        const upstream = await fetch(`${gh.apiUrl}${req.url}`, {
          method: req.method,
          headers,
          body: chunks.length > 0 ? Buffer.concat(chunks) : undefined,
        });
        const out: Record<string, string> = {};
        upstream.headers.forEach((v, k) => {
          if (k !== 'content-encoding' && k !== 'transfer-encoding' && k !== 'content-length') out[k] = v;
        });
        res.writeHead(upstream.status, out).end(Buffer.from(await upstream.arrayBuffer()));
      });
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    proxy.closeAllConnections();
    await new Promise((r) => proxy.close(r));
    await gh.stop();
  });

  test('installation token, JIT registration, listing, deletion, job, deliveries, redelivery', async () => {
    const client = createGitHubClient({ apiUrl: proxyUrl, appId: '11', privateKey: privateKeyPem });
    const runner = await client.generateJitConfig(5, { org: 'acme' }, 'r-version-1', ['self-hosted'], 1);
    await client.listRunners(5, { org: 'acme' });
    await client.deleteRunner(5, { org: 'acme' }, runner.runnerId);
    await client.getJob(5, { owner: 'acme', repo: 'app' }, 424242);
    const { deliveries } = await client.listDeliveries({});
    const delivery = gh.addDelivery({ event: 'workflow_job', action: 'queued', status_code: 502 });
    await client.redeliver(delivery).catch(() => undefined);
    expect(deliveries).toBeDefined();
    const routes = new Set(seen.map((s) => `${s.method} ${s.path.replace(/\d+/g, 'N')}`));
    for (const route of [
      'POST /app/installations/N/access_tokens',
      'POST /orgs/acme/actions/runners/generate-jitconfig',
      'GET /orgs/acme/actions/runners',
      'DELETE /orgs/acme/actions/runners/N',
      'GET /repos/acme/app/actions/jobs/N',
      'GET /app/hook/deliveries',
    ])
      expect(routes).toContain(route);
    expect(seen.filter((s) => s.version !== GITHUB_API_VERSION)).toEqual([]);
  });
});

describe('a private-key secret that is not there', () => {
  let aws: AwsJsonEmulator;
  let secrets: SecretsManagerClient;
  let ssm: SSMClient;
  beforeAll(async () => {
    aws = await AwsJsonEmulator.start();
    const config = {
      region: 'us-east-1',
      endpoint: aws.endpoint,
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
      maxAttempts: 1,
    };
    secrets = new SecretsManagerClient(config);
    ssm = new SSMClient(config);
  });
  afterAll(() => aws.stop());

  test('Secrets Manager: names github.privateKey and the secret', async () => {
    const error = await readSecret(
      { kind: 'secretsmanager', id: 'github/runners-app-key' },
      ssm,
      secrets,
      'github.privateKey',
    ).catch((e: Error) => e);
    expect(error).toBeInstanceOf(SecretError);
    expect((error as Error).message).toMatch(
      /^github\.privateKey: Secrets Manager secret github\/runners-app-key does not exist \(ResourceNotFoundException\): create it/,
    );
  });

  test('SSM: names github.privateKey and the parameter', async () => {
    const error = await readSecret(
      { kind: 'ssm', name: '/github/app-key' },
      ssm,
      secrets,
      'github.privateKey',
    ).catch((e: Error) => e);
    expect((error as Error).message).toMatch(
      /^github\.privateKey: SSM parameter \/github\/app-key does not exist \(ParameterNotFound\)/,
    );
  });

  test('a secret that exists is read; a throttled read is rethrown as it is, for the retries', async () => {
    aws.putSecret('github/present', 'PEM');
    expect(
      await readSecret({ kind: 'secretsmanager', id: 'github/present' }, ssm, secrets, 'github.privateKey'),
    ).toBe('PEM');
    aws.failNext('secretsmanager.GetSecretValue', 1, 'ThrottlingException', 400);
    const error = await readSecret(
      { kind: 'secretsmanager', id: 'github/present' },
      ssm,
      secrets,
      'github.privateKey',
    ).catch((e: Error) => e);
    expect(error).not.toBeInstanceOf(SecretError);
    expect((error as { name?: string }).name).toBe('ThrottlingException');
  });
});
