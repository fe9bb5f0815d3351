/**
 * The interruption Lambda: EventBridge sends it `EC2 Spot Instance Interruption Warning` and
 * `EC2 Instance Rebalance Recommendation` events (EventBridge cannot filter on tags: the owner tag is
 * checked by the handler). See handle-interruption.ts.
 */
import { INTERRUPTION_DETAIL_TYPES, InterruptionKind } from '../core/interruption';
import { createRuntime, Runtime } from '../runtime';
import { onInterruption } from './handle-interruption';

let runtime: Runtime | undefined;

/** The part of an EventBridge event the handler reads. */
interface EventBridgeEvent {
  readonly 'detail-type'?: string;
  readonly detail?: { readonly 'instance-id'?: unknown };
}

const KINDS = Object.fromEntries(
  Object.entries(INTERRUPTION_DETAIL_TYPES).map(([kind, detailType]) => [
    detailType,
    kind as InterruptionKind,
  ]),
);

/** Lambda entry point. */
export async function handler(
  event: EventBridgeEvent,
  context?: { getRemainingTimeInMillis(): number },
): Promise<{ result: string }> {
  runtime ??= createRuntime(process.env);
  const kind = KINDS[event?.['detail-type'] ?? ''];
  const id = event?.detail?.['instance-id'];
  if (!kind || typeof id !== 'string') return { result: 'not an interruption event' };
  const stopBy = Date.now() + (context?.getRemainingTimeInMillis() ?? 60_000) - 5_000;
  const result = await onInterruption(runtime, kind, id, { stopBy });
  runtime.logger.info('interruption handled', { instanceId: id, event: kind, result });
  return { result };
}
