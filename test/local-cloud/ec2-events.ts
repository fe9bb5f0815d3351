// The EventBridge side of the EC2 emulator: every instance state change the emulator makes becomes
// an `EC2 Instance State-change Notification`, and the spot signals a test raises become an
// `EC2 Spot Instance Interruption Warning` or an `EC2 Instance Rebalance Recommendation`, each
// shaped as EC2 sends it to the default event bus (EC2 User Guide, "State change events for Amazon
// EC2 instances", "Spot Instance interruption notices", "EC2 instance rebalance recommendations";
// the envelope fields are EventBridge's "Event structure" reference).
import { randomUUID } from 'crypto';
import type { InstanceStateName } from './ec2-instances';

/** The `detail-type` EC2 gives instance state-change events. */
export const STATE_CHANGE_DETAIL_TYPE = 'EC2 Instance State-change Notification';

/** The `detail-type` of the two-minute warning before EC2 interrupts a spot instance. */
export const SPOT_INTERRUPTION_DETAIL_TYPE = 'EC2 Spot Instance Interruption Warning';

/** The `detail-type` of the signal that a spot instance is at elevated risk of interruption. */
export const REBALANCE_RECOMMENDATION_DETAIL_TYPE = 'EC2 Instance Rebalance Recommendation';

/** The envelope every EventBridge event from EC2 shares. */
interface Ec2EventEnvelope {
  /** Always `'0'` for events on an event bus. */
  readonly version: '0';
  /** A version 4 UUID, unique per event (a duplicate delivery repeats it). */
  readonly id: string;
  readonly source: 'aws.ec2';
  /** The 12-digit account that owns the instance. */
  readonly account: string;
  /** When EC2 emitted the event: ISO-8601 in UTC to the second, e.g. `2021-11-11T21:29:54Z`. */
  readonly time: string;
  readonly region: string;
  readonly resources: readonly string[];
}

/**
 * The `EC2 Spot Instance Interruption Warning`, two minutes before EC2 interrupts the instance.
 * Its `resources` ARN has EC2's documented interruption-event format,
 * `arn:aws:ec2:{availability-zone}:instance/{instance-id}` (no account, a zone for a region), which
 * differs from the usual instance ARN: read `detail['instance-id']`, never parse the ARN.
 */
export interface SpotInterruptionWarningEvent extends Ec2EventEnvelope {
  readonly 'detail-type': typeof SPOT_INTERRUPTION_DETAIL_TYPE;
  readonly detail: {
    readonly 'instance-id': string;
    /** What EC2 will do: `terminate` for a runner (its launch template's interruption behaviour). */
    readonly 'instance-action': 'terminate' | 'stop' | 'hibernate';
  };
}

/**
 * The `EC2 Instance Rebalance Recommendation`: the instance is at elevated risk of interruption. It
 * may come well before, together with, or without an interruption warning; nothing else happens.
 */
export interface RebalanceRecommendationEvent extends Ec2EventEnvelope {
  readonly 'detail-type': typeof REBALANCE_RECOMMENDATION_DETAIL_TYPE;
  readonly detail: { readonly 'instance-id': string };
}

/** Any event the emulator emits; tell them apart by `detail-type` (see {@link isStateChangeEvent}). */
export type Ec2Event = StateChangeEvent | SpotInterruptionWarningEvent | RebalanceRecommendationEvent;

/** Whether an event is an instance state-change notification (the others carry no `state`). */
export function isStateChangeEvent(event: Ec2Event): event is StateChangeEvent {
  return event['detail-type'] === STATE_CHANGE_DETAIL_TYPE;
}

/**
 * One `EC2 Instance State-change Notification`, exactly as an EventBridge rule's target receives it.
 *
 * Delivery caveats consumers must be written for: EventBridge does not guarantee order, and AWS
 * service events are delivered at least once (or, for best-effort services, possibly not at all),
 * so a handler must not rely on the order of events, must tolerate duplicates, and must not rely on
 * any event arriving (a reconciler that reads DescribeInstances covers the gap). The emulator's
 * outbox ({@link Ec2Emulator.takeEvents}) keeps emission order so tests are deterministic; a test
 * of that tolerance reorders or duplicates the events itself.
 */
