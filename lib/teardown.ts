/**
 * The removal of a deployment: a custom resource whose function, when the stack is deleted (or the
 * construct leaves it), terminates the instances this deployment launched and deletes its runner
 * registrations. Neither is a CloudFormation resource; left behind, the instances would run on (billed)
 * and keep the security group and the VPC from being deleted.
 */
import { CustomResource, Duration } from 'aws-cdk-lib';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct, type IDependable } from 'constructs';

/** How long the removal function may run; it answers CloudFormation 20 seconds before. */
export const TEARDOWN_FUNCTION_TIMEOUT = Duration.minutes(4);

/** Props of {@link DeploymentTeardown}. */
export interface DeploymentTeardownProps {
  /** The removal function (the `teardown` handler). */
  readonly handler: lambda.IFunction;
  /**
   * What must outlive the removal (deleted after it): the fleet, its VPC, the state table. Everything
   * that launches (webhook, retry, reconciler) is made to depend on the custom resource instead, so that
   * it is deleted before the removal starts.
   */
  readonly deleteAfter: IDependable[];
}

/** The removal custom resource. */
export class DeploymentTeardown extends Construct {
  /** The custom resource. */
  public readonly resource: CustomResource;

  constructor(scope: Construct, id: string, props: DeploymentTeardownProps) {
    super(scope, id);
    this.resource = new CustomResource(this, 'Resource', {
      serviceToken: props.handler.functionArn,
      resourceType: 'Custom::EphemeralRunnersTeardown',
      // The function always answers before its own timeout; should it not (a crash), CloudFormation stops
      // waiting a little after, instead of the default hour.
      serviceTimeout: TEARDOWN_FUNCTION_TIMEOUT.plus(Duration.minutes(1)),
    });
    for (const d of props.deleteAfter) this.resource.node.addDependency(d);
  }

  /** Makes a launching resource deleted before the removal runs (and created after the custom resource). */
  public deleteBefore(...launchers: Array<IDependable & { readonly node: Construct['node'] }>): void {
    for (const l of launchers) l.node.addDependency(this.resource);
  }
}
