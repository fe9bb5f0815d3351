/**
 * Spot interruptions and stolen runners: the props that shape them, their validation, their
 * settings for the Lambdas, and the EventBridge rules that send EC2's interruption warnings and
 * rebalance recommendations to the interruption Lambda.
 */
import { Duration, Token } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { bindingPatternProblems, prefixPatternSource } from '../lambda/core/binding-labels';
import { INTERRUPTION_DETAIL_TYPES } from '../lambda/core/interruption';
import { ENV } from '../lambda/core/settings';

/**
 * The spot circuit breaker of each `spotPreferred` config: `interruptions` spot interruptions within
 * `within` make the config launch on-demand for `openFor`; both edges are logged.
 */
export interface SpotCircuitBreakerProps {
  /** @default 2 */
  readonly interruptions?: number;
  /** @default Duration.minutes(15) */
  readonly within?: Duration;
  /** @default Duration.minutes(30) */
  readonly openFor?: Duration;
}

/**
 * Binding labels: a job label that matches is left out of routing and added to the labels of the
 * runner launched for that job, so no other runner can take the job. Give one of the two.
 */
export interface BindingLabelsProps {
  /** Labels that begin with this (case-insensitively), such as `bind-`. */
  readonly prefix?: string;
  /** A JavaScript regular expression (matched case-insensitively), such as `^bind-\\d+-`. */
  readonly pattern?: string;
}

/** The interruption props, as `EphemeralRunnersProps` has them. */
export interface InterruptionOptions {
  readonly rerunInterruptedJobs?: boolean;
  readonly replaceOnRebalance?: boolean;
  readonly spotCircuitBreaker?: SpotCircuitBreakerProps | false;
  readonly bindingLabels?: BindingLabelsProps;
}

/** The pattern source of the binding labels, or undefined. */
export function bindingPatternSource(b: BindingLabelsProps | undefined): string | undefined {
  if (!b) return undefined;
  if (b.prefix !== undefined) return prefixPatternSource(b.prefix);
  return b.pattern;
}

/** What is wrong with the interruption props, each problem naming the prop. */
export function interruptionProblems(
  o: InterruptionOptions,
  configs: readonly { readonly name: string; readonly labels: readonly string[] }[],
): string[] {
  const problems: string[] = [];
  const b = o.bindingLabels;
  if (b) {
    if ((b.prefix === undefined) === (b.pattern === undefined))
      problems.push('bindingLabels: give exactly one of prefix and pattern');
    else if (
      b.prefix !== undefined &&
      (Token.isUnresolved(b.prefix) || !/^[A-Za-z0-9._-]{1,64}$/.test(b.prefix))
    )
      problems.push(
        `bindingLabels.prefix "${b.prefix}" must be 1 to 64 letters, digits, ".", "_" or "-" (a literal, not a token)`,
      );
    else if (b.pattern !== undefined && Token.isUnresolved(b.pattern))
      problems.push(
        'bindingLabels.pattern must be a literal: it is checked against the configs at synthesis',
      );
    else problems.push(...bindingPatternProblems(bindingPatternSource(b)!, configs));
  }
  const cb = o.spotCircuitBreaker;
  if (cb) {
    if (
      cb.interruptions !== undefined &&
      !(Number.isInteger(cb.interruptions) && cb.interruptions >= 1 && cb.interruptions <= 100)
    )
      problems.push(
        `spotCircuitBreaker.interruptions ${cb.interruptions} must be a whole number from 1 to 100`,
      );
    for (const [prop, d] of [
      ['within', cb.within],
      ['openFor', cb.openFor],
    ] as const) {
      if (d === undefined) continue;
      if (d.isUnresolved()) problems.push(`spotCircuitBreaker.${prop} must be a literal duration`);
      else {
        const minutes = d.toMinutes({ integral: false });
        if (!(Number.isInteger(minutes) && minutes >= 1 && minutes <= 24 * 60))
          problems.push(
            `spotCircuitBreaker.${prop} ${d.toHumanString()} must be whole minutes from 1 minute to 24 hours`,
          );
      }
    }
  }
  return problems;
}

/** The Lambdas' environment for the interruption props. */
export function interruptionEnvironment(o: InterruptionOptions): Record<string, string> {
  const cb = o.spotCircuitBreaker;
  const env: Record<string, string> = {
    [ENV.rerunInterruptedJobs]: String(o.rerunInterruptedJobs ?? true),
    [ENV.replaceOnRebalance]: String(o.replaceOnRebalance ?? true),
    [ENV.spotCircuitBreaker]:
      cb === false
        ? 'off'
        : `${cb?.interruptions ?? 2}/${(cb?.within ?? Duration.minutes(15)).toMinutes()}/${(cb?.openFor ?? Duration.minutes(30)).toMinutes()}`,
  };
  const pattern = bindingPatternSource(o.bindingLabels);
  if (pattern !== undefined) env[ENV.bindingLabelPattern] = pattern;
  return env;
}

/** Props of {@link InterruptionRules}. */
export interface InterruptionRulesProps {
  /** The interruption function. */
  readonly handler: lambda.IFunction;
}

/**
 * EventBridge rules on the default bus for `EC2 Spot Instance Interruption Warning` and `EC2
 * Instance Rebalance Recommendation`. EventBridge cannot filter on tags, so they see every instance
 * of the account and region: the handler keeps only those carrying this deployment's owner tag.
 */
export class InterruptionRules extends Construct {
  public readonly rule: events.Rule;

  constructor(scope: Construct, id: string, props: InterruptionRulesProps) {
    super(scope, id);
    this.rule = new events.Rule(this, 'SpotSignals', {
      description: 'EC2 spot interruption warnings and rebalance recommendations, for cdk-ephemeral-runners',
      eventPattern: {
        source: ['aws.ec2'],
        detailType: Object.values(INTERRUPTION_DETAIL_TYPES),
      },
      // A warning comes two minutes before the instance goes: a retry later than that is of no use.
      targets: [
        new targets.LambdaFunction(props.handler, { retryAttempts: 2, maxEventAge: Duration.minutes(2) }),
      ],
    });
  }
}
