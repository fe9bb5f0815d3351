/**
 * GitHub Enterprise Server: the API under /api/v3, jobs keyed by the GHES host, repo-scoped runners.
 */
import { jobPartitionKey } from '../../lambda/core/job-key';
import { StateStore } from '../../lambda/adapters/state-store';
import { apiGatewayEvent, LocalCloud, startLocalCloud, workflowJobPayload } from '../local-cloud/local-cloud';
import { captureOutput, loadHandlers } from '../local-cloud/handlers';

let cloud: LocalCloud;
let output: ReturnType<typeof captureOutput>;

beforeAll(async () => {
  cloud = await startLocalCloud({ ghes: true, runnerScope: 'repo', deliveryBudgetMs: 25_000 });
  output = captureOutput();
});
afterAll(async () => {
  output.stop();
  await cloud.stop();
});

test('a queued job on GHES registers a repo-scoped JIT runner through /api/v3 and launches once', async () => {
  const { webhook } = loadHandlers(cloud.env);
  const payload = workflowJobPayload({ jobId: 31 });
  const answers = await Promise.all(
    [1, 2, 3].map(async () => webhook(await apiGatewayEvent(cloud, payload))),
  );
  expect(answers.map((a) => a.statusCode).sort()).toEqual([200, 200, 200]);
  expect(cloud.ec2.instances()).toHaveLength(1);

  const jitCalls = cloud.github.calls.filter((c) => c.route === 'generateJitConfigRepo');
  expect(jitCalls).toHaveLength(1);
  expect(jitCalls[0].path).toMatch(/\/repos\/acme\/app\/actions\/runners\/generate-jitconfig$/);
  // The handler derived the API base from the GHES URL alone; the emulator serves GHES only under /api/v3.
  expect(cloud.env.GITHUB_API_URL).toBeUndefined();
  expect(cloud.github.apiUrl).toMatch(/\/api\/v3$/);
  expect(cloud.github.runners()[0]).toMatchObject({ scopeKind: 'repo' });

  // Job ids of different hosts never collide: the GHES host is part of the key.
  const host = new URL(cloud.env.GITHUB_URL).host;
  const store = new StateStore(cloud.dynamo.client, cloud.tableName);
  expect((await store.jobs.get({ host, jobId: 31, runAttempt: 1 }))?.status).toBe('launched');
  expect(jobPartitionKey({ host, jobId: 31, runAttempt: 1 })).toContain('127.0.0.1');
  expect(await store.jobs.get({ host: 'github.com', jobId: 31, runAttempt: 1 })).toBeUndefined();
});
