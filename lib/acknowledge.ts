/**
 * Acknowledging a validation finding (a cdk-nag AwsSolutions rule, a CloudFormation validation rule)
 * on a construct, with its reason, beside the code it covers.
 */
import * as cdk from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/** A finding acknowledged on a construct, and why. */
export interface Acknowledgement {
  /** The rule, as the plugin reports it (`AwsSolutions-IAM5[Resource::*]`, `CloudFormation-Validate::W2509`). */
  readonly id: string;
  /** Why the finding is accepted. */
  readonly reason: string;
}

type ValidationsApi = Pick<typeof cdk.Validations, 'of'>;

/**
 * Records the acknowledgement where policy-validation plugins (cdk-nag 3, CloudFormation
 * validation) read it: `Validations.of(scope).acknowledge()`, in aws-cdk-lib 2.255.0 and newer.
 * The library also supports older aws-cdk-lib releases (see `peerDependencies`), which have neither
 * that API nor those plugins: there, nothing is recorded.
 */
export function acknowledge(scope: IConstruct, finding: Acknowledgement): void {
  const validations = (cdk as { readonly Validations?: ValidationsApi }).Validations;
  validations?.of(scope).acknowledge(finding);
}
