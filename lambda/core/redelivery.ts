/**
 * Which failed webhook deliveries to ask GitHub to send again. GitHub never redelivers a failed
 * delivery by itself (a webhook stopped before its claim was written, a 5xx, a throttle, a
 * timeout): the reconciler lists the App's deliveries and redelivers each failure once. Pure.
 */

/** A delivery as `GET /app/hook/deliveries` lists it. */
export interface DeliveryView {
  readonly id: number;
  /** `X-GitHub-Delivery`: shared by a delivery and its redeliveries. */
  readonly guid: string;
  /** Epoch ms. */
  readonly deliveredAt: number;
  readonly redelivery: boolean;
  /** What the webhook answered; 0 when it could not be reached or timed out. */
  readonly statusCode: number;
  readonly event: string;
  readonly action: string | null;
}

/** Bounds of the choice. */
export interface RedeliveryRules {
  readonly now: number;
  /** GitHub's window: 3 days on github.com, 7 on GHES. */
  readonly windowMs: number;
  /** Attempts (the delivery and its redeliveries) after which a guid is given up. */
  readonly maxAttempts: number;
  /** Deliveries redelivered by earlier runs whose new attempt may not be listed yet. */
  readonly alreadyRedelivered: ReadonlySet<number>;
  /** At most this many per run. */
  readonly max: number;
}

const ok = (status: number) => status >= 200 && status < 300;

const ACTION_ORDER = ['completed', 'in_progress', 'waiting', 'queued'];
const actionRank = (action: string | null) => {
  const i = ACTION_ORDER.indexOf(action ?? '');
  return i < 0 ? ACTION_ORDER.length : i;
};

/** The chosen deliveries (a job's later news first), and the guids given up (attempts exhausted). */
export function deliveriesToRedeliver(
  deliveries: readonly DeliveryView[],
  rules: RedeliveryRules,
): { redeliver: DeliveryView[]; givenUp: string[] } {
  const byGuid = new Map<string, DeliveryView[]>();
  for (const d of deliveries) {
    if (d.event !== 'workflow_job') continue;
    byGuid.set(d.guid, [...(byGuid.get(d.guid) ?? []), d]);
  }
  const redeliver: DeliveryView[] = [];
  const givenUp: string[] = [];
  for (const [guid, attempts] of byGuid) {
    if (attempts.some((a) => ok(a.statusCode))) continue;
    const latest = attempts.reduce((a, b) =>
      b.deliveredAt > a.deliveredAt || (b.deliveredAt === a.deliveredAt && b.id > a.id) ? b : a,
    );
    if (rules.now - latest.deliveredAt > rules.windowMs) continue;
    if (attempts.some((a) => rules.alreadyRedelivered.has(a.id))) continue;
    if (attempts.length >= rules.maxAttempts) {
      givenUp.push(guid);
      continue;
    }
    redeliver.push(latest);
  }
  // A job's later news first: a redelivered `completed` records the job as final, so a `queued`
  // redelivered after it launches nothing; oldest first within each action.
  redeliver.sort((a, b) => actionRank(a.action) - actionRank(b.action) || a.deliveredAt - b.deliveredAt);
  return { redeliver: redeliver.slice(0, rules.max), givenUp };
}
