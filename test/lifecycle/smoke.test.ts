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
});
