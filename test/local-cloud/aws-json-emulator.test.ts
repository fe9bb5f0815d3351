// Drives the SSM + Secrets Manager emulator with the real SDK clients, so shapes the SDK cannot
// parse, or errors it names differently, fail here.
import {
  DeleteParameterCommand,
  GetParameterCommand,
  GetParametersByPathCommand,
  GetParametersCommand,
  ParameterAlreadyExists,
  ParameterNotFound,
  PutParameterCommand,
  SSMClient,
  SSMServiceException,
} from '@aws-sdk/client-ssm';
import {
  GetSecretValueCommand,
  ResourceNotFoundException,
  SecretsManagerClient,
  SecretsManagerServiceException,
} from '@aws-sdk/client-secrets-manager';
import { AwsJsonEmulator } from './aws-json-emulator';

const credentials = { accessKeyId: 'AKIDEMULATOR', secretAccessKey: 'emulator-secret' };

let aws: AwsJsonEmulator;
let ssm: SSMClient;
let secrets: SecretsManagerClient;

beforeEach(async () => {
  aws = await AwsJsonEmulator.start();
  ssm = new SSMClient({ region: 'us-east-1', endpoint: aws.endpoint, credentials, maxAttempts: 1 });
  secrets = new SecretsManagerClient({
    region: 'us-east-1',
    endpoint: aws.endpoint,
    credentials,
    maxAttempts: 1,
  });
});

afterEach(async () => {
  ssm.destroy();
  secrets.destroy();
  await aws.stop();
});

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected the call to fail');
    },
    (e: unknown) => e,
  );
}

