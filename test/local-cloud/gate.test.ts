/**
 * The gate, against the real servers with the real SDK and fetch: it relays faithfully, and once
 * cut (by hand or by an interceptor's kill) it lets nothing more through. Then the container pool
 * built on it: one gate per container, a killed container never serves again.
 */
import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { DynamoDBClient, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { CreateFleetCommand, DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { ContainerPool } from './containers';
import { createStateTable, LocalDynamo, startDynamo } from './dynamodb';
import { Ec2Emulator } from './ec2-emulator';
import { credentials, fleetInput } from './ec2-test-support';
import { CallLog, criticalPath, Gate, longestChain, startGate, stopAllGates } from './gate';
import { captureOutput, WebhookResponse } from './handlers';
import { apiGatewayEvent, LocalCloud, startLocalCloud, workflowJobPayload } from './local-cloud';
import { VirtualClock } from './virtual-clock';

const TABLE = 'gate-test';
let dynamo: LocalDynamo;
let ec2: Ec2Emulator;
let direct: DynamoDBClient;

beforeAll(async () => {
  [dynamo, ec2] = await Promise.all([startDynamo(), Ec2Emulator.start()]);
  await createStateTable(dynamo.client, TABLE);
  direct = dynamo.client;
});
afterAll(async () => {
  await stopAllGates();
  await Promise.all([dynamo.stop(), ec2.stop()]);
});

/** A fresh gate over dynalite and the EC2 emulator, with non-retrying SDK clients behind it. */
async function gated(log = new CallLog()) {
  const gate = await startGate({ dynamodb: dynamo.endpoint, ec2: ec2.endpoint }, { callLog: log });
  const common = { region: 'us-east-1', credentials, maxAttempts: 1 };
  const ddb = new DynamoDBClient({ ...common, endpoint: gate.endpoints.dynamodb });
  const ec2Client = new EC2Client({ ...common, endpoint: gate.endpoints.ec2 });
  return { gate, log, ddb, ec2Client };
}

const put = (pk: string, version = '1') =>
  new PutItemCommand({ TableName: TABLE, Item: { pk: { S: pk }, version: { S: version } } });
const item = async (pk: string) =>
  (await direct.send(new GetItemCommand({ TableName: TABLE, Key: { pk: { S: pk } }, ConsistentRead: true })))
    .Item;
/** Whether a promise has settled, without awaiting it. */
function track(promise: Promise<unknown>): { settled: boolean } {
  const state = { settled: false };
  promise.then(
    () => (state.settled = true),
    () => (state.settled = true),
  );
  return state;
}
async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !condition(); i++) await new Promise((r) => setTimeout(r, 5));
  if (!condition()) throw new Error('condition never became true');
}

