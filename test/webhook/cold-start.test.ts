/**
 * Cold start: a delivery that launches nothing never loads the launch path's clients. The EC2
 * client (its schema is most of the code) and Octokit are in a chunk of their own
 * (`launch-clients-<hash>.js`) beside the webhook's `index.js`, which the runtime requires on its
 * first launch; no file a `completed` delivery loads may hold them, or every cold start would pay
 * for them.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { captureOutput, loadHandler } from '../local-cloud/handlers';
import { apiGatewayEvent, LocalCloud, startLocalCloud, workflowJobPayload } from '../local-cloud/local-cloud';

const ASSETS = join(__dirname, '..', '..', 'dist', 'assets', 'webhook');
/** The EC2 API version: the EC2 client sends it with every call, and nothing else in the bundles holds it. */
const EC2_CLIENT_MARK = '2016-11-15';

let cloud: LocalCloud;
let output: ReturnType<typeof captureOutput>;
beforeAll(async () => {
  output = captureOutput();
  cloud = await startLocalCloud();
});
afterAll(async () => {
  output.stop();
  await cloud.stop();
});

/** A fresh webhook container, and the files of its bundle it has evaluated so far. */
function container() {
  const files: string[] = [];
  const webhook = loadHandler('webhook', cloud.env, { onFileLoad: (name) => files.push(name) });
  return { webhook, files };
}

/** Whether a file of the webhook's bundle holds the EC2 client. */
const holdsEc2Client = (name: string) => readFileSync(join(ASSETS, name), 'utf8').includes(EC2_CLIENT_MARK);
const isLaunchClients = (name: string) => /^launch-clients-\w+\.js$/.test(name);

test('the EC2 client and Octokit are in the launch-clients chunk, and no other file of the webhook holds them', () => {
  const files = readdirSync(ASSETS);
  expect(files.filter(isLaunchClients)).toHaveLength(1);
  expect(files.filter(holdsEc2Client)).toEqual(files.filter(isLaunchClients));
  const withOctokit = files.filter((f) =>
    readFileSync(join(ASSETS, f), 'utf8').includes('generate-jitconfig'),
  );
  expect(withOctokit).toEqual(files.filter(isLaunchClients));
});

test('ping, in_progress and completed deliveries never load the launch path; the first queued one does, and launches', async () => {
  // Job 1 is queued and launched by another container, so its completed finds its record.
  const other = container();
  const first = await other.webhook(await apiGatewayEvent(cloud, workflowJobPayload({ jobId: 1 })));
  expect(first.statusCode).toBe(200);
  expect(other.files.filter(isLaunchClients)).toHaveLength(1);

  const { webhook, files } = container();
  const answers = [
    await webhook(await apiGatewayEvent(cloud, { zen: 'Keep it logically awesome.' }, { event: 'ping' })),
    await webhook(
      await apiGatewayEvent(
        cloud,
        workflowJobPayload({ jobId: 1, action: 'in_progress', runnerName: 'r-1' }),
      ),
    ),
    await webhook(
      await apiGatewayEvent(
        cloud,
        workflowJobPayload({ jobId: 1, action: 'completed', conclusion: 'success' }),
      ),
    ),
    // No record: in_progress and completed before their queued are recorded, still without a launch.
    await webhook(
      await apiGatewayEvent(
        cloud,
        workflowJobPayload({ jobId: 2, action: 'in_progress', runnerName: 'r-2' }),
      ),
    ),
    await webhook(
      await apiGatewayEvent(
        cloud,
        workflowJobPayload({ jobId: 3, action: 'completed', conclusion: 'cancelled' }),
      ),
    ),
  ];
  expect(answers.map((a) => a.statusCode)).toEqual([200, 200, 200, 200, 200]);
  expect(files[0]).toBe('index.js');
  expect(files.filter(holdsEc2Client)).toEqual([]);

  const launched = await webhook(await apiGatewayEvent(cloud, workflowJobPayload({ jobId: 4 })));
  expect({ statusCode: launched.statusCode, message: JSON.parse(launched.body).message }).toEqual({
    statusCode: 200,
    message: 'runner launched',
  });
  expect(files.filter(holdsEc2Client)).toHaveLength(1);
  // Once per container: a second launch loads nothing more.
  const loaded = files.length;
  expect((await webhook(await apiGatewayEvent(cloud, workflowJobPayload({ jobId: 5 })))).statusCode).toBe(
    200,
  );
  expect(files).toHaveLength(loaded);
});
