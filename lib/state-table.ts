/**
 * The DynamoDB table holding the jobs' state and the JIT handoffs (key names in lambda/core/state-schema).
 */
import { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import {
  LIVE_INDEX,
  LIVE_INDEX_PARTITION_KEY,
  LIVE_INDEX_SORT_KEY,
  PARTITION_KEY,
  PENDING_INDEX,
  PENDING_INDEX_PARTITION_KEY,
  PENDING_INDEX_SORT_KEY,
  TTL_ATTRIBUTE,
} from '../lambda/core/state-schema';
import { grantDataKeyReadWrite } from './encryption';

/** Props of {@link StateTable}. */
export interface StateTableProps {
  /**
   * What happens to the table when it leaves the stack. With `RETAIN` the table also has deletion
   * protection on.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * A customer-managed key to encrypt the table with; the grants below include its use.
   * @default - the AWS-owned key of DynamoDB
   */
  readonly encryptionKey?: kms.IKey;
}

/**
 * The item actions the control plane sends (lambda/adapters/state-store): no batch, scan, transaction or
 * describe call is made, so none is granted.
 */
const READ_WRITE_ACTIONS = [
  'dynamodb:DeleteItem',
  'dynamodb:GetItem',
  'dynamodb:PutItem',
  'dynamodb:Query',
  'dynamodb:UpdateItem',
];

/**
 * On-demand table with point-in-time recovery, TTL, one string partition key and two sparse indexes: the
 * jobs pending a (re)try of their launch, and the job records that are not final (the reconciler's).
 */
export class StateTable extends Construct {
  /** The table. */
  public readonly table: dynamodb.Table;
  private readonly encryptionKey?: kms.IKey;

  constructor(scope: Construct, id: string, props: StateTableProps = {}) {
    super(scope, id);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    this.encryptionKey = props.encryptionKey;
    this.table = new dynamodb.Table(this, 'Table', {
      ...(props.encryptionKey
        ? { encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED, encryptionKey: props.encryptionKey }
        : {}),
      partitionKey: { name: PARTITION_KEY, type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      timeToLiveAttribute: TTL_ATTRIBUTE,
      removalPolicy,
      deletionProtection: removalPolicy === RemovalPolicy.RETAIN,
    });
    this.table.addGlobalSecondaryIndex({
      indexName: PENDING_INDEX,
      partitionKey: { name: PENDING_INDEX_PARTITION_KEY, type: dynamodb.AttributeType.STRING },
      sortKey: { name: PENDING_INDEX_SORT_KEY, type: dynamodb.AttributeType.NUMBER },
      projectionType: dynamodb.ProjectionType.ALL,
    });
    // CloudFormation creates or deletes at most one GSI per table in one stack update: a release that
    // adds an index must add only one (this one came alone), or the update of existing stacks fails.
    this.table.addGlobalSecondaryIndex({
      indexName: LIVE_INDEX,
      partitionKey: { name: LIVE_INDEX_PARTITION_KEY, type: dynamodb.AttributeType.STRING },
      sortKey: { name: LIVE_INDEX_SORT_KEY, type: dynamodb.AttributeType.NUMBER },
      projectionType: dynamodb.ProjectionType.ALL,
    });
  }

  /** Allows the control plane to read and write any item and query both indexes (no wildcard). */
  public grantReadWriteData(grantee: iam.IGrantable): iam.Grant {
    if (this.encryptionKey) grantDataKeyReadWrite(this.encryptionKey, grantee);
    return iam.Grant.addToPrincipal({
      grantee,
      actions: READ_WRITE_ACTIONS,
      resourceArns: [this.table.tableArn, ...[PENDING_INDEX, LIVE_INDEX].map((i) => this.indexArn(i))],
    });
  }

  /**
   * Allows the removal function to read items and query the live records (it writes nothing): the
   * scopes the reconciler saw in use and the live jobs' repositories.
   */
  public grantReadRecords(grantee: iam.IGrantable): iam.Grant {
    if (this.encryptionKey) this.encryptionKey.grant(grantee, 'kms:Decrypt', 'kms:DescribeKey');
    return iam.Grant.addToPrincipal({
      grantee,
      actions: ['dynamodb:GetItem', 'dynamodb:Query'],
      resourceArns: [this.table.tableArn, this.indexArn(LIVE_INDEX)],
    });
  }

  private indexArn(indexName: string): string {
    return `${this.table.tableArn}/index/${indexName}`;
  }

  /**
   * Allows a runner instance to take (DeleteItem with ReturnValues ALL_OLD, the boot script's one call)
   * its own JIT handoff item, and no other: the item's key is the instance's ARN, which instance-profile
   * credentials carry as `ec2:SourceInstanceARN`.
   */
  public grantOwnHandoff(grantee: iam.IGrantable): iam.Grant {
    if (this.encryptionKey) grantDataKeyReadWrite(this.encryptionKey, grantee); // DeleteItem is a write
    return iam.Grant.addToPrincipal({
      grantee,
      actions: ['dynamodb:DeleteItem'],
      resourceArns: [this.table.tableArn],
      conditions: {
        // LeadingKeys is multivalued: ForAllValues makes every key of the request match; as ForAllValues
        // holds for an empty set, Null makes sure there is a key.
        'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': ['${ec2:SourceInstanceARN}'] },
        Null: { 'dynamodb:LeadingKeys': 'false' },
      },
    });
  }
}