describe('an open gate', () => {
  test('relays DynamoDB JSON and EC2 Query calls of the real SDK, and logs their targets', async () => {
    const { gate, log, ddb, ec2Client } = await gated();
    await ddb.send(put('relayed', '7'));
    const got = await ddb.send(new GetItemCommand({ TableName: TABLE, Key: { pk: { S: 'relayed' } } }));
    expect(got.Item?.version).toEqual({ S: '7' });

    const fleet = await ec2Client.send(new CreateFleetCommand(fleetInput()));
    const [instanceId] = fleet.Instances?.[0]?.InstanceIds ?? [];
    expect(instanceId).toMatch(/^i-/);
    const described = await ec2Client.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
    expect(described.Reservations?.[0]?.Instances?.[0]?.InstanceId).toBe(instanceId);

    expect(log.calls.map((c) => [c.upstream, c.target, c.fate])).toEqual([
      ['dynamodb', 'DynamoDB_20120810.PutItem', 'answered'],
      ['dynamodb', 'DynamoDB_20120810.GetItem', 'answered'],
      ['ec2', 'CreateFleet', 'answered'],
      ['ec2', 'DescribeInstances', 'answered'],
    ]);
    expect(log.calls.every((c) => c.gate === gate.id && c.endSeq! > c.startSeq)).toBe(true);
  });

  test('relays chunked, HEAD and 204 answers to fetch whole, and rewrites host', async () => {
    const hosts: string[] = [];
    const server: Server = createServer((req, res) => {
      hosts.push(req.headers.host ?? '');
      if (req.url === '/empty') return void res.writeHead(204).end();
      res.writeHead(200, { 'content-type': 'text/plain', 'x-kept': 'yes' });
      if (req.method === 'HEAD') return void res.end();
      let sent = 0;
      const tick = () => (++sent < 5 ? (res.write(`part${sent};`), setTimeout(tick, 2)) : res.end('end'));
      tick();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const gate = await startGate({ web: origin }, { callLog: new CallLog() });
    try {
      for (let i = 0; i < 3; i++) {
        const res = await fetch(`${gate.endpoints.web}/chunks?i=${i}`);
        expect(res.headers.get('x-kept')).toBe('yes');
        expect(await res.text()).toBe('part1;part2;part3;part4;end');
      }
      const head = await fetch(`${gate.endpoints.web}/chunks`, { method: 'HEAD' });
      expect([head.status, await head.text()]).toEqual([200, '']);
      expect((await fetch(`${gate.endpoints.web}/empty`, { method: 'DELETE' })).status).toBe(204);
      expect(new Set(hosts)).toEqual(new Set([new URL(origin).host]));
      expect(gate.loggedCalls().map((c) => c.target)).toEqual([
        'GET /chunks',
        'GET /chunks',
        'GET /chunks',
        'HEAD /chunks',
        'DELETE /empty',
      ]);
    } finally {
      await gate.stop();
      await new Promise((r) => server.close(r));
    }
  });

  test('refuses an upstream off the loopback', async () => {
    await expect(startGate({ aws: 'https://dynamodb.us-east-1.amazonaws.com' })).rejects.toThrow(
      /upstream aws: .* is not an http loopback origin/,
    );
  });
});

describe('a kill', () => {
  test('kill-before: the call never lands and is never answered', async () => {
    const { gate, ddb } = await gated();
    const killed = gate.intercept((c) => (c.target.endsWith('PutItem') ? 'kill-before' : 'pass'));
    const call = track(ddb.send(put('never-landed')));
    expect(await killed).toMatchObject({ decision: 'kill-before', upstream: 'dynamodb', index: 0 });
    expect(gate.isCut).toBe(true);
    expect(await item('never-landed')).toBeUndefined();
    expect(call.settled).toBe(false);
    expect(gate.loggedCalls().map((c) => c.fate)).toEqual(['held']);
    await gate.stop();
  });

  test('kill-after: the call lands, but its answer never comes back', async () => {
    const { gate, ddb } = await gated();
    const killed = gate.intercept(() => 'kill-after');
    const call = track(ddb.send(put('landed-unanswered')));
    expect((await killed).target).toBe('DynamoDB_20120810.PutItem');
    expect(await item('landed-unanswered')).toEqual({ pk: { S: 'landed-unanswered' }, version: { S: '1' } });
    expect(call.settled).toBe(false);
    expect(gate.loggedCalls()[0]).toMatchObject({ fate: 'landed-unanswered', endSeq: undefined });
    await gate.stop();
  });

  test('kill-in-flight: the call is held, then lands late over what others did meanwhile', async () => {
    const { gate, ddb } = await gated();
    const killed = gate.intercept(() => 'kill-in-flight');
    const call = track(ddb.send(put('late', 'from-the-dead')));
    const kill = await killed;
    expect(await item('late')).toBeUndefined();
    await direct.send(put('late', 'from-the-living'));
    const answer = await kill.landLate!();
    expect(answer.status).toBe(200);
    expect((await item('late'))?.version).toEqual({ S: 'from-the-dead' });
    expect(call.settled).toBe(false);
    expect(gate.loggedCalls()[0].fate).toBe('landed-late');
    await gate.stop();
  });

  test('cut: later calls are not forwarded, and a call waiting upstream is not answered', async () => {
    const { gate, ddb, ec2Client } = await gated();
    ec2.setLatencyMs(300);
    try {
      const before = ec2.callCount('DescribeInstances');
      const waiting = track(ec2Client.send(new DescribeInstancesCommand({})));
      await until(() => ec2.callCount('DescribeInstances') > before);
      gate.cut();
      const later = track(ddb.send(put('after-cut')));
      await new Promise((r) => setTimeout(r, 500));
      expect([waiting.settled, later.settled]).toEqual([false, false]);
      expect(await item('after-cut')).toBeUndefined();
      expect(gate.loggedCalls().map((c) => c.fate)).toEqual(['landed-unanswered', 'held']);
      expect(gate.kill).toBeUndefined();
    } finally {
      ec2.setLatencyMs(0);
      await gate.stop();
    }
  });

  test('an interceptor that throws cuts the gate and rejects `killed`', async () => {
    const { gate, ddb } = await gated();
    const killed = gate.intercept(() => {
      throw new Error('bad interceptor');
    });
    const call = track(ddb.send(put('interceptor-threw')));
    await expect(killed).rejects.toThrow('bad interceptor');
    expect([gate.isCut, call.settled, await item('interceptor-threw')]).toEqual([true, false, undefined]);
    await gate.stop();
  });
});

describe('criticalPath', () => {
  const iv = (startSeq: number, endSeq?: number) => ({ startSeq, endSeq });
  test.each([
    ['no calls', [], 0],
    ['one after another', [iv(1, 2), iv(3, 4)], 2],
    ['overlapping', [iv(1, 4), iv(2, 3)], 1],
    ['started at the same time', [iv(1, 3), iv(2, 4)], 1],
    ['a fan-out between two calls', [iv(1, 2), iv(3, 6), iv(4, 5), iv(7, 8)], 3],
    ['a long call beside a chain', [iv(1, 10), iv(2, 3), iv(4, 5), iv(6, 7), iv(11, 12)], 4],
    ['an unanswered call ends a chain', [iv(1, 2), iv(3)], 2],
    ['nothing follows an unanswered call', [iv(1), iv(2, 3)], 1],
  ])('%s', (_name, calls, expected) => {
    expect(criticalPath(calls)).toBe(expected);
  });

  test('longestChain names the calls, in order', () => {
    const [a, b, c, d] = [iv(1, 2), iv(3, 6), iv(4, 5), iv(7, 8)];
    const chain = longestChain([d, c, b, a]);
    expect(chain).toHaveLength(3);
    expect([chain[0], chain[2]]).toEqual([a, d]);
    expect([b, c]).toContain(chain[1]);
  });

  test('counts real calls: two in sequence → 2, two in parallel → 1', async () => {
    const { ec2Client, log } = await gated();
    ec2.setLatencyMs(100);
    try {
      await ec2Client.send(new DescribeInstancesCommand({}));
      await ec2Client.send(new DescribeInstancesCommand({}));
      expect(criticalPath(log.calls)).toBe(2);
      log.clear();
      await Promise.all([
        ec2Client.send(new DescribeInstancesCommand({})),
        ec2Client.send(new DescribeInstancesCommand({})),
      ]);
      expect(log.calls).toHaveLength(2);
      expect(criticalPath(log.calls)).toBe(1);
    } finally {
      ec2.setLatencyMs(0);
    }
  });
});

describe('ContainerPool', () => {
  let cloud: LocalCloud;
  let output: ReturnType<typeof captureOutput>;
  let nextJobId = 7_000_000_000;
  const pools: ContainerPool<'webhook'>[] = [];
  const webhookPool = (options: { Date?: DateConstructor } = {}) => {
    const pool = new ContainerPool({
      handler: 'webhook',
      env: cloud.env,
      callLog: new CallLog(),
      ...options,
    });
    pools.push(pool);
    return pool;
  };
  const queued = (jobId: number) => apiGatewayEvent(cloud, workflowJobPayload({ jobId }));
  const forged = (deliveryId?: string) =>
    apiGatewayEvent(cloud, workflowJobPayload({ jobId: 1 }), { secret: 'forged', deliveryId });
  const upstreamsOf = (gate: Gate) => new Set(gate.loggedCalls().map((c) => c.upstream));
  const instancesOf = (jobId: number) =>
    cloud.ec2.instances().filter((i) => i.tags['ephemeral-runners:job-key'] === `github.com/${jobId}/1`);

  beforeAll(async () => {
    cloud = await startLocalCloud();
    output = captureOutput();
  });
  afterAll(async () => {
    output.stop();
    await Promise.all(pools.map((p) => p.stop()));
    await cloud.stop();
  });

  test('a container reaches every service, GitHub included, through its gate only', async () => {
    const pool = webhookPool();
    const jobId = nextJobId++;
    const run = await pool.invoke(await queued(jobId));
    expect((run.result as WebhookResponse).statusCode).toBe(200);
    expect(instancesOf(jobId)).toHaveLength(1);
    expect(upstreamsOf(run.container.gate)).toEqual(
      new Set(['ssm', 'secretsmanager', 'dynamodb', 'github', 'ec2']),
    );
    expect(run.container.gate.loggedCalls().every((c) => c.fate === 'answered')).toBe(true);
  });

  test('a container killed mid-invocation is discarded; the next invocation gets a cold one', async () => {
    const pool = webhookPool();
    const jobId = nextJobId++;
    const fleetsBefore = cloud.ec2.callCount('CreateFleet');
    const run = await pool.invoke(await queued(jobId), undefined, {
      intercept: (c) => (c.target === 'CreateFleet' ? 'kill-before' : 'pass'),
    });
    expect(run.killed).toMatchObject({ target: 'CreateFleet', decision: 'kill-before' });
    expect(run.container.discarded).toBe(true);
    expect(cloud.ec2.callCount('CreateFleet')).toBe(fleetsBefore);
    expect(instancesOf(jobId)).toHaveLength(0);

    const next = await pool.invoke(await forged());
    expect((next.result as WebhookResponse).statusCode).toBe(401);
    expect(next.container.id).not.toBe(run.container.id);
    expect(next.container.invocations).toBe(1);
    expect(pool.containers.map((c) => c.discarded)).toEqual([true, false]);

    const warm = await pool.invoke(await forged());
    expect(warm.container.id).toBe(next.container.id);
    expect(warm.container.invocations).toBe(2);
  });

  test('concurrent invocations get containers of their own, each behind its own gate', async () => {
    const pool = webhookPool();
    // Both containers load before either creates its DynamoDB, EC2 and GitHub clients' endpoints
    // (resolved at each client's first call, in the second round): a shared process.env would send
    // the first container's calls through the second one's gate.
    const first = await Promise.all([pool.invoke(await forged()), pool.invoke(await forged())]);
    const [a, b] = first.map((r) => r.container);
    expect(a.gate).not.toBe(b.gate);
    const jobs = [nextJobId++, nextJobId++];
    const second = await Promise.all(jobs.map(async (jobId) => pool.invoke(await queued(jobId))));
    expect(second.map((r) => (r.result as WebhookResponse).statusCode)).toEqual([200, 200]);
    expect(new Set(second.map((r) => r.container.id))).toEqual(new Set([a.id, b.id]));
    for (const gate of [a.gate, b.gate]) {
      expect(upstreamsOf(gate)).toEqual(new Set(['ssm', 'secretsmanager', 'dynamodb', 'github', 'ec2']));
      expect(gate.loggedCalls().filter((c) => c.target === 'CreateFleet')).toHaveLength(1);
    }
  });

  test('a container given a virtual Date lives in virtual time', async () => {
    const clock = new VirtualClock();
    clock.advanceBy(24 * 3600_000);
    const pool = webhookPool({ Date: clock.DateClass });
    const marker = `virtual-${Math.random().toString(36).slice(2)}`;
    const run = await pool.invoke(await forged(marker));
    expect((run.result as WebhookResponse).statusCode).toBe(401);
    const line = output
      .text()
      .split('\n')
      .find((l) => l.includes(marker) && l.includes('"timestamp"'));
    expect(line).toBeDefined();
    const loggedAt = Date.parse(JSON.parse(line!).timestamp);
    expect(Math.abs(loggedAt - clock.now())).toBeLessThan(60_000);
    expect(loggedAt - Date.now()).toBeGreaterThan(23 * 3600_000);
  });
});
