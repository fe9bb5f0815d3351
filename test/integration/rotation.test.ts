/**
 * Rotating the webhook secret and the App's private key while deliveries keep coming: the built
 * webhook bundle, in virtual time, against the local cloud. No delivery is refused that GitHub
 * signed with a secret it held, and no launch fails for a rotated key.
 */
import { apiGatewayEvent, LocalCloud, startLocalCloud, workflowJobPayload } from '../local-cloud/local-cloud';
import { captureOutput, loadHandler } from '../local-cloud/handlers';
import { VirtualClock } from '../local-cloud/virtual-clock';

const WEBHOOK_SECRET_PARAMETER = '/cdk-ephemeral-runners/test/webhook-secret';
const clock = new VirtualClock();
let cloud: LocalCloud;
let webhook: ReturnType<typeof loadHandler<'webhook'>>;
const output = captureOutput();
let jobId = 9_100_000_000;

beforeAll(async () => {
  clock.install();
  cloud = await startLocalCloud();
  webhook = loadHandler('webhook', cloud.env, { Date: clock.DateClass, isolateEnv: true });
});
afterAll(async () => {
  output.stop();
  await cloud.stop();
  clock.uninstall();
});

const deliver = async (secret: string) =>
  webhook(await apiGatewayEvent(cloud, workflowJobPayload({ jobId: jobId++ }), { secret }));

test('webhook secret: the new one is picked up at once, the old one still accepted for a while', async () => {
  const old = cloud.webhookSecret;
  expect((await deliver(old)).statusCode).toBe(200);
  // The administrator stores a new secret, then saves it in the App's settings: GitHub signs with it.
  cloud.aws.putParameter(WEBHOOK_SECRET_PARAMETER, 'whsec-rotated', 'SecureString');
  clock.advanceBy(61_000);
  expect((await deliver('whsec-rotated')).statusCode).toBe(200);
  // A delivery GitHub signed just before the change arrives late.
  expect((await deliver(old)).statusCode).toBe(200);
  clock.advanceBy(16 * 60_000);
  expect((await deliver(old)).statusCode).toBe(401); // the grace period is over
  expect((await deliver('whsec-forged')).statusCode).toBe(401);
});

test('private key: a new key in Secrets Manager and the old one deleted at GitHub costs no launch', async () => {
  const secret = 'whsec-rotated';
  expect((await deliver(secret)).statusCode).toBe(200);
  const pem = cloud.github.addAppKey(4242);
  cloud.aws.putSecret('github-app-key', pem);
  cloud.github.revokeAppKeys(4242);
  // Past the cached installation token's hour: the next token needs a JWT signed with the key.
  clock.advanceBy(61 * 60_000);
  cloud.aws.putParameter(WEBHOOK_SECRET_PARAMETER, secret, 'SecureString');
  const res = await deliver(secret);
  expect({ status: res.statusCode, message: JSON.parse(res.body).message }).toEqual({
    status: 200,
    message: 'runner launched',
  });
  expect(output.text()).toContain('fetching the private key again');
});
