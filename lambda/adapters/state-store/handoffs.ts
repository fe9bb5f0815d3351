/**
 * JIT handoff items: one per instance, keyed by the instance's ARN, readable (once) only by that
 * instance (see `grantOwnHandoff` in lib/state-table.ts).
 */
import { DynamoDBClient, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import {
  HANDOFF_JIT_ATTRIBUTE,
  HANDOFF_TTL_SECONDS,
  PARTITION_KEY,
  TTL_ATTRIBUTE,
} from '../../core/state-schema';
import { ifConditionHolds, S, ttl } from './items';

/** The handoff items of one table. */
export class Handoffs {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
  ) {}

  /**
   * Stores the JIT config of one instance, unless its slot was voided (the instance was given up):
   * a handoff that lands after its launch was undone never leaves a JIT config behind. A retry of a
   * write that landed finds its own config there, which counts as written.
   * @returns false when the slot was voided.
   */
  async put(instanceArn: string, encodedJitConfig: string, now: number): Promise<boolean> {
    const done = await ifConditionHolds(() =>
      this.client.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: {
            [PARTITION_KEY]: S(instanceArn),
            kind: S('handoff'),
            [HANDOFF_JIT_ATTRIBUTE]: S(encodedJitConfig),
            [TTL_ATTRIBUTE]: ttl(now, HANDOFF_TTL_SECONDS),
          },
          ConditionExpression: 'attribute_not_exists(#pk) OR #jit = :jit',
          ExpressionAttributeNames: { '#pk': PARTITION_KEY, '#jit': HANDOFF_JIT_ATTRIBUTE },
          ExpressionAttributeValues: { ':jit': S(encodedJitConfig) },
        }),
      ),
    );
    return done !== undefined;
  }

  /**
   * Voids an instance's handoff slot: any JIT config there is replaced by a tombstone without one
   * (it expires by TTL), and a handoff still in flight can no longer land. Used whenever an instance
   * is given up before its launch was recorded.
   */
  async void(instanceArn: string, now: number): Promise<void> {
    await this.client.send(
      new PutItemCommand({
        TableName: this.tableName,
        Item: {
          [PARTITION_KEY]: S(instanceArn),
          kind: S('handoff-void'),
          [TTL_ATTRIBUTE]: ttl(now, HANDOFF_TTL_SECONDS),
        },
      }),
    );
  }

  /**
   * Whether an instance's JIT config is still there (written and not yet read by the instance).
   * Reads only the item's kind, never the JIT config.
   */
  async exists(instanceArn: string): Promise<boolean> {
    const out = await this.client.send(
      new GetItemCommand({
        TableName: this.tableName,
        Key: { [PARTITION_KEY]: S(instanceArn) },
        ProjectionExpression: 'kind',
        ConsistentRead: true,
      }),
    );
    return out.Item?.kind?.S === 'handoff';
  }
}
