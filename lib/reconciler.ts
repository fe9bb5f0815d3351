/**
 * What runs the reconciler Lambda: a schedule (the level-triggered pass that compares job records,
 * instances and runner registrations and repairs the difference) and the EC2 state changes that tell
 * a record at once that its instance is going away.
 */
import { Duration, Tokenization } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';

/** Default of `reconcileInterval`. */
export const DEFAULT_RECONCILE_INTERVAL = Duration.minutes(2);
/** Default of `bootTimeout`. */
export const DEFAULT_BOOT_TIMEOUT = Duration.minutes(10);
/** Default of `idleTimeout`. */
export const DEFAULT_IDLE_TIMEOUT = Duration.minutes(10);
/** Default of `redeliveryLookback`. */
export const DEFAULT_REDELIVERY_LOOKBACK = Duration.hours(1);

/** The reconciler's timing props, as `EphemeralRunnersProps` has them. */
export interface ReconcilerTimings {
  readonly reconcileInterval?: Duration;
  readonly bootTimeout?: Duration;
  readonly idleTimeout?: Duration;
  readonly redeliveryLookback?: Duration;
}

/**
 * What is wrong with the reconciler's timing props, each problem naming the prop and the fix. Literal
 * values are checked against their ranges; tokens only for the unit CloudFormation needs them in.
 */
export function reconcilerTimingProblems(t: ReconcilerTimings): string[] {
  const problems: string[] = [];
  const interval = t.reconcileInterval;
  if (interval !== undefined) {
    if (interval.isUnresolved()) {
      if (interval.unitLabel() !== 'minutes')
        problems.push(
          'reconcileInterval from a token must be given in minutes, Duration.minutes(token): EventBridge rates are whole minutes',
        );
    } else {
      const minutes = interval.toMinutes({ integral: false });
      if (!(Number.isInteger(minutes) && minutes >= 1 && minutes <= 60))
        problems.push(
          `reconcileInterval ${interval.toHumanString()} must be whole minutes between 1 minute and 1 hour: stuck instances and ghost registrations wait up to one interval to be cleaned up`,
        );
    }
  }
  const timeout = (prop: string, d: Duration | undefined, min: number, max: number, why: string): void => {
    if (d === undefined) return;
    if (d.isUnresolved()) {
      if (d.unitLabel() !== 'seconds')
        problems.push(
          `${prop} from a token must be given in seconds, Duration.seconds(token): CloudFormation cannot convert it`,
        );
      return;
    }
    const seconds = d.toSeconds({ integral: false });
    if (!(Number.isInteger(seconds) && seconds >= min * 60 && seconds <= max * 60))
      problems.push(
        `${prop} ${d.toHumanString()} must be whole seconds between ${Duration.minutes(min).toHumanString()} and ${Duration.minutes(max).toHumanString()}: ${why}`,
      );
  };
  timeout(
    'bootTimeout',
    t.bootTimeout,
    2,
    60,
    'on the first deploy a runner installs the actions runner at boot, which must fit, and a runner not online after an hour never will be',
  );
  timeout(
    'idleTimeout',
    t.idleTimeout,
    1,
    120,
    "it is counted from the instance's launch; a shorter one may reap a runner before its job reaches it, a longer one bills an unused instance",
  );
  timeout(
    'redeliveryLookback',
    t.redeliveryLookback,
    1,
    3 * 24 * 60,
    'GitHub keeps deliveries for 3 days (7 on GHES) and redelivers none older',
  );
  return problems;
}

/** A timeout prop as the Lambdas' environment has it: whole seconds (tokens must be in seconds). */
export function timeoutSecondsSetting(d: Duration): string {
  return d.isUnresolved() ? Tokenization.stringifyNumber(d.toSeconds()) : String(d.toSeconds());
}

/**
 * The reconciler function's timeout: a run must end before the next one starts, so the interval less
 * 10 seconds, at most 5 minutes (a run that long is stuck, not busy), at least 60 seconds (which a
 * token interval, at least a minute, gets).
 */
export function reconcileFunctionTimeout(interval: Duration): Duration {
  if (interval.isUnresolved()) return Duration.seconds(60);
  const seconds = Math.min(interval.toSeconds() - 10, 5 * 60);
  return Duration.seconds(Math.max(seconds, 60));
}

/** The instance states that end a runner: the state-change rule forwards only these. */
export const ENDING_INSTANCE_STATES = ['shutting-down', 'terminated'];

/** Props of {@link ReconcilerSchedule}. */
export interface ReconcilerScheduleProps {
  /** The reconciler function. */
  readonly handler: lambda.IFunction;
  /**
   * How often the reconciler runs (whole minutes).
   * @default Duration.minutes(2)
   */
  readonly interval?: Duration;
}

/**
 * Two EventBridge rules invoking the reconciler: one on a fixed rate, one on the default bus for EC2
 * instances shutting down or terminated. EventBridge cannot filter on tags, so the second sees every
 * instance of the account and region: the handler keeps only those carrying this deployment's owner tag.
 */
export class ReconcilerSchedule extends Construct {
  /** The schedule rule. */
  public readonly scheduleRule: events.Rule;
  /** The rule forwarding EC2 instance state changes (shutting-down, terminated). */
  public readonly stateChangeRule: events.Rule;

  constructor(scope: Construct, id: string, props: ReconcilerScheduleProps) {
    super(scope, id);
    const interval = props.interval ?? DEFAULT_RECONCILE_INTERVAL;
    this.scheduleRule = new events.Rule(this, 'Schedule', {
      description: 'Runs the reconciler of cdk-ephemeral-runners',
      schedule: events.Schedule.rate(interval),
      // A missed run is not retried: the next one comes an interval later and does the same work, and
      // supersedes any event older than an interval (60 s, EventBridge's least, for a token interval).
      targets: [
        new targets.LambdaFunction(props.handler, {
          retryAttempts: 0,
          maxEventAge: interval.isUnresolved() ? Duration.minutes(1) : interval,
        }),
      ],
    });
    this.stateChangeRule = new events.Rule(this, 'InstanceStateChange', {
      description: 'EC2 instances shutting down or terminated, for the reconciler of cdk-ephemeral-runners',
      eventPattern: {
        source: ['aws.ec2'],
        detailType: ['EC2 Instance State-change Notification'],
        detail: { state: ENDING_INSTANCE_STATES },
      },
      // The event only hastens what the next scheduled run repairs anyway, so a few retries are enough
      // (a throttled or failed invocation); no dead-letter queue. One hour is about how long
      // DescribeInstances still shows a terminated instance: an older event could not even have its
      // owner tag checked.
      targets: [
        new targets.LambdaFunction(props.handler, { retryAttempts: 2, maxEventAge: Duration.hours(1) }),
      ],
    });
  }
}
