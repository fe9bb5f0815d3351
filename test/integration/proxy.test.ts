/**
 * Lambdas behind a corporate proxy: with `HTTP(S)_PROXY` set, the built handlers reach GitHub,
 * DynamoDB, SSM, Secrets Manager and EC2 only through `CONNECT` tunnels of a real proxy on 127.0.0.1;
 * `NO_PROXY` exempts a host; proxy credentials are sent; a refusing proxy fails the delivery with a
 * message naming the proxy, and the redelivery launches once the proxy lets it through.
 */
import { ConnectProxy, startConnectProxy } from './connect-proxy';
import { apiGatewayEvent, LocalCloud, startLocalCloud, workflowJobPayload } from '../local-cloud/local-cloud';
import { captureOutput, loadHandler } from '../local-cloud/handlers';

let cloud: LocalCloud;
let proxy: ConnectProxy;
let output: ReturnType<typeof captureOutput>;
let nextJobId = 9_100_000;

const hostPort = (url: string) => new URL(url).host;

beforeAll(async () => {
  [cloud, proxy] = await Promise.all([startLocalCloud(), startConnectProxy()]);
  output = captureOutput();
});
afterAll(async () => {
  output.stop();
  await Promise.all([cloud.stop(), proxy.stop()]);
});
afterEach(() => {
  proxy.refuseWith(undefined);
});

/** The emulators' `host:port`s, by what the handlers call there. */
const targets = () => ({
  github: hostPort(cloud.github.apiUrl),
  dynamodb: hostPort(cloud.dynamo.endpoint),
  ssmAndSecrets: hostPort(cloud.aws.endpoint),
  ec2: hostPort(cloud.ec2.endpoint),
});

/** A cold webhook container whose environment carries the proxy variables. */
const webhookBehind = (proxyEnv: Record<string, string>) =>
  loadHandler('webhook', { ...cloud.env, ...proxyEnv }, { isolateEnv: true });

const tunnelledSince = (mark: number) =>
  new Set(
    proxy.connects
      .slice(mark)
      .filter((c) => c.status === 200)
      .map((c) => c.target),
  );

test('every call of a launch goes through the proxy: GitHub, DynamoDB, SSM, Secrets Manager, EC2', async () => {
  const mark = proxy.connects.length;
  const webhook = webhookBehind({ HTTP_PROXY: proxy.url });
  const jobId = nextJobId++;
  const before = cloud.ec2.instances().length;
  const answer = await webhook(await apiGatewayEvent(cloud, workflowJobPayload({ jobId })));
  expect(answer.statusCode).toBe(200);
  expect(cloud.ec2.instances()).toHaveLength(before + 1);
  expect([...tunnelledSince(mark)].sort()).toEqual(Object.values(targets()).sort());
  expect(proxy.plainRequests).toEqual([]); // tunnelled, never sent in the clear to the proxy
});

test('NO_PROXY exempts the hosts it names (here DynamoDB, as a gateway endpoint would be)', async () => {
  const mark = proxy.connects.length;
  const t = targets();
  const webhook = webhookBehind({ HTTP_PROXY: proxy.url, NO_PROXY: `localhost,${t.dynamodb}` });
  const answer = await webhook(await apiGatewayEvent(cloud, workflowJobPayload({ jobId: nextJobId++ })));
  expect(answer.statusCode).toBe(200);
  const tunnelled = tunnelledSince(mark);
  expect(tunnelled.has(t.dynamodb)).toBe(false);
  expect(tunnelled.has(t.github)).toBe(true);
  expect(tunnelled.has(t.ec2)).toBe(true);
});

test('credentials in the proxy URL are sent as Proxy-Authorization', async () => {
  const withCredentials = await startConnectProxy();
  try {
    withCredentials.requireCredentials('runner-bot', 'p@ss:word');
    const [host] = withCredentials.url.replace('http://', '').split('/');
    const webhook = webhookBehind({
      HTTP_PROXY: `http://runner-bot:${encodeURIComponent('p@ss:word')}@${host}`,
    });
    const answer = await webhook(await apiGatewayEvent(cloud, workflowJobPayload({ jobId: nextJobId++ })));
    expect(answer.statusCode).toBe(200);
    expect(withCredentials.connects.length).toBeGreaterThan(0);
    expect(withCredentials.connects.every((c) => c.status === 200)).toBe(true);
  } finally {
    await withCredentials.stop();
  }
});

test('a proxy that refuses fails the delivery (500, the proxy named in the log); the redelivery launches once', async () => {
  proxy.refuseWith(403);
  const webhook = webhookBehind({ HTTP_PROXY: proxy.url });
  const jobId = nextJobId++;
  const before = cloud.ec2.instances().length;
  const event = await apiGatewayEvent(cloud, workflowJobPayload({ jobId }), { deliveryId: `proxy-${jobId}` });
  const refused = await webhook(event);
  expect(refused.statusCode).toBe(500);
  expect(output.text()).toContain(`proxy http://${hostPort(proxy.url)} refused CONNECT`);
  expect(cloud.ec2.instances()).toHaveLength(before);

  proxy.refuseWith(undefined);
  const redelivered = await webhook(event);
  expect(redelivered.statusCode).toBe(200);
  expect(cloud.ec2.instances()).toHaveLength(before + 1);
  expect(await webhook(event)).toMatchObject({ statusCode: 200 });
  expect(cloud.ec2.instances()).toHaveLength(before + 1);
});

test('a proxy URL that cannot be used stops the container with the variable named', async () => {
  const webhook = webhookBehind({ HTTPS_PROXY: 'socks5://127.0.0.1:1080' });
  await expect(
    webhook(await apiGatewayEvent(cloud, workflowJobPayload({ jobId: nextJobId++ }))),
  ).rejects.toThrow(/HTTPS_PROXY uses socks5: only http:\/\/ and https:\/\/ proxies are supported/);
});

test('the reconciler honours the proxy too', async () => {
  const mark = proxy.connects.length;
  const reconcile = loadHandler('reconcile', { ...cloud.env, HTTP_PROXY: proxy.url }, { isolateEnv: true });
  await reconcile(
    { source: 'aws.events', 'detail-type': 'Scheduled Event' },
    { getRemainingTimeInMillis: () => 60_000 },
  );
  const tunnelled = tunnelledSince(mark);
  const t = targets();
  for (const target of [t.dynamodb, t.ec2, t.github]) expect(tunnelled.has(target)).toBe(true);
});
