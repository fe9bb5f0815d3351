/**
 * Faults on the launch path: GitHub 5xx and rate limits, EC2 throttling and quota errors, budgets
 * running out, crashed launches, deadlines. Nothing is lost, nothing launches twice, nothing leaks.
 */
import { UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { jobPartitionKey } from '../../lambda/core/job-key';
import { apiGatewayEvent, LocalCloud, startLocalCloud, workflowJobPayload } from '../local-cloud/local-cloud';
import { captureOutput, Handlers, loadHandlers } from '../local-cloud/handlers';
import { StateStore } from '../../lambda/adapters/state-store';

let cloud: LocalCloud;
let handlers: Handlers;
let store: StateStore;
let output: ReturnType<typeof captureOutput>;
let nextJobId = 7_000_000_000;
const newJobId = () => nextJobId++;
const key = (jobId: number) => ({ host: 'github.com', jobId, runAttempt: 1 });

beforeAll(async () => {
  cloud = await startLocalCloud({ deliveryBudgetMs: 3000 });
  handlers = loadHandlers(cloud.env);
  store = new StateStore(cloud.dynamo.client, cloud.tableName);
  output = captureOutput();
});
afterAll(async () => {
  output.stop();
  await cloud.stop();
});
afterEach(() => {
  cloud.github.clearFaults();
  cloud.ec2.setThrottleRate(0);
  cloud.ec2.setVcpuQuotaExceeded(false);
  cloud.ec2.setLatencyMs(0);
});

const deliver = async (jobId: number) =>
  handlers.webhook(await apiGatewayEvent(cloud, workflowJobPayload({ jobId })));
const live = (jobId: number) =>
  cloud.ec2
    .instances()
    .filter(
      (i) => i.tags['ephemeral-runners:job-key'] === `github.com/${jobId}/1` && i.state !== 'terminated',
    );
const registrations = (jobId: number) =>
  cloud.github.runners().filter((r) => r.name.startsWith(`linux-${jobId}-`));
const makeDue = (jobId: number) =>
  cloud.dynamo.client.send(
    new UpdateItemCommand({
      TableName: cloud.tableName,
      Key: { pk: { S: jobPartitionKey(key(jobId)) } },
      UpdateExpression: 'SET nextAttemptAt = :due',
      ExpressionAttributeValues: { ':due': { N: String(Date.now() - 1) } },
    }),
  );
/** A job as the webhook would have claimed it. */
const jobRecord = (jobId: number, deliveryId: string) => ({
  key: key(jobId),
  runId: 1,
  repository: 'acme/app',
  installationId: cloud.installationId,
  labels: ['self-hosted'],
  configName: 'linux',
  deliveryId,
});
const retry = () => handlers.retry({}, { getRemainingTimeInMillis: () => 60_000 });

test('GitHub 5xx and a secondary rate limit are retried inside the budget', async () => {
  const jobId = newJobId();
  cloud.github.failNext('generateJitConfigOrg', 2, 502);
  const res = await deliver(jobId);
  expect(res.statusCode).toBe(200);
  expect(live(jobId)).toHaveLength(1);
  expect(cloud.github.callCount('generateJitConfigOrg', 502)).toBeGreaterThanOrEqual(2);

  const second = newJobId();
  cloud.github.rateLimitNext('generateJitConfigOrg', 1, 'secondary-403', 1);
  expect((await deliver(second)).statusCode).toBe(200);
  expect(live(second)).toHaveLength(1);
});

test('EC2 throttling is retried with backoff; the same client token never launches twice', async () => {
  const jobId = newJobId();
  cloud.ec2.failNext('CreateFleet', 3, 'RequestLimitExceeded');
  const res = await deliver(jobId);
  expect(res.statusCode).toBe(200);
  expect(live(jobId)).toHaveLength(1);
  expect(cloud.ec2.callCount('CreateFleet')).toBeGreaterThanOrEqual(4);
});

test('GitHub down for the whole budget: 202, job pending with its reason, instance terminated, nothing leaks', async () => {
  const jobId = newJobId();
  cloud.github.setFailureRate('generateJitConfigOrg', 1, 503);
  const started = Date.now();
  const res = await deliver(jobId);
  expect(Date.now() - started).toBeLessThan(10_000); // the answer still beats GitHub's 10 s timeout
  expect(res.statusCode).toBe(202);
  const job = await store.jobs.get(key(jobId));
  expect(job?.status).toBe('pending');
  expect(job?.lastError).toMatch(/GitHub: server \(503\)/);
  expect(live(jobId)).toHaveLength(0); // the instance launched in parallel was terminated
  expect(registrations(jobId)).toHaveLength(0);

  cloud.github.clearFaults();
  await makeDue(jobId);
  expect((await retry()).launched).toBeGreaterThanOrEqual(1);
  expect(live(jobId)).toHaveLength(1);
  expect((await store.jobs.get(key(jobId)))?.status).toBe('launched');
});

test('a quota error defers the job and says so loudly', async () => {
  const jobId = newJobId();
  cloud.ec2.setVcpuQuotaExceeded(true);
  const res = await deliver(jobId);
  expect(res.statusCode).toBe(202);
  expect(JSON.parse(res.body).reason).toMatch(/quota/);
  expect(registrations(jobId)).toHaveLength(0); // the JIT registration made in parallel was deleted
  const lines = output
    .text()
    .split('\n')
    .filter((l) => l.includes('"level":"ERROR"') && l.includes(String(jobId)));
  expect(lines.some((l) => /EC2 quota exhausted/.test(l))).toBe(true);
});

test('a webhook that died mid-launch is recovered by the retry once its lease expires', async () => {
  const jobId = newJobId();
  const job = jobRecord(jobId, 'crashed');
  // Claimed 2 minutes ago by an owner that never came back.
  expect(await store.jobs.claim(job, 'runner-1', 'dead-owner', Date.now() - 120_000, 90_000)).toBe(true);
  const summary = await retry();
  expect(summary.launched).toBeGreaterThanOrEqual(1);
  expect(live(jobId)).toHaveLength(1);
  const record = await store.jobs.get(key(jobId));
  expect(record).toMatchObject({ status: 'launched', launchAttempts: 2 });
  // A second run finds nothing more to do for it.
  await retry();
  expect(live(jobId)).toHaveLength(1);
});

test('a job pending past its deadline is given up, not launched', async () => {
  const jobId = newJobId();
  const job = jobRecord(jobId, 'old');
  const dayAgo = Date.now() - 25 * 3600_000;
  await store.jobs.claim(job, 'runner-1', 'o', dayAgo, 90_000);
  await store.jobs.defer(key(jobId), 'o', 'capacity', dayAgo + 60_000, false);
  await retry();
  expect((await store.jobs.get(key(jobId)))?.status).toBe('expired');
  expect(live(jobId)).toHaveLength(0);
});

test('a job cancelled while pending is never launched', async () => {
  const jobId = newJobId();
  cloud.github.setFailureRate('generateJitConfigOrg', 1, 500);
  await deliver(jobId);
  cloud.github.clearFaults();
  await handlers.webhook(
    await apiGatewayEvent(cloud, workflowJobPayload({ jobId, action: 'completed', conclusion: 'cancelled' })),
  );
  await makeDue(jobId).catch(() => undefined);
  await retry();
  expect(live(jobId)).toHaveLength(0);
  expect((await store.jobs.get(key(jobId)))?.status).toBe('completed');
});

test('overlapping retry runs launch each due job once', async () => {
  const ids = [newJobId(), newJobId(), newJobId(), newJobId(), newJobId()];
  cloud.github.setFailureRate('generateJitConfigOrg', 1, 500);
  await Promise.all(ids.map(deliver));
  cloud.github.clearFaults();
  await Promise.all(ids.map(makeDue));
  await Promise.all([retry(), retry(), retry()]);
  for (const id of ids) expect(live(id)).toHaveLength(1);
});

test('installation tokens are reused across deliveries, and every app JWT carries a jti', async () => {
  cloud.github.resetCalls();
  await deliver(newJobId());
  await deliver(newJobId());
  expect(cloud.github.callCount('createInstallationToken')).toBe(0);
  expect(cloud.github.callCount('generateJitConfigOrg', 201)).toBe(2);
  expect(cloud.github.jwtsWithoutJti).toBe(0);
});

test('an app without the runner permission: the job waits, and the log says which permission to grant', async () => {
  const unprivileged = await startLocalCloud({ installationPermissions: { metadata: 'read' } });
  const capture = captureOutput();
  try {
    const h = loadHandlers(unprivileged.env);
    const res = await h.webhook(await apiGatewayEvent(unprivileged, workflowJobPayload({ jobId: 1 })));
    expect(res.statusCode).toBe(202);
    expect(unprivileged.ec2.instances().filter((i) => i.state !== 'terminated')).toHaveLength(0);
    const line = capture
      .text()
      .split('\n')
      .find((l) => l.includes('GitHub refused to register the runner'));
    expect(line).toBeDefined();
    expect(JSON.parse(line!).hint).toMatch(/Self-hosted runners: Read and write/);
  } finally {
    capture.stop();
    await unprivileged.stop();
    Object.assign(process.env, cloud.env);
  }
});

test('a hung GitHub call costs a deferral inside the delivery budget, never a Lambda timeout', async () => {
  const jobId = newJobId();
  cloud.github.hangNext('generateJitConfigOrg', 20);
  const res = await deliver(jobId); // a handler that waited on the hung call would never return
  expect(res.statusCode).toBe(202);
  expect(JSON.parse(res.body).reason).toMatch(/GitHub: network/);
  const job = await store.jobs.get(key(jobId));
  expect(job?.status).toBe('pending');
  expect(live(jobId)).toHaveLength(0); // the instance launched in parallel was undone
}, 30_000);
