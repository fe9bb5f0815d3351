/**
 * The public endpoint's source allow-list: the pure matcher, and the built webhook answering 403 to a
 * delivery from outside the ranges before it checks the signature (a bad signature from outside is
 * 403, not 401), while a delivery from inside still needs a good signature.
 */
import { parseSourceCidrs, sourceAllowed } from '../../lambda/core/source-cidrs';
import { apiGatewayEvent, LocalCloud, startLocalCloud, workflowJobPayload } from '../local-cloud/local-cloud';
import { captureOutput, loadHandler } from '../local-cloud/handlers';

describe('sourceAllowed', () => {
  const list = parseSourceCidrs('192.30.252.0/22, 140.82.112.0/20,2606:50c0::/32');
  test.each([
    ['140.82.115.1', true],
    ['192.30.255.255', true],
    ['192.30.251.255', false],
    ['::ffff:140.82.115.1', true],
    ['2606:50c0:8000::154', true],
    ['2a0a:a440::1', false],
    ['', false],
    ['not-an-ip', false],
  ])('%s: %s', (ip, allowed) => {
    expect(sourceAllowed(list, ip)).toBe(allowed);
  });
  test('no list: any source, even an unknown one', () => {
    expect(sourceAllowed(parseSourceCidrs(''), undefined)).toBe(true);
  });
  test.each(['10.0.0.0', '10.0.0.0/33', 'fd00::/129', 'ten/8'])('"%s" is refused', (entry) => {
    expect(() => parseSourceCidrs(entry)).toThrow(`"${entry}" is not an IPv4 or IPv6 CIDR range`);
  });
});

describe('the webhook with WEBHOOK_SOURCE_CIDRS', () => {
  let cloud: LocalCloud;
  let output: ReturnType<typeof captureOutput>;
  beforeAll(async () => {
    cloud = await startLocalCloud();
    output = captureOutput();
  });
  afterAll(async () => {
    output.stop();
    await cloud.stop();
  });
  const from = async (sourceIp: string, secret?: string) => {
    const event = await apiGatewayEvent(
      cloud,
      workflowJobPayload({ jobId: Math.floor(Math.random() * 1e9) }),
      {
        secret,
      },
    );
    event.requestContext.http.sourceIp = sourceIp;
    return event;
  };
  const webhook = () =>
    loadHandler('webhook', { ...cloud.env, WEBHOOK_SOURCE_CIDRS: '140.82.112.0/20' }, { isolateEnv: true });

  test('a delivery from outside the ranges is refused 403, before the signature and before any launch', async () => {
    const handler = webhook();
    const before = cloud.ec2.instances().length;
    const outside = await handler(await from('203.0.113.9'));
    expect(outside.statusCode).toBe(403);
    expect(JSON.parse(outside.body).message).toContain('203.0.113.9 is not in the webhook');
    expect((await handler(await from('203.0.113.9', 'wrong-secret'))).statusCode).toBe(403);
    expect(cloud.ec2.instances()).toHaveLength(before);
  });

  test('from inside, the signature is still checked; a signed delivery launches', async () => {
    const handler = webhook();
    expect((await handler(await from('140.82.115.1', 'wrong-secret'))).statusCode).toBe(401);
    const before = cloud.ec2.instances().length;
    expect((await handler(await from('140.82.115.1'))).statusCode).toBe(200);
    expect(cloud.ec2.instances()).toHaveLength(before + 1);
  });

  test('a malformed range stops the container naming the variable', async () => {
    const handler = loadHandler(
      'webhook',
      { ...cloud.env, WEBHOOK_SOURCE_CIDRS: '140.82.112.0' },
      { isolateEnv: true },
    );
    await expect(handler(await from('140.82.115.1'))).rejects.toThrow(
      /WEBHOOK_SOURCE_CIDRS: "140.82.112.0" is not/,
    );
  });
});
