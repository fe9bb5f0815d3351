/**
 * The heartbeat of the control plane: the retry Lambda runs every minute to relaunch pending jobs and
 * recover what a failed delivery or a lost instance left behind.
 */
import { Duration } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';

/** Props of {@link RetrySchedule}. */
export interface RetryScheduleProps {
  /** The function to run. */
  readonly handler: lambda.IFunction;
  /**
   * How often it runs.
   * @default Duration.minutes(1)
   */
  readonly interval?: Duration;
}

/** An EventBridge rule invoking the retry Lambda on a fixed rate. */
export class RetrySchedule extends Construct {
  /** The schedule rule. */
  public readonly rule: events.Rule;

  constructor(scope: Construct, id: string, props: RetryScheduleProps) {
    super(scope, id);
    this.rule = new events.Rule(this, 'Rule', {
      description: 'Runs the retry handler of cdk-ephemeral-runners',
      schedule: events.Schedule.rate(props.interval ?? Duration.minutes(1)),
      // A missed run is not retried: the next one comes a minute later and does the same work.
      targets: [
        new targets.LambdaFunction(props.handler, { retryAttempts: 0, maxEventAge: Duration.minutes(1) }),
      ],
    });
  }
}
