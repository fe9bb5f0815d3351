/**
 * The backstop for a lost state change: an instance that ended (shutting down or terminated) before
 * its boot read its JIT config leaves that config in its handoff slot. The state-change event voids
 * it; EventBridge delivers that event at best effort, so each scheduled run also looks at the slots
 * of the ended instances it lists (EC2 lists them for about an hour, the slot's TTL is an hour) and
 * voids those still holding a config. An ended instance can never read it: voiding is always safe.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import { InstanceView } from '../core/fleet-views';
import { Runtime } from '../runtime';

/** Handoff slots looked at in one run, newest instances first. */
const MAX_PER_RUN = 100;

/** Voids the handoff slots of ended instances that still hold a JIT config; how many it voided. */
export async function voidEndedHandoffs(
  runtime: Runtime,
  log: Logger,
  instances: readonly InstanceView[],
  options: { stopBy: number; now: () => number },
): Promise<number> {
  const ended = instances
    .filter((i) => i.state === 'shutting-down' || i.state === 'terminated')
    .sort((a, b) => b.launchTime - a.launchTime)
    .slice(0, MAX_PER_RUN);
  let voided = 0;
  await Promise.all(
    ended.map(async (instance) => {
      if (options.now() > options.stopBy) return;
      const arn = `${runtime.settings.instanceArnPrefix}${instance.instanceId}`;
      try {
        if (!(await runtime.store.handoffs.exists(arn))) return;
        await runtime.store.handoffs.void(arn, options.now());
        voided++;
        log.info('the JIT config of an instance that ended before reading it was voided', {
          instanceId: instance.instanceId,
          jobKey: instance.jobKey,
        });
      } catch (e) {
        log.warn('could not look at the handoff of an ended instance; the next run tries again', {
          instanceId: instance.instanceId,
          error: (e as Error).message,
        });
      }
    }),
  );
  return voided;
}
