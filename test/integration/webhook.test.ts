/**
 * The built webhook handler end to end against the local cloud: real AWS SDK, real Octokit, real
 * DynamoDB API (dynalite), emulated EC2/SSM/Secrets Manager/GitHub on the wire.
 */
import { GetItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { jobPartitionKey } from '../../lambda/core/job-key';
import { apiGatewayEvent, LocalCloud, startLocalCloud, workflowJobPayload } from '../local-cloud/local-cloud';
import { captureOutput, Handlers, loadHandlers } from '../local-cloud/handlers';

let cloud: LocalCloud;
let handlers: Handlers;
// Everything the handlers log in this file, to look for secrets in it at the end.
let output: ReturnType<typeof captureOutput>;
let nextJobId = 5_000_000_000;
const newJobId = () => nextJobId++;

beforeAll(async () => {
  cloud = await startLocalCloud({
    configs: [
      { name: 'linux', labels: ['self-hosted', 'linux', 'x64'] },
      {
        name: 'arm',
        labels: ['self-hosted', 'linux', 'arm64'],
        architecture: 'arm64',
        instanceTypes: ['m7g.large'],
        spotStrategy: 'spotOnly',
      },
      { name: 'od', labels: ['self-hosted', 'linux', 'on-demand'], spotStrategy: 'onDemandOnly' },
    ],
  });
  handlers = loadHandlers(cloud.env);
  output = captureOutput();
});
afterAll(async () => {
  output.stop();
  await cloud.stop();
});
afterEach(() => cloud.ec2.setOnDemandCapacity('unlimited'));

const deliver = async (payload: unknown, o: Parameters<typeof apiGatewayEvent>[2] = {}) =>
  handlers.webhook(await apiGatewayEvent(cloud, payload, o));
const instancesOf = (jobId: number) =>
  cloud.ec2.instances().filter((i) => i.tags['ephemeral-runners:job-key'] === `github.com/${jobId}/1`);
const jobRecord = async (jobId: number, runAttempt = 1) =>
  (
    await cloud.dynamo.client.send(
      new GetItemCommand({
        TableName: cloud.tableName,
        Key: { pk: { S: jobPartitionKey({ host: 'github.com', jobId, runAttempt }) } },
      }),
    )
  ).Item;

describe('a queued job', () => {
  test('becomes one spot instance, tagged, with its JIT config handed off to that instance only', async () => {
    const jobId = newJobId();
    const res = await deliver(workflowJobPayload({ jobId, labels: ['self-hosted', 'linux'] }));
    expect(res.statusCode).toBe(200);
    const body = JSON.parse(res.body);
    expect(body).toMatchObject({ message: 'runner launched', market: 'spot' });

    const [instance, ...more] = instancesOf(jobId);
    expect(more).toHaveLength(0);
    expect(instance.instanceId).toBe(body.instanceId);
    expect(instance.market).toBe('spot');
    expect(instance.launchTemplateId).toBe('lt-0123456789abcdef0');
    expect(instance.tags).toMatchObject({
      'ephemeral-runners:repository': 'acme/app',
      'ephemeral-runners:config': 'linux',
      'ephemeral-runners:owner': 'test-deployment',
    });
    expect(Date.parse(instance.tags['ephemeral-runners:expires-at'])).toBeGreaterThan(
      Date.now() + 6 * 3600_000,
    );

    // The runner was registered at org scope with the config's full label set.
    const runner = cloud.github
      .runners()
      .find((r) => r.name === instance.tags['ephemeral-runners:runner-name']);
    expect(runner).toMatchObject({ scopeKind: 'org', runnerGroupId: 1 });
    expect(runner?.labels.sort()).toEqual(['linux', 'self-hosted', 'x64']);

    // The handoff item is keyed by the instance ARN and holds exactly that runner's JIT config.
    const handoff = await cloud.dynamo.client.send(
      new GetItemCommand({
        TableName: cloud.tableName,
        Key: { pk: { S: `arn:aws:ec2:us-east-1:123456789012:instance/${instance.instanceId}` } },
      }),
    );
    expect(handoff.Item?.jitConfig?.S).toBe(runner?.jitConfig);

    const record = await jobRecord(jobId);
    expect(record?.status?.S).toBe('launched');
    expect(record?.instanceId?.S).toBe(instance.instanceId);
    expect(record?.pendingPk).toBeUndefined();
  });

  test('the JIT config is in no tag of the instance', async () => {
    const jobId = newJobId();
    await deliver(workflowJobPayload({ jobId }));
    const [instance] = instancesOf(jobId);
    const runner = cloud.github
      .runners()
      .find((r) => r.name === instance.tags['ephemeral-runners:runner-name']);
    expect(runner).toBeDefined();
    expect(JSON.stringify(instance.tags)).not.toContain(runner!.jitConfig);
  });
});

describe('exactly once', () => {
  test('100 concurrent identical deliveries launch one instance', async () => {
    const jobId = newJobId();
    const payload = workflowJobPayload({ jobId });
    const events = await Promise.all(
      Array.from({ length: 100 }, () => apiGatewayEvent(cloud, payload, { deliveryId: 'same-guid' })),
    );
    const answers = await Promise.all(events.map((e) => handlers.webhook(e)));
    expect(answers.every((a) => a.statusCode === 200)).toBe(true);
    expect(answers.filter((a) => JSON.parse(a.body).message === 'runner launched')).toHaveLength(1);
    expect(instancesOf(jobId)).toHaveLength(1);
  });

  test('a redelivery, and queued → waiting → queued, launch nothing more', async () => {
    const jobId = newJobId();
    await deliver(workflowJobPayload({ jobId }), { deliveryId: 'g1' });
    await deliver(workflowJobPayload({ jobId }), { deliveryId: 'g1' });
    await deliver(workflowJobPayload({ jobId, action: 'waiting' }));
    const again = await deliver(workflowJobPayload({ jobId }));
    expect(JSON.parse(again.body).message).toBe('already claimed');
    expect(instancesOf(jobId)).toHaveLength(1);
    expect((await jobRecord(jobId))?.status?.S).toBe('launched');
  });

  test('waiting first (environment protection), then queued, launches once', async () => {
    const jobId = newJobId();
    expect((await deliver(workflowJobPayload({ jobId, action: 'waiting' }))).statusCode).toBe(200);
    expect((await jobRecord(jobId))?.status?.S).toBe('waiting');
    expect(instancesOf(jobId)).toHaveLength(0);
    await Promise.all([deliver(workflowJobPayload({ jobId })), deliver(workflowJobPayload({ jobId }))]);
    expect(instancesOf(jobId)).toHaveLength(1);
  });

  test('a re-run (new attempt) is a new job', async () => {
    const jobId = newJobId();
    await deliver(workflowJobPayload({ jobId }));
    await deliver(workflowJobPayload({ jobId, runAttempt: 2 }));
    expect(
      cloud.ec2
        .instances()
        .filter((i) => i.tags['ephemeral-runners:job-key']?.startsWith(`github.com/${jobId}/`)),
    ).toHaveLength(2);
  });
});

describe('bad input is answered with a 4xx and launches nothing', () => {
  const cases: [string, () => Promise<unknown>, number][] = [
    [
      'no signature',
      async () => apiGatewayEvent(cloud, workflowJobPayload({ jobId: 1 }), { omitSignature: true }),
      401,
    ],
    [
      'wrong secret',
      async () => apiGatewayEvent(cloud, workflowJobPayload({ jobId: 1 }), { secret: 'guess' }),
      401,
    ],
    ['malformed JSON', async () => apiGatewayEvent(cloud, null, { rawBody: '{"action":' }), 400],
    ['JSON array', async () => apiGatewayEvent(cloud, [1, 2]), 400],
    [
      'missing workflow_job',
      async () => apiGatewayEvent(cloud, { action: 'queued', repository: { full_name: 'a/b' } }),
      422,
    ],
    [
      'wrong types',
      async () => apiGatewayEvent(cloud, workflowJobPayload({ jobId: 'x' as unknown as number })),
      422,
    ],
    [
      'unknown content type',
      async () => apiGatewayEvent(cloud, workflowJobPayload({ jobId: 2 }), { contentType: 'text/xml' }),
      415,
    ],
    [
      'huge body',
      async () => apiGatewayEvent(cloud, null, { rawBody: `{"pad":"${'x'.repeat(2 * 1024 * 1024)}"}` }),
      413,
    ],
  ];
  test.each(cases)('%s', async (_name, makeEvent, status) => {
    cloud.ec2.resetCalls();
    cloud.github.resetCalls();
    const res = await handlers.webhook(await makeEvent());
    expect(res.statusCode).toBe(status);
    expect(JSON.parse(res.body).message).toEqual(expect.any(String));
    expect(cloud.ec2.calls).toHaveLength(0);
    expect(cloud.github.callCount('generateJitConfigOrg')).toBe(0);
  });

  test('a base64-encoded body (as API Gateway may pass it) is verified and handled', async () => {
    const jobId = newJobId();
    const res = await deliver(workflowJobPayload({ jobId }), { base64: true });
    expect(res.statusCode).toBe(200);
    expect(instancesOf(jobId)).toHaveLength(1);
  });

  test('ping answers 200; other events are accepted and ignored', async () => {
    expect(
      (await deliver({ zen: 'Keep it logically awesome.', hook_id: 1 }, { event: 'ping' })).statusCode,
    ).toBe(200);
    expect((await deliver({ action: 'opened' }, { event: 'pull_request' })).statusCode).toBe(202);
    expect((await deliver({ action: 'requested' })).statusCode).toBe(202);
  });
});

describe('routing and allowlist', () => {
  test('no matching config: 202, nothing launched, one log line naming the labels and the label sets', async () => {
    const jobId = newJobId();
    const res = await deliver(workflowJobPayload({ jobId, labels: ['self-hosted', 'windows'] }));
    expect(res.statusCode).toBe(202);
    expect(instancesOf(jobId)).toHaveLength(0);
    const lines = output
      .text()
      .split('\n')
      .filter((l) => l.includes('no runner config matches'));
    expect(lines).toHaveLength(1);
    const line = JSON.parse(lines[0]);
    expect(line.jobLabels).toEqual(['self-hosted', 'windows']);
    expect(line.configuredLabelSets.map((s: { config: string }) => s.config)).toEqual(['linux', 'arm', 'od']);
    expect(line.jobId).toBe(jobId);
    expect(lines.filter((l) => l.includes(String(jobId)))).toHaveLength(1);
  });

  test('GitHub-hosted jobs (no self-hosted label) are not ours', async () => {
    const jobId = newJobId();
    expect((await deliver(workflowJobPayload({ jobId, labels: ['ubuntu-latest'] }))).statusCode).toBe(202);
    expect(instancesOf(jobId)).toHaveLength(0);
  });

  test('a repository outside the allowlist gets 403 and nothing launched', async () => {
    const restricted = await startLocalCloud({
      allowedOwners: ['other-org'],
      allowedRepositories: ['acme/blessed'],
    });
    try {
      const h = loadHandlers(restricted.env);
      const denied = await h.webhook(await apiGatewayEvent(restricted, workflowJobPayload({ jobId: 1 })));
      expect(denied.statusCode).toBe(403);
      expect(restricted.ec2.instances()).toHaveLength(0);
      const allowed = await h.webhook(
        await apiGatewayEvent(restricted, workflowJobPayload({ jobId: 2, repository: 'acme/blessed' })),
      );
      expect(allowed.statusCode).toBe(200);
      expect(restricted.ec2.instances()).toHaveLength(1);
    } finally {
      await restricted.stop();
      Object.assign(process.env, cloud.env);
    }
  });
});

describe('spot and on-demand', () => {
  test('on-demand is used only when spot is out (spotPreferred)', async () => {
    const spotJob = newJobId();
    await deliver(workflowJobPayload({ jobId: spotJob }));
    expect(instancesOf(spotJob).map((i) => i.market)).toEqual(['spot']);

    for (const t of ['m7i.large', 'm6i.large'])
      for (const s of ['subnet-aaaa', 'subnet-bbbb']) cloud.ec2.setPoolCapacity(t, s, 0);
    const odJob = newJobId();
    const res = await deliver(workflowJobPayload({ jobId: odJob }));
    expect(JSON.parse(res.body)).toMatchObject({ message: 'runner launched', market: 'on-demand' });
    expect(instancesOf(odJob).map((i) => i.market)).toEqual(['on-demand']);
    for (const t of ['m7i.large', 'm6i.large'])
      for (const s of ['subnet-aaaa', 'subnet-bbbb']) cloud.ec2.setPoolCapacity(t, s, 1000);
  });

  test('one pool out of capacity: spot still launches in another pool', async () => {
    cloud.ec2.setPoolCapacity('m7i.large', 'subnet-aaaa', 0);
    const jobId = newJobId();
    await deliver(workflowJobPayload({ jobId }));
    const [i] = instancesOf(jobId);
    expect(i.market).toBe('spot');
    expect(`${i.instanceType}/${i.subnetId}`).not.toBe('m7i.large/subnet-aaaa');
    cloud.ec2.setPoolCapacity('m7i.large', 'subnet-aaaa', 1000);
  });

  test('onDemandOnly never asks for spot', async () => {
    const jobId = newJobId();
    await deliver(workflowJobPayload({ jobId, labels: ['self-hosted', 'on-demand'] }));
    expect(instancesOf(jobId).map((i) => i.market)).toEqual(['on-demand']);
  });

  test('spotOnly with no spot: pending, no instance, registration deleted; the scheduled retry launches later', async () => {
    cloud.ec2.setPoolCapacity('m7g.large', 'subnet-aaaa', 0);
    cloud.ec2.setPoolCapacity('m7g.large', 'subnet-bbbb', 0);
    const jobId = newJobId();
    const res = await deliver(workflowJobPayload({ jobId, labels: ['self-hosted', 'arm64'] }));
    expect(res.statusCode).toBe(202);
    expect(JSON.parse(res.body).reason).toMatch(/capacity/);
    expect(instancesOf(jobId)).toHaveLength(0);
    expect(cloud.github.runners().filter((r) => r.name.startsWith(`arm-${jobId}-`))).toHaveLength(0);
    const record = await jobRecord(jobId);
    expect(record?.status?.S).toBe('pending');
    expect(record?.lastError?.S).toMatch(/capacity/);

    // Capacity returns; the retry finds the job once it is due.
    cloud.ec2.setPoolCapacity('m7g.large', 'subnet-bbbb', 5);
    await cloud.dynamo.client.send(
      new UpdateItemCommand({
        TableName: cloud.tableName,
        Key: { pk: { S: jobPartitionKey({ host: 'github.com', jobId, runAttempt: 1 }) } },
        UpdateExpression: 'SET nextAttemptAt = :now',
        ExpressionAttributeValues: { ':now': { N: String(Date.now() - 1) } },
      }),
    );
    const summary = await handlers.retry({}, { getRemainingTimeInMillis: () => 60_000 });
    expect(summary.launched).toBeGreaterThanOrEqual(1);
    expect(instancesOf(jobId).map((i) => i.market)).toEqual(['spot']);
    expect((await jobRecord(jobId))?.status?.S).toBe('launched');
  });
});

describe('job progress', () => {
  test('in_progress records the runner that took the job; completed records the conclusion', async () => {
    const jobId = newJobId();
    await deliver(workflowJobPayload({ jobId }));
    await deliver(workflowJobPayload({ jobId, action: 'in_progress', runnerName: 'some-runner' }));
    expect((await jobRecord(jobId))?.takenByRunner?.S).toBe('some-runner');
    expect((await jobRecord(jobId))?.status?.S).toBe('running');
    await deliver(
      workflowJobPayload({ jobId, action: 'completed', runnerName: 'some-runner', conclusion: 'success' }),
    );
    expect((await jobRecord(jobId))?.status?.S).toBe('completed');
    expect((await jobRecord(jobId))?.conclusion?.S).toBe('success');
  });

  test('a completed that overtakes its queued leaves a final record: the late queued launches nothing', async () => {
    const jobId = newJobId();
    const res = await deliver(workflowJobPayload({ jobId, action: 'completed', conclusion: 'success' }));
    expect(res.statusCode).toBe(200);
    expect(JSON.parse(res.body).message).toMatch(/before its queued/);
    expect((await jobRecord(jobId))?.status?.S).toBe('completed');
    const late = await deliver(workflowJobPayload({ jobId }));
    expect(JSON.parse(late.body).message).toBe('the job is already completed: nothing launched');
    expect(instancesOf(jobId)).toHaveLength(0);
    const again = await deliver(workflowJobPayload({ jobId, action: 'completed', conclusion: 'success' }));
    expect(JSON.parse(again.body).message).toBe('already recorded: the job is final');
  });

  test('an in_progress before its queued records the job as running: the late queued launches nothing', async () => {
    const jobId = newJobId();
    await deliver(workflowJobPayload({ jobId, action: 'in_progress', runnerName: 'someone-else-1' }));
    expect((await jobRecord(jobId))?.status?.S).toBe('running');
    const late = await deliver(workflowJobPayload({ jobId }));
    expect(JSON.parse(late.body).message).toBe(
      'the job is already running on someone-else-1: nothing launched',
    );
    expect(instancesOf(jobId)).toHaveLength(0);
  });

  test('progress of a job whose labels no config serves creates nothing', async () => {
    const jobId = newJobId();
    const res = await deliver(workflowJobPayload({ jobId, action: 'completed', labels: ['windows'] }));
    expect(JSON.parse(res.body).message).toBe('not a job of ours');
    expect(await jobRecord(jobId)).toBeUndefined();
  });

  test('a waiting after the launch does not claim to have recorded a wait', async () => {
    const jobId = newJobId();
    await deliver(workflowJobPayload({ jobId }));
    const res = await deliver(workflowJobPayload({ jobId, action: 'waiting' }));
    expect(JSON.parse(res.body).message).toBe('the job is past waiting: nothing changed');
  });

  test('a signed delivery with an impossible repository name is answered 422 and launches nothing', async () => {
    const jobId = newJobId();
    const before = cloud.github.calls.length;
    const res = await deliver(workflowJobPayload({ jobId, repository: 'acme/..' }));
    expect(res.statusCode).toBe(422);
    expect(await jobRecord(jobId)).toBeUndefined();
    expect(cloud.github.calls.length).toBe(before);
  });
});

describe('secrets', () => {
  // Last in the file: by now every path above (launch, fallback, deferral, rejection) has logged.
  test('no JIT config, token, webhook secret or private key appears in any log output', () => {
    const text = output.text();
    expect(text).toContain('runner launched'); // the capture did see the handlers' logs
    const secrets = cloud.secrets();
    expect(secrets.length).toBeGreaterThan(10);
    const jit = cloud.github.runners().map((r) => r.jitConfig);
    expect(jit.length).toBeGreaterThan(5);
    for (const secret of [...secrets, ...jit]) expect(text.includes(secret)).toBe(false);
    expect(text).not.toMatch(/BEGIN (RSA )?PRIVATE KEY/);
  });
});
