/** The job records that are not final, read as the reconciler reads them (the live index). */
import { StateStore } from '../../lambda/adapters/state-store';
import { formatJobKey } from '../../lambda/core/job-key';
import type { World } from '../local-cloud/world';

export async function liveRecords(world: World): Promise<{ jobs: string[] }> {
  const store = new StateStore(world.cloud.dynamo.client, world.cloud.tableName);
  const page = await store.jobs.live(500);
  return { jobs: page.jobs.map((j) => `${formatJobKey(j.key)} ${j.status}`) };
}

/** What a world has left over: live instances, registrations, JIT configs, and records not final. */
export async function leftovers(world: World) {
  const f = await world.figures();
  return {
    instances: f.leakedInstances,
    registrations: f.leakedRegistrations,
    handoffs: f.leakedHandoffs,
    live: (await liveRecords(world)).jobs,
  };
}

/** {@link leftovers} when nothing is left. */
export const NOTHING_LEFT = { instances: 0, registrations: 0, handoffs: 0, live: [] as string[] };
