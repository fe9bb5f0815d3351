import * as cdk from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import * as cr from 'aws-cdk-lib/custom-resources';
import { LambdaNetwork } from './lambda-network';
import { Construct } from 'constructs';
import { RunnerArchitecture } from '../lambda/core/runner-config';
import { UbuntuVersion, canonicalAmiParameter, pascal } from './runner-image-recipe';
import { acknowledge } from './acknowledge';

/**
 * The first deploy, before any image exists: the AMI parameter starts as the stock Ubuntu AMI (the
 * boot script installs the runner when the AMI has none), and a build starts right away.
 */

/** The AwsCustomResource singleton Lambda's id (its uuid, fixed by aws-cdk-lib). */
const AWS_CUSTOM_RESOURCE_FUNCTION = 'AWS679f53fac002430cb0da5b7982bd2287';

/**
 * Creates the AMI parameter holding the stock Ubuntu AMI id, only if it does not exist, and never
 * touches it on update: from then on only Image Builder writes it. A CloudFormation-owned
 * AWS::SSM::Parameter would be rewritten to the stock AMI whenever its value in the template changed
 * (Canonical publishes a new AMI every few weeks), silently replacing the baked image.
 */
export function seedAmiParameter(
  scope: Construct,
  arch: RunnerArchitecture,
  parameter: { readonly name: string; readonly arn: string },
  ubuntuVersion: UbuntuVersion,
): cr.AwsCustomResource {
  // Resolved by CloudFormation at each deploy; a changed value updates the custom resource, whose
  // update does nothing.
  const stockAmi = ssm.StringParameter.valueForTypedStringParameterV2(
    scope,
    canonicalAmiParameter(ubuntuVersion, arch),
    ssm.ParameterValueType.AWS_EC2_IMAGE_ID,
  );
  const seed = new cr.AwsCustomResource(scope, `AmiParameter${pascal(arch)}`, {
    onCreate: {
      service: 'SSM',
      action: 'putParameter',
      parameters: {
        Name: parameter.name,
        Value: stockAmi,
        Type: 'String',
        DataType: 'aws:ec2:image',
        Overwrite: false,
        Description: `Current ephemeral runner AMI (${arch}); written by Image Builder`,
      },
      physicalResourceId: cr.PhysicalResourceId.of(parameter.name),
      ignoreErrorCodesMatching: 'ParameterAlreadyExists',
    },
    onDelete: {
      service: 'SSM',
      action: 'deleteParameter',
      parameters: { Name: parameter.name },
      ignoreErrorCodesMatching: 'ParameterNotFound',
    },
    policy: cr.AwsCustomResourcePolicy.fromStatements([
      new iam.PolicyStatement({
        actions: ['ssm:PutParameter', 'ssm:DeleteParameter'],
        resources: [parameter.arn],
      }),
      // SSM checks that an aws:ec2:image value names an AMI the caller can describe.
      new iam.PolicyStatement({ actions: ['ec2:DescribeImages'], resources: ['*'] }),
    ]),
    installLatestAwsSdk: false,
    // In the Lambdas' VPC when they are (lambdaVpc): no Lambda of the construct runs outside it.
    ...LambdaNetwork.find(scope)?.customResourcePlacement(),
  });
  acknowledge(seed, {
    id: 'AwsSolutions-IAM5[Resource::*]',
    reason:
      'ec2:DescribeImages supports no resource-level permissions; SSM calls it to check an aws:ec2:image value.',
  });
  acknowledgeCustomResourceFunction(scope);
  return seed;
}

/** Starts the pipeline once deployed, and again whenever the recipe (its version) changes. */
export function startBuildOnDeploy(
  scope: Construct,
  arch: RunnerArchitecture,
  pipelineArn: string,
  clientToken: string,
): void {
  const call: cr.AwsSdkCall = {
    service: 'imagebuilder',
    action: 'startImagePipelineExecution',
    parameters: { imagePipelineArn: pipelineArn, clientToken },
    physicalResourceId: cr.PhysicalResourceId.of(`${arch}-${clientToken}`),
  };
  new cr.AwsCustomResource(scope, `StartBuild${pascal(arch)}`, {
    onCreate: call,
    onUpdate: call,
    policy: cr.AwsCustomResourcePolicy.fromStatements([
      new iam.PolicyStatement({
        actions: ['imagebuilder:StartImagePipelineExecution'],
        resources: [pipelineArn],
      }),
    ]),
    installLatestAwsSdk: false,
    // In the Lambdas' VPC when they are (lambdaVpc): no Lambda of the construct runs outside it.
    ...LambdaNetwork.find(scope)?.customResourcePlacement(),
  });
  acknowledgeCustomResourceFunction(scope);
}

function acknowledgeCustomResourceFunction(scope: Construct): void {
  const fn = cdk.Stack.of(scope).node.tryFindChild(AWS_CUSTOM_RESOURCE_FUNCTION);
  if (!fn) return;
  acknowledge(fn, {
    id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
    reason: "aws-cdk-lib's AwsCustomResource function: it needs only to write its own logs.",
  });
  acknowledge(fn, {
    id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole]',
    reason:
      "aws-cdk-lib's AwsCustomResource function in the Lambdas' VPC (lambdaVpc): the policy lets it manage its network interfaces.",
  });
}
