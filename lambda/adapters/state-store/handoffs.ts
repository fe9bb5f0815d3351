/**
 * JIT handoff items: one per instance, keyed by the instance's ARN, readable (once) only by that
 * instance (see `grantOwnHandoff` in lib/state-table.ts).
 */
import { DeleteItemCommand, DynamoDBClient, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import {
  HANDOFF_JIT_ATTRIBUTE,
  HANDOFF_TTL_SECONDS,
  PARTITION_KEY,
  TTL_ATTRIBUTE,
} from '../../core/state-schema';
import { S, ttl } from './items';

/** The handoff items of one table. */
export class Handoffs {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
  ) {}

  /** Stores the JIT config of one instance. */
  async put(instanceArn: string, encodedJitConfig: string, now: number): Promise<void> {
    await this.client.send(
      new PutItemCommand({
        TableName: this.tableName,
        Item: {
          [PARTITION_KEY]: S(instanceArn),
          kind: S('handoff'),
          [HANDOFF_JIT_ATTRIBUTE]: S(encodedJitConfig),
          [TTL_ATTRIBUTE]: ttl(now, HANDOFF_TTL_SECONDS),
        },
      }),
    );
  }

  /**
   * Whether an instance's handoff item is still there (written and not yet read by the instance).
   * Reads only the key, never the JIT config.
   */
  async exists(instanceArn: string): Promise<boolean> {
    const out = await this.client.send(
      new GetItemCommand({
        TableName: this.tableName,
        Key: { [PARTITION_KEY]: S(instanceArn) },
        ProjectionExpression: '#pk',
        ExpressionAttributeNames: { '#pk': PARTITION_KEY },
        ConsistentRead: true,
      }),
    );
    return out.Item !== undefined;
  }

  /** Removes an instance's handoff item (its launch was abandoned). */
  async delete(instanceArn: string): Promise<void> {
    await this.client.send(
      new DeleteItemCommand({ TableName: this.tableName, Key: { [PARTITION_KEY]: S(instanceArn) } }),
    );
  }
}
