/**
 * A rotated webhook secret is picked up without a redeploy or a cold start, and forged deliveries
 * cannot turn every request into a secret read.
 */
import { sign } from '@octokit/webhooks-methods';
import { createRuntime } from '../../lambda/runtime';
import { handleDelivery } from '../../lambda/webhook/handle-delivery';
import { LocalCloud, startLocalCloud } from '../local-cloud/local-cloud';

let cloud: LocalCloud;
const SECRET_PARAM = '/cdk-ephemeral-runners/test/webhook-secret';

beforeAll(async () => {
  cloud = await startLocalCloud();
  Object.assign(process.env, cloud.env);
});
afterAll(async () => {
  jest.useRealTimers();
  await cloud.stop();
});

const ping = async (secret: string) => {
  const body = JSON.stringify({ zen: 'Design for failure.' });
  return {
    headers: {
      'X-GitHub-Event': 'ping',
      'Content-Type': 'application/json',
      'X-Hub-Signature-256': await sign(secret, body),
    },
    body,
  };
};

test('after a rotation, the new secret verifies once the cached one is a minute old', async () => {
  jest.useFakeTimers({
    doNotFake: [
      'setTimeout',
      'clearTimeout',
      'setInterval',
      'clearInterval',
      'setImmediate',
      'nextTick',
      'queueMicrotask',
    ],
  });
  jest.setSystemTime(new Date('2026-11-23T09:00:00Z'));
  const runtime = createRuntime(process.env);
  expect((await handleDelivery(runtime, await ping(cloud.webhookSecret))).statusCode).toBe(200);

  cloud.aws.putParameter(SECRET_PARAM, 'rotated-secret', 'SecureString');
  const reads = () => cloud.aws.calls.filter((c) => c.target === 'AmazonSSM.GetParameter').length;
  const before = reads();
  // Within the minute: a mismatch does not reread the secret (forged deliveries stay cheap).
  expect((await handleDelivery(runtime, await ping('rotated-secret'))).statusCode).toBe(401);
  expect((await handleDelivery(runtime, await ping('forged'))).statusCode).toBe(401);
  expect(reads()).toBe(before);

  jest.setSystemTime(new Date('2026-11-23T09:01:01Z'));
  expect((await handleDelivery(runtime, await ping('rotated-secret'))).statusCode).toBe(200);
  expect(reads()).toBe(before + 1);
  expect((await handleDelivery(runtime, await ping('rotated-secret'))).statusCode).toBe(200);
  expect(reads()).toBe(before + 1); // cached again
  // A delivery GitHub signed with the old secret just before the change is still accepted...
  expect((await handleDelivery(runtime, await ping(cloud.webhookSecret))).statusCode).toBe(200);
  // ...for the grace period, and refused after it.
  jest.setSystemTime(new Date('2026-11-23T09:16:02Z'));
  expect((await handleDelivery(runtime, await ping(cloud.webhookSecret))).statusCode).toBe(401);
  expect((await handleDelivery(runtime, await ping('rotated-secret'))).statusCode).toBe(200);
});
