/**
 * Customer-managed KMS keys: the grants the control plane and the runners need on the key of the
 * runners' EBS volumes and on the key of the construct's own data (state table, log groups, generated
 * secret), and the key policy statement CloudWatch Logs needs to encrypt a log group.
 */
import { Aws, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';

/**
 * The ARN of the Spot service-linked role, which launches spot instances and so must be able to use the
 * key of their EBS volumes (a grant or the key policy; see the README, "Customer-managed KMS keys").
 */
export function spotServiceLinkedRoleArn(): string {
  return `arn:${Aws.PARTITION}:iam::${Aws.ACCOUNT_ID}:role/aws-service-role/spot.amazonaws.com/AWSServiceRoleForEC2Spot`;
}

/** The KMS operations EC2 performs with the launching principal's rights to create and attach an encrypted volume. */
export const EBS_KEY_ACTIONS = [
  'kms:Decrypt',
  'kms:DescribeKey',
  'kms:GenerateDataKeyWithoutPlaintext',
  'kms:ReEncryptFrom',
  'kms:ReEncryptTo',
];

/**
 * Allows a launching principal to have EC2 use an EBS key: the key operations, and a grant for the
 * instance's volumes (EC2 creates it; `kms:GrantIsForAWSResource` keeps the grant for AWS resources). Both
 * only through EC2 (`kms:ViaService`). With an imported key the key policy must allow IAM policies of the
 * account (the default key policy does).
 */
export function grantEbsKeyUse(key: kms.IKey, grantee: iam.IGrantable): void {
  const viaEc2 = { 'kms:ViaService': `ec2.${Aws.REGION}.${Aws.URL_SUFFIX}` };
  grantee.grantPrincipal.addToPrincipalPolicy(
    new iam.PolicyStatement({
      sid: 'UseEbsKeyViaEc2',
      actions: EBS_KEY_ACTIONS,
      resources: [key.keyArn],
      conditions: { StringEquals: viaEc2 },
    }),
  );
  grantee.grantPrincipal.addToPrincipalPolicy(
    new iam.PolicyStatement({
      sid: 'GrantEbsKeyToVolumes',
      actions: ['kms:CreateGrant'],
      resources: [key.keyArn],
      conditions: { StringEquals: viaEc2, Bool: { 'kms:GrantIsForAWSResource': 'true' } },
    }),
  );
}

/** Allows a principal to read and write data (DynamoDB items, secrets) encrypted with the construct's data key. */
export function grantDataKeyReadWrite(key: kms.IKey, grantee: iam.IGrantable): iam.Grant {
  return key.grant(grantee, 'kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey', 'kms:DescribeKey');
}

/**
 * Lets CloudWatch Logs of this region use the key for this account's log groups, when the key belongs to
 * the stack (an imported key's policy is its owner's to change: the README says what it needs).
 * @returns whether the statement was added
 */
export function allowLogsToUseKey(key: kms.IKey): boolean {
  const stack = Stack.of(key);
  return key.addToResourcePolicy(
    new iam.PolicyStatement({
      sid: 'AllowCloudWatchLogsOfThisAccount',
      principals: [new iam.ServicePrincipal(`logs.${stack.region}.${stack.urlSuffix}`)],
      actions: ['kms:Encrypt*', 'kms:Decrypt*', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:Describe*'],
      resources: ['*'],
      conditions: {
        ArnLike: {
          'kms:EncryptionContext:aws:logs:arn': `arn:${Aws.PARTITION}:logs:${stack.region}:${stack.account}:log-group:*`,
        },
      },
    }),
  ).statementAdded;
}
