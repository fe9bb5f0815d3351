/**
 * The reconciler Lambda. Two kinds of event reach it: its EventBridge schedule (a full run: compare
 * the job records with the instances and runner registrations that exist, and repair the
 * difference), and `EC2 Instance State-change Notification` for shutting-down or terminated
 * instances (a record learns at once that its instance is gone; the run stays the safety net).
 */
import { createRuntime, Runtime } from '../runtime';
import { onInstanceStateChange } from './instance-gone';
import { reconcile, ReconcileSummary } from './reconcile-run';

let runtime: Runtime | undefined;

/** The part of an EventBridge event the handler reads. */
interface EventBridgeEvent {
  readonly source?: string;
  readonly 'detail-type'?: string;
  readonly detail?: { readonly 'instance-id'?: unknown; readonly state?: unknown };
}

/** Lambda entry point. */
export async function handler(
  event: EventBridgeEvent,
  context?: { getRemainingTimeInMillis(): number },
): Promise<ReconcileSummary | { result: string }> {
  runtime ??= createRuntime(process.env);
  const remaining = context?.getRemainingTimeInMillis() ?? 60_000;
  const stopBy = Date.now() + remaining - 10_000;
  if (event?.['detail-type'] === 'EC2 Instance State-change Notification') {
    const id = event.detail?.['instance-id'];
    const state = event.detail?.state;
    if (typeof id !== 'string' || typeof state !== 'string') return { result: 'malformed event' };
    return { result: await onInstanceStateChange(runtime, id, state, { stopBy }) };
  }
  return reconcile(runtime, { stopBy });
}
