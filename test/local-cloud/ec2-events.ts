// The EventBridge side of the EC2 emulator: every instance state change the emulator makes becomes
// an `EC2 Instance State-change Notification`, shaped as EC2 sends it to the default event bus
// (EC2 User Guide, "State change events for Amazon EC2 instances"; the envelope fields are
// EventBridge's "Event structure" reference).
import { randomUUID } from 'crypto';
import type { InstanceStateName } from './ec2-instances';

/** The `detail-type` EC2 gives instance state-change events. */
export const STATE_CHANGE_DETAIL_TYPE = 'EC2 Instance State-change Notification';

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

/** The events the emulator emitted that the test has not taken yet, oldest first. */
export class StateChangeOutbox {
  private readonly events: StateChangeEvent[] = [];

  constructor(
    private readonly region: string,
    private readonly account: string,
  ) {}

  /** Records `instanceId` entering `state` now (`Date.now()`, so a test's patched clock shows). */
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

  /** Removes and returns every recorded event, in emission order. */
  take(): StateChangeEvent[] {
    return this.events.splice(0, this.events.length);
  }
}
