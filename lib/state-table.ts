/**
 * The DynamoDB table holding the jobs' state and the JIT handoffs (key names in lambda/core/state-schema).
 */
import { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
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

/** Props of {@link StateTable}. */
export interface StateTableProps {
  /**
   * What happens to the table when it leaves the stack. With `RETAIN` the table also has deletion
   * protection on.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/** Read and write actions on items and queries, as `Table.grantReadWriteData` has them. */
const READ_WRITE_ACTIONS = [
  'dynamodb:BatchGetItem',
  'dynamodb:BatchWriteItem',
  'dynamodb:ConditionCheckItem',
  'dynamodb:DeleteItem',
  'dynamodb:DescribeTable',
  'dynamodb:GetItem',
  'dynamodb:PutItem',
  'dynamodb:Query',
  'dynamodb:Scan',
  'dynamodb:UpdateItem',
];

/**
 * On-demand table with point-in-time recovery, TTL, one string partition key and two sparse indexes: the
 * jobs pending a (re)try of their launch, and the job records that are not final (the reconciler's).
 */
export class StateTable extends Construct {
  /** The table. */
  public readonly table: dynamodb.Table;

  constructor(scope: Construct, id: string, props: StateTableProps = {}) {
    super(scope, id);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    this.table = new dynamodb.Table(this, 'Table', {
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
    return iam.Grant.addToPrincipal({
      grantee,
      actions: READ_WRITE_ACTIONS,
      resourceArns: [this.table.tableArn, ...[PENDING_INDEX, LIVE_INDEX].map((i) => this.indexArn(i))],
    });
  }

  private indexArn(indexName: string): string {
    return `${this.table.tableArn}/index/${indexName}`;
  }

  /**
   * Allows a runner instance to read and delete its own JIT handoff item, and no other: the item's key is
   * the instance's ARN, which instance-profile credentials carry as `ec2:SourceInstanceARN`.
   */
  public grantOwnHandoff(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: ['dynamodb:GetItem', 'dynamodb:DeleteItem'],
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
