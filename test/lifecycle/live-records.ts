/** The job records that are not final, read as the reconciler reads them (the live index). */
import { StateStore } from '../../lambda/adapters/state-store';
import { formatJobKey } from '../../lambda/core/job-key';
import type { World } from '../local-cloud/world';

export async function liveRecords(world: World): Promise<{ jobs: string[] }> {
  const store = new StateStore(world.cloud.dynamo.client, world.cloud.tableName);
  const page = await store.jobs.live(500);
  return { jobs: page.jobs.map((j) => `${formatJobKey(j.key)} ${j.status}`) };
}