export interface StateChangeEvent {
  /** Always `'0'` for events on an event bus. */
  readonly version: '0';
  /** A version 4 UUID, unique per event (a duplicate delivery repeats it). */
  readonly id: string;
  readonly 'detail-type': typeof STATE_CHANGE_DETAIL_TYPE;
  readonly source: 'aws.ec2';
  /** The 12-digit account that owns the instance. */
  readonly account: string;
  /** When the state changed: ISO-8601 in UTC to the second, e.g. `2021-11-11T21:29:54Z`. */
  readonly time: string;
  readonly region: string;
  /** The instance's ARN, e.g. `arn:aws:ec2:us-east-1:123456789012:instance/i-0abc...`. */
  readonly resources: readonly string[];
  readonly detail: {
    readonly 'instance-id': string;
    /** The state the instance entered. */
    readonly state: InstanceStateName;
  };
}

/** The ARN partition of a region: `aws-cn` in China, `aws-us-gov` in GovCloud, else `aws`. */
export function partitionOf(region: string): string {
  if (region.startsWith('cn-')) return 'aws-cn';
  if (region.startsWith('us-gov-')) return 'aws-us-gov';
  return 'aws';
}

/** The ARN EC2 puts in `resources` for an instance. */
export function instanceArn(region: string, account: string, instanceId: string): string {
  return `arn:${partitionOf(region)}:ec2:${region}:${account}:instance/${instanceId}`;
}

/** EventBridge's `time`: ISO-8601 UTC without fractional seconds. */
export function eventTime(epochMs: number): string {
  return new Date(epochMs).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Builds the event for `instanceId` entering `state` at `epochMs`. */
export function stateChangeEvent(input: {
  readonly region: string;
  readonly account: string;
  readonly instanceId: string;
  readonly state: InstanceStateName;
  readonly epochMs: number;
}): StateChangeEvent {
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': STATE_CHANGE_DETAIL_TYPE,
    source: 'aws.ec2',
    account: input.account,
    time: eventTime(input.epochMs),
    region: input.region,
    resources: [instanceArn(input.region, input.account, input.instanceId)],
    detail: { 'instance-id': input.instanceId, state: input.state },
  };
}

/** The envelope of an event EC2 emits now about `resource` (ids and times as EventBridge writes them). */
function envelope(region: string, account: string, resource: string): Ec2EventEnvelope {
  return {
    version: '0',
    id: randomUUID(),
    source: 'aws.ec2',
    account,
    time: eventTime(Date.now()),
    region,
    resources: [resource],
  };
}

/** The ARN an interruption warning names its instance by: a zone and no account, as EC2 documents. */
export function interruptionInstanceArn(
  region: string,
  availabilityZone: string,
  instanceId: string,
): string {
  return `arn:${partitionOf(region)}:ec2:${availabilityZone}:instance/${instanceId}`;
}

/**
 * The events the emulator emitted that the test has not taken yet, oldest first. Times are
 * `Date.now()` when recorded, so a test's patched clock shows.
 */
export class Ec2EventOutbox {
  private readonly events: Ec2Event[] = [];

  constructor(
    private readonly region: string,
    private readonly account: string,
  ) {}

  /** Records `instanceId` entering `state` now. */
  record(instanceId: string, state: InstanceStateName): void {
    this.events.push(
      stateChangeEvent({
        region: this.region,
        account: this.account,
        instanceId,
        state,
        epochMs: Date.now(),
      }),
    );
  }

  /** Records the two-minute warning that EC2 will terminate the spot instance `instanceId`. */
  recordInterruptionWarning(instanceId: string, availabilityZone: string): void {
    const { version, id, source, account, time, region, resources } = envelope(
      this.region,
      this.account,
      interruptionInstanceArn(this.region, availabilityZone, instanceId),
    );
    // Field order as EC2's example event, so a JSON snapshot reads like the documentation's.
    this.events.push({
      version,
      id,
      'detail-type': SPOT_INTERRUPTION_DETAIL_TYPE,
      source,
      account,
      time,
      region,
      resources,
      detail: { 'instance-id': instanceId, 'instance-action': 'terminate' },
    });
  }

  /** Records a rebalance recommendation for the spot instance `instanceId`. */
  recordRebalanceRecommendation(instanceId: string): void {
    const { version, id, source, account, time, region, resources } = envelope(
      this.region,
      this.account,
      instanceArn(this.region, this.account, instanceId),
    );
    this.events.push({
      version,
      id,
      'detail-type': REBALANCE_RECOMMENDATION_DETAIL_TYPE,
      source,
      account,
      time,
      region,
      resources,
      detail: { 'instance-id': instanceId },
    });
  }

  /** Removes and returns every recorded event, in emission order. */
  take(): Ec2Event[] {
    return this.events.splice(0, this.events.length);
  }
}