describe('SSM', () => {
  test('GetParameter answers the value, version, ARN and a Date for LastModifiedDate', async () => {
    aws.putParameter('/runners/config', '{"labels":["linux"]}');
    const res = await ssm.send(new GetParameterCommand({ Name: '/runners/config' }));
    expect(res.Parameter).toMatchObject({
      Name: '/runners/config',
      Type: 'String',
      Value: '{"labels":["linux"]}',
      Version: 1,
      ARN: 'arn:aws:ssm:us-east-1:123456789012:parameter/runners/config',
      DataType: 'text',
    });
    expect(res.Parameter!.LastModifiedDate).toBeInstanceOf(Date);
    expect(Math.abs(res.Parameter!.LastModifiedDate!.getTime() - Date.now())).toBeLessThan(5000);
    expect(aws.calls.map((c) => c.target)).toEqual(['AmazonSSM.GetParameter']);
  });

  test('a SecureString is plaintext only WithDecryption', async () => {
    aws.putParameter('/runners/jit/i-1', 'jit-config-secret', 'SecureString');
    const hidden = await ssm.send(new GetParameterCommand({ Name: '/runners/jit/i-1' }));
    const shown = await ssm.send(new GetParameterCommand({ Name: '/runners/jit/i-1', WithDecryption: true }));
    expect(hidden.Parameter!.Type).toBe('SecureString');
    expect(hidden.Parameter!.Value).not.toContain('jit-config-secret');
    expect(hidden.Parameter!.Value).toMatch(/^[A-Za-z0-9+/]+=*$/);
    expect(shown.Parameter!.Value).toBe('jit-config-secret');
  });

  test('a missing parameter is ParameterNotFound (HTTP 400), by name and by version selector', async () => {
    const err = await rejection(ssm.send(new GetParameterCommand({ Name: '/nope' })));
    expect(err).toBeInstanceOf(ParameterNotFound);
    expect((err as ParameterNotFound).$metadata.httpStatusCode).toBe(400);

    aws.putParameter('/p', 'v1');
    aws.putParameter('/p', 'v2');
    const v1 = await ssm.send(new GetParameterCommand({ Name: '/p:1' }));
    expect(v1.Parameter).toMatchObject({ Name: '/p', Value: 'v1', Version: 1, Selector: ':1' });
    const missing = await rejection(ssm.send(new GetParameterCommand({ Name: '/p:9' })));
    expect((missing as SSMServiceException).name).toBe('ParameterVersionNotFound');
  });

  test('GetParameter accepts the parameter ARN', async () => {
    aws.putParameter('/a/b', 'x');
    const res = await ssm.send(
      new GetParameterCommand({ Name: 'arn:aws:ssm:us-east-1:123456789012:parameter/a/b' }),
    );
    expect(res.Parameter!.Value).toBe('x');
  });

  test('GetParameters splits found and invalid names', async () => {
    aws.putParameter('/a', '1');
    aws.putParameter('/b', '2', 'SecureString');
    const res = await ssm.send(
      new GetParametersCommand({ Names: ['/a', '/missing', '/b'], WithDecryption: true }),
    );
    expect(res.Parameters!.map((p) => [p.Name, p.Value])).toEqual([
      ['/a', '1'],
      ['/b', '2'],
    ]);
    expect(res.InvalidParameters).toEqual(['/missing']);
  });

  test('GetParametersByPath: one level unless Recursive, pages of at most 10 with NextToken', async () => {
    for (let i = 0; i < 12; i++) aws.putParameter(`/cfg/item${String(i).padStart(2, '0')}`, `v${i}`);
    aws.putParameter('/cfg/deep/x', 'deep');
    aws.putParameter('/other/y', 'other');

    const first = await ssm.send(new GetParametersByPathCommand({ Path: '/cfg' }));
    expect(first.Parameters).toHaveLength(10);
    expect(first.NextToken).toEqual(expect.any(String));
    const second = await ssm.send(
      new GetParametersByPathCommand({ Path: '/cfg', NextToken: first.NextToken }),
    );
    expect(second.Parameters!.map((p) => p.Name)).toEqual(['/cfg/item10', '/cfg/item11']);
    expect(second.NextToken).toBeUndefined();

    const all: string[] = [];
    let token: string | undefined;
    do {
      const page = await ssm.send(
        new GetParametersByPathCommand({ Path: '/cfg/', Recursive: true, MaxResults: 4, NextToken: token }),
      );
      expect(page.Parameters!.length).toBeLessThanOrEqual(4);
      all.push(...page.Parameters!.map((p) => p.Name!));
      token = page.NextToken;
    } while (token);
    expect(all).toHaveLength(13);
    expect(all).toContain('/cfg/deep/x');
    expect(all).not.toContain('/other/y');
  });

  test('GetParametersByPath rejects MaxResults above 10 and tokens it did not issue', async () => {
    const tooMany = await rejection(
      ssm.send(new GetParametersByPathCommand({ Path: '/cfg', MaxResults: 50 })),
    );
    expect((tooMany as SSMServiceException).name).toBe('ValidationException');
    const badToken = await rejection(
      ssm.send(new GetParametersByPathCommand({ Path: '/cfg', NextToken: 'forged' })),
    );
    expect((badToken as SSMServiceException).name).toBe('InvalidNextToken');
  });

  test('PutParameter versions, refuses to overwrite without Overwrite, and enforces the 4 KB tier limit', async () => {
    const created = await ssm.send(new PutParameterCommand({ Name: '/w', Value: 'a', Type: 'SecureString' }));
    expect(created).toMatchObject({ Version: 1, Tier: 'Standard' });
    const refused = await rejection(ssm.send(new PutParameterCommand({ Name: '/w', Value: 'b' })));
    expect(refused).toBeInstanceOf(ParameterAlreadyExists);
    const updated = await ssm.send(new PutParameterCommand({ Name: '/w', Value: 'b', Overwrite: true }));
    expect(updated.Version).toBe(2);
    expect(aws.parameter('/w')).toEqual({ name: '/w', value: 'b', type: 'SecureString', version: 2 });

    const big = 'x'.repeat(4097);
    const tooBig = await rejection(
      ssm.send(new PutParameterCommand({ Name: '/big', Value: big, Type: 'String' })),
    );
    expect((tooBig as SSMServiceException).name).toBe('ValidationException');
    await ssm.send(new PutParameterCommand({ Name: '/big', Value: big, Type: 'String', Tier: 'Advanced' }));
    expect(aws.parameter('/big')!.value).toHaveLength(4097);
  });

  test('DeleteParameter removes; deleting again is ParameterNotFound', async () => {
    aws.putParameter('/gone', 'x');
    await ssm.send(new DeleteParameterCommand({ Name: '/gone' }));
    expect(aws.parameter('/gone')).toBeUndefined();
    expect(await rejection(ssm.send(new DeleteParameterCommand({ Name: '/gone' })))).toBeInstanceOf(
      ParameterNotFound,
    );
  });

  test('an injected ThrottlingException surfaces by name and is one-shot', async () => {
    aws.putParameter('/t', 'v');
    aws.failNext('AmazonSSM.GetParameter', 1, 'ThrottlingException');
    const err = await rejection(ssm.send(new GetParameterCommand({ Name: '/t' })));
    expect((err as SSMServiceException).name).toBe('ThrottlingException');
    expect((err as SSMServiceException).message).toBe('Rate exceeded');
    await expect(ssm.send(new GetParameterCommand({ Name: '/t' }))).resolves.toBeDefined();
    expect(aws.callCount('AmazonSSM.GetParameter')).toBe(2);
  });

  test('the SDK retries an injected InternalServerError (HTTP 500)', async () => {
    aws.putParameter('/r', 'v');
    aws.failNext('*', 1, 'InternalServerError');
    const retrying = new SSMClient({
      region: 'us-east-1',
      endpoint: aws.endpoint,
      credentials,
      maxAttempts: 2,
    });
    const res = await retrying.send(new GetParameterCommand({ Name: '/r' }));
    retrying.destroy();
    expect(res.Parameter!.Value).toBe('v');
    expect(aws.callCount('AmazonSSM.GetParameter')).toBe(2);
  });

  test('a seeded throttle rate is reproducible', async () => {
    aws.putParameter('/t', 'v');
    const run = async () => {
      aws.setThrottleRate(0.3, 99);
      const out: boolean[] = [];
      for (let i = 0; i < 30; i++) {
        out.push(
          await ssm.send(new GetParameterCommand({ Name: '/t' })).then(
            () => false,
            (e: SSMServiceException) => e.name === 'ThrottlingException',
          ),
        );
      }
      return out;
    };
    const first = await run();
    expect(await run()).toEqual(first);
    expect(first.some(Boolean)).toBe(true);
    expect(first.some((t) => !t)).toBe(true);
  });
});

