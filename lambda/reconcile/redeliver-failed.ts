/**
 * The reconciler's redelivery step: list the App's webhook deliveries back to the last scan (the
 * first scan after a deploy looks back `redeliveryLookback`, an hour by default), and ask GitHub to redeliver each failed
 * `workflow_job` delivery once (core/redelivery). GitHub keeps deliveries for 3 days (7 on GHES).
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import { classifyAwsFailure, classifyGitHubFailure } from '../core/call-failure';
import { DeliveryView, deliveriesToRedeliver } from '../core/redelivery';
import { GitHubRunners } from '../adapters/github';
import { withRetry } from '../adapters/retrying';
import { Runtime } from '../runtime';

/** Deliveries still in flight when the last scan listed may be listed late: look this far before it. */
const OVERLAP_MS = 5 * 60_000;
const MAX_PAGES = 10;
const MAX_PER_RUN = 25;
const MAX_ATTEMPTS = 3;

/** What the step did. */
export interface RedeliverySummary {
  listed: number;
  redelivered: number;
  givenUp: number;
}

/** Redelivers the failed deliveries since the last scan; never throws for remote failures. */
export async function redeliverFailed(
  runtime: Runtime,
  github: GitHubRunners,
  log: Logger,
  stopBy: number,
  now: () => number,
): Promise<RedeliverySummary> {
  const summary: RedeliverySummary = { listed: 0, redelivered: 0, givenUp: 0 };
  const store = runtime.store.reconciler;
  const aws = { deadline: stopBy, now, classify: classifyAwsFailure };
  const gh = { deadline: stopBy, now, classify: classifyGitHubFailure };
  const checkpoint = await withRetry(() => store.deliveryCheckpoint(), aws);
  const started = now();
  // The first scan after a deploy looks back `redeliveryLookback`; later ones start where the last stopped.
  const since = (checkpoint?.seenUntil ?? started - runtime.settings.redeliveryLookbackMs) - OVERLAP_MS;
  const windowMs = (runtime.settings.githubHost === 'github.com' ? 3 : 7) * 24 * 3_600_000;
  const deliveries: DeliveryView[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < MAX_PAGES && now() < stopBy; page++) {
    const out = await withRetry(() => github.listDeliveries({ cursor, deadline: stopBy }), gh);
    deliveries.push(...out.deliveries);
    cursor = out.nextCursor;
    if (!cursor || out.deliveries.some((d) => d.deliveredAt < since)) break;
  }
  summary.listed = deliveries.length;
  const recent = deliveries.filter((d) => d.deliveredAt >= since);
  const already = new Set(checkpoint?.redelivered ?? []);
  const { redeliver, givenUp } = deliveriesToRedeliver(recent, {
    now: started,
    windowMs,
    maxAttempts: MAX_ATTEMPTS,
    alreadyRedelivered: already,
    max: MAX_PER_RUN,
  });
  for (const guid of givenUp) {
    log.error('webhook delivery failed every attempt; given up: check the webhook Lambda', { guid });
  }
  summary.givenUp = givenUp.length;
  const done: number[] = [];
  for (const d of redeliver) {
    if (now() >= stopBy) break;
    try {
      await withRetry(() => github.redeliver(d.id, { deadline: stopBy }), gh);
      done.push(d.id);
      log.info('asked GitHub to redeliver a failed delivery', {
        deliveryGuid: d.guid,
        deliveryId: d.id,
        action: d.action,
        statusCode: d.statusCode,
      });
    } catch (e) {
      log.warn('redelivery refused; the next run tries again', {
        deliveryId: d.id,
        error: (e as Error).message,
      });
    }
  }
  summary.redelivered = done.length;
  const newest = deliveries.reduce((m, d) => Math.max(m, d.deliveredAt), checkpoint?.seenUntil ?? 0);
  await withRetry(
    () =>
      store.saveDeliveryCheckpoint(
        {
          seenUntil: Math.max(newest, since + OVERLAP_MS),
          redelivered: [...(checkpoint?.redelivered ?? []), ...done],
        },
        now(),
      ),
    aws,
  );
  return summary;
}
