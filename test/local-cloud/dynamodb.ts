/**
 * DynamoDB for tests: a real dynalite server on 127.0.0.1 and the state table built from the same
 * schema constants the construct uses.
 */
import { AddressInfo } from 'node:net';
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  LIVE_INDEX,
  LIVE_INDEX_PARTITION_KEY,
  LIVE_INDEX_SORT_KEY,
  PARTITION_KEY,
  PENDING_INDEX,
  PENDING_INDEX_PARTITION_KEY,
  PENDING_INDEX_SORT_KEY,
} from '../../lambda/core/state-schema';

// dynalite ships no type declarations.
const dynalite = require('dynalite') as (options: {
  createTableMs: number;
  deleteTableMs: number;
  updateTableMs: number;
}) => import('node:http').Server;

/** A running dynalite server. */
export interface LocalDynamo {
  readonly endpoint: string;
  readonly client: DynamoDBClient;
  stop(): Promise<void>;
}

/** Starts dynalite (in memory) on a free loopback port. */
export async function startDynamo(): Promise<LocalDynamo> {
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const client = new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
  return {
    endpoint,
    client,
    stop: async () => {
      client.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * The state table's keys and index, as the construct must synthesize them (the construct tests
 * assert the template against this) and as dynalite gets them here: the local table is the deployed one.
 */
export const STATE_TABLE_KEYS = {
  AttributeDefinitions: [
    { AttributeName: PARTITION_KEY, AttributeType: 'S' },
    { AttributeName: PENDING_INDEX_PARTITION_KEY, AttributeType: 'S' },
    { AttributeName: PENDING_INDEX_SORT_KEY, AttributeType: 'N' },
    { AttributeName: LIVE_INDEX_PARTITION_KEY, AttributeType: 'S' },
    { AttributeName: LIVE_INDEX_SORT_KEY, AttributeType: 'N' },
  ],
  KeySchema: [{ AttributeName: PARTITION_KEY, KeyType: 'HASH' }],
  GlobalSecondaryIndexes: [
    {
      IndexName: PENDING_INDEX,
      KeySchema: [
        { AttributeName: PENDING_INDEX_PARTITION_KEY, KeyType: 'HASH' },
        { AttributeName: PENDING_INDEX_SORT_KEY, KeyType: 'RANGE' },
      ],
      Projection: { ProjectionType: 'ALL' },
    },
    {
      IndexName: LIVE_INDEX,
      KeySchema: [
        { AttributeName: LIVE_INDEX_PARTITION_KEY, KeyType: 'HASH' },
        { AttributeName: LIVE_INDEX_SORT_KEY, KeyType: 'RANGE' },
      ],
      Projection: { ProjectionType: 'ALL' },
    },
  ],
} as const;

/** Creates the state table with {@link STATE_TABLE_KEYS}. */
export async function createStateTable(client: DynamoDBClient, tableName: string): Promise<void> {
  await client.send(
    new CreateTableCommand({
      TableName: tableName,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [...STATE_TABLE_KEYS.AttributeDefinitions],
      KeySchema: [...STATE_TABLE_KEYS.KeySchema],
      GlobalSecondaryIndexes: STATE_TABLE_KEYS.GlobalSecondaryIndexes.map((g) => ({
        ...g,
        KeySchema: [...g.KeySchema],
      })),
    }),
  );
}