describe('Secrets Manager', () => {
  test('GetSecretValue by name and by ARN answers the documented members', async () => {
    const arn = aws.putSecret('github-app/private-key', '-----BEGIN KEY-----');
    expect(arn).toMatch(
      /^arn:aws:secretsmanager:us-east-1:123456789012:secret:github-app\/private-key-[A-Za-z0-9]{6}$/,
    );

    const byName = await secrets.send(new GetSecretValueCommand({ SecretId: 'github-app/private-key' }));
    expect(byName).toMatchObject({
      ARN: arn,
      Name: 'github-app/private-key',
      SecretString: '-----BEGIN KEY-----',
      VersionStages: ['AWSCURRENT'],
    });
    expect(byName.VersionId).toMatch(/^[0-9a-f-]{36}$/);
    expect(byName.CreatedDate).toBeInstanceOf(Date);

    const byArn = await secrets.send(new GetSecretValueCommand({ SecretId: arn }));
    expect(byArn.SecretString).toBe('-----BEGIN KEY-----');
    const byPartialArn = await secrets.send(new GetSecretValueCommand({ SecretId: arn.slice(0, -7) }));
    expect(byPartialArn.Name).toBe('github-app/private-key');
  });

  test('a new version becomes AWSCURRENT and the old one AWSPREVIOUS', async () => {
    aws.putSecret('s', 'old');
    aws.putSecret('s', 'new');
    const current = await secrets.send(new GetSecretValueCommand({ SecretId: 's' }));
    const previous = await secrets.send(
      new GetSecretValueCommand({ SecretId: 's', VersionStage: 'AWSPREVIOUS' }),
    );
    expect(current.SecretString).toBe('new');
    expect(previous.SecretString).toBe('old');
    expect(previous.VersionStages).toEqual(['AWSPREVIOUS']);
  });

  test("a missing secret is ResourceNotFoundException with Secrets Manager's message", async () => {
    const err = await rejection(secrets.send(new GetSecretValueCommand({ SecretId: 'nope' })));
    expect(err).toBeInstanceOf(ResourceNotFoundException);
    expect((err as ResourceNotFoundException).message).toBe(
      "Secrets Manager can't find the specified secret.",
    );
    expect((err as SecretsManagerServiceException).$metadata.httpStatusCode).toBe(400);
  });
});

describe('the wire protocol', () => {
  async function post(target: string | undefined, body: string): Promise<{ status: number; json: unknown }> {
    const headers: Record<string, string> = { 'content-type': 'application/x-amz-json-1.1' };
    if (target) headers['x-amz-target'] = target;
    const res = await fetch(aws.endpoint, { method: 'POST', headers, body });
    expect(res.headers.get('content-type')).toBe('application/x-amz-json-1.1');
    return { status: res.status, json: await res.json() };
  }

  test('errors are {"__type", "message"} JSON bodies', async () => {
    expect(await post('AmazonSSM.GetParameter', '{"Name":"/none"}')).toEqual({
      status: 400,
      json: { __type: 'ParameterNotFound', message: '' },
    });
    expect(await post('AmazonSSM.GetParameter', '{}')).toMatchObject({
      status: 400,
      json: { __type: 'ValidationException' },
    });
    expect(await post('AmazonSSM.GetParameter', '{not json')).toMatchObject({
      status: 400,
      json: { __type: 'SerializationException' },
    });
  });

  test('an unknown or missing X-Amz-Target is UnknownOperationException', async () => {
    expect(await post('AmazonSSM.LaunchRocket', '{}')).toMatchObject({
      status: 400,
      json: { __type: 'UnknownOperationException' },
    });
    expect(await post(undefined, '{}')).toMatchObject({
      status: 400,
      json: { __type: 'UnknownOperationException' },
    });
  });
});
