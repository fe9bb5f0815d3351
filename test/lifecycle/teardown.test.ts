/**
 * The removal on stack deletion, against the local cloud: the built `teardown` bundle answers a
 * CloudFormation Delete by terminating this deployment's instances and deleting its registrations, and
 * always answers (SUCCESS) before its deadline, also when GitHub or EC2 fail, or the answer's first PUT does.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { apiGatewayEvent, LocalCloud, startLocalCloud, workflowJobPayload } from '../local-cloud/local-cloud';
import { captureOutput, Handlers, loadBundle, loadHandlers } from '../local-cloud/handlers';

interface Answer {
  Status: string;
  Reason: string;
  PhysicalResourceId: string;
  RequestId: string;
  LogicalResourceId: string;
  StackId: string;
}
type Teardown = (
  event: unknown,
  context: { getRemainingTimeInMillis(): number },
) => Promise<{ status: string; reason: string }>;

/** A stand-in for the pre-signed S3 URL CloudFormation gives: records each PUT, can refuse the first ones. */
class ResponseUrl {
  readonly answers: Answer[] = [];
  readonly contentTypes: Array<string | undefined> = [];
  refuseNext = 0;
  private server!: Server;
  url = '';

  async start(): Promise<void> {
    this.server = createServer((req: IncomingMessage, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (this.refuseNext > 0) {
          this.refuseNext--;
          res.writeHead(503).end();
          return;
        }
        this.contentTypes.push(req.headers['content-type']);
        this.answers.push(JSON.parse(Buffer.concat(chunks).toString('utf8')) as Answer);
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/presigned?X-Amz-Signature=x`;
  }
  stop(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }
}

let cloud: LocalCloud;
let handlers: Handlers;
let teardown: Teardown;
let responses: ResponseUrl;
let output: ReturnType<typeof captureOutput>;
let nextJobId = 9_100_000_000;

beforeAll(async () => {
  cloud = await startLocalCloud();
  handlers = loadHandlers(cloud.env);
  teardown = loadBundle<{ handler: Teardown }>('teardown', cloud.env).handler;
  responses = new ResponseUrl();
  await responses.start();
  output = captureOutput();
});
afterAll(async () => {
  output.stop();
  await responses.stop();
  await cloud.stop();
});
afterEach(() => {
  cloud.github.clearFaults();
  cloud.ec2.setThrottleRate(0);
});

const request = (type: 'Create' | 'Update' | 'Delete', physicalId?: string) => ({
  RequestType: type,
  ResponseURL: responses.url,
  StackId: 'arn:aws:cloudformation:us-east-1:123456789012:stack/S/1',
  RequestId: `req-${Math.random().toString(36).slice(2)}`,
  LogicalResourceId: 'RunnersTeardown3F01EE3A',
  ...(physicalId ? { PhysicalResourceId: physicalId } : {}),
  ResourceType: 'Custom::EphemeralRunnersTeardown',
});
const context = (ms: number) => {
  const end = Date.now() + ms;
  return { getRemainingTimeInMillis: () => end - Date.now() };
};
const live = () => cloud.ec2.instances().filter((i) => i.state !== 'terminated');
const ours = () => cloud.github.runners().filter((r) => /^linux-\d+-1-1-[0-9a-f]{6}$/.test(r.name));
const launchJobs = async (n: number) => {
  for (let i = 0; i < n; i++) {
    const res = await handlers.webhook(
      await apiGatewayEvent(cloud, workflowJobPayload({ jobId: nextJobId++ })),
    );
    expect(res.statusCode).toBe(200);
  }
};

test('Create and Update answer SUCCESS and touch nothing', async () => {
  await launchJobs(1);
  const terminations = cloud.ec2.callCount('TerminateInstances');
  const created = await teardown(request('Create'), context(60_000));
  const updated = await teardown(request('Update', 'RunnersTeardown3F01EE3A-removal'), context(60_000));
  expect([created.status, updated.status]).toEqual(['SUCCESS', 'SUCCESS']);
  const [a, b] = responses.answers.slice(-2);
  expect(a.PhysicalResourceId).toBe('RunnersTeardown3F01EE3A-removal');
  expect(b.PhysicalResourceId).toBe(a.PhysicalResourceId); // an update never replaces it
  expect(cloud.ec2.callCount('TerminateInstances')).toBe(terminations);
  expect(live().length).toBeGreaterThan(0);
});

test('Delete terminates every owned instance and deletes our registrations, then answers SUCCESS', async () => {
  await launchJobs(3);
  expect(live().length).toBeGreaterThanOrEqual(3);
  expect(ours().length).toBeGreaterThanOrEqual(3);
  responses.refuseNext = 1; // the first PUT of the answer fails: it is sent again
  const event = request('Delete', 'RunnersTeardown3F01EE3A-removal');
  const result = await teardown(event, context(60_000));
  expect(result.status).toBe('SUCCESS');
  expect(result.reason).toMatch(/^removed: \d+ instance\(s\) terminated, \d+ registration\(s\) deleted$/);
  expect(live()).toEqual([]);
  expect(ours()).toEqual([]);
  const answer = responses.answers.at(-1)!;
  expect(answer).toMatchObject({
    Status: 'SUCCESS',
    RequestId: event.RequestId,
    StackId: event.StackId,
    LogicalResourceId: event.LogicalResourceId,
    PhysicalResourceId: 'RunnersTeardown3F01EE3A-removal',
  });
  expect(responses.contentTypes.at(-1)).toBe(''); // the pre-signed URL signs no content type
});

test('a busy runner, a GitHub that fails and an EC2 that refuses to terminate: the answer still comes in time, naming what is left', async () => {
  await launchJobs(2);
  const [busy] = ours();
  cloud.github.setRunnerState(busy.id, { status: 'online', busy: true });
  cloud.github.setFailureRate('all', 1, 502);
  cloud.ec2.failNext('TerminateInstances', 3, 'UnauthorizedOperation', 403);
  const started = Date.now();
  const budget = 12_000;
  const result = await teardown(request('Delete', 'RunnersTeardown3F01EE3A-removal'), context(budget));
  expect(Date.now() - started).toBeLessThan(budget);
  expect(result.status).toBe('SUCCESS');
  expect(result.reason).toMatch(/^incomplete, the deletion goes on: left \d+ instance\(s\) \[i-/);
  expect(responses.answers.at(-1)!.Status).toBe('SUCCESS');
  expect(output.text()).toMatch(/removal incomplete: the stack deletion goes on/);

  // Once GitHub and EC2 answer again, a second Delete (CloudFormation retries a deletion) finishes the
  // job, the busy runner included once its instance is gone.
  cloud.github.clearFaults();
  const first = await teardown(request('Delete', 'RunnersTeardown3F01EE3A-removal'), context(30_000));
  expect(live()).toEqual([]);
  cloud.github.setRunnerState(busy.id, { status: 'offline', busy: false }); // the runner's instance is gone
  const second = first.reason.startsWith('removed')
    ? first
    : await teardown(request('Delete', 'RunnersTeardown3F01EE3A-removal'), context(30_000));
  expect(second.reason).toMatch(/^removed/);
  expect(ours()).toEqual([]);
});

test('broken settings still answer SUCCESS (the deletion must not wait an hour)', async () => {
  const broken = loadBundle<{ handler: Teardown }>(
    'teardown',
    { ...cloud.env, STATE_TABLE_NAME: '' },
    { isolateEnv: true },
  ).handler;
  const result = await broken(request('Delete', 'x-removal'), context(20_000));
  expect(result.status).toBe('SUCCESS');
  expect(result.reason).toMatch(
    /removal failed, the deletion goes on: invalid Lambda environment.*STATE_TABLE_NAME/,
  );
  expect(responses.answers.at(-1)).toMatchObject({ Status: 'SUCCESS', PhysicalResourceId: 'x-removal' });
});
