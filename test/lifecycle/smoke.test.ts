import { DeleteItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { World } from '../local-cloud/world';

let world: World;
beforeAll(async () => {
  world = await World.create();
});
afterAll(() => world.stop());

test('one job: launched, booted, run, gone; nothing left', async () => {
  const id = world.queueJob({ labels: ['self-hosted', 'linux'], durationMs: 5 * 60_000 });
  const quiet = await world.runToQuiescence(60 * 60_000);
  const figures = await world.figures();
  expect(quiet).toBe(true);
  expect(world.cloud.github.job(id)?.status).toBe('completed');
  expect(figures).toMatchObject({
    ran: 1,
    lost: 0,
    leakedInstances: 0,
    leakedRegistrations: 0,
    leakedHandoffs: 0,
  });
  // Its post-mortem finds its instance (terminated) and its record.
  const pm = await world.postMortem(id);
  expect(pm.instances).toEqual([expect.objectContaining({ state: 'terminated' })]);
  expect((pm.items as unknown[]).length).toBeGreaterThan(0);
});

test('a job no runner fits is counted lost, and its post-mortem shows what exists about it', async () => {
  // No configuration has a gpu label: the webhook launches nothing and GitHub keeps it queued.
  const id = world.queueJob({ labels: ['self-hosted', 'gpu'], durationMs: 60_000 });
  await world.runToQuiescence(30 * 60_000);
  expect(world.lostJobIds()).toEqual([id]);
  const pm = await world.postMortem(id);
  expect(pm).toMatchObject({ jobId: id, github: { id, status: 'queued' }, instances: [] });
  expect(pm.log).toEqual(expect.arrayContaining([expect.stringContaining(`delivery queued ${id}`)]));
  expect(world.cloud.github.cancelJob(id)).toBe(true);
});

test('figures count JIT configs left behind over every page of the table (a Scan page stops at 1 MB)', async () => {
  const { client } = world.cloud.dynamo;
  const TableName = world.cloud.tableName;
  const big = 'x'.repeat(350_000); // a page holds three of these at most
  const keys = [1, 2, 3, 4, 5, 6].map((n) => `arn:aws:ec2:us-east-1:123456789012:instance/i-leak${n}`);
  for (const pk of keys)
    await client.send(new PutItemCommand({ TableName, Item: { pk: { S: pk }, jitConfig: { S: big } } }));
  try {
    expect((await world.figures()).leakedHandoffs).toBe(6);
  } finally {
    for (const pk of keys) await client.send(new DeleteItemCommand({ TableName, Key: { pk: { S: pk } } }));
  }
});
