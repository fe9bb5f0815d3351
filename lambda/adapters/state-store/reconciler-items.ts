/**
 * The reconciler's own items: a run lease, so that two overlapping runs never act on the same
 * things, and the registry of runner scopes in use (so registrations are listed in every scope
 * that may hold ours, also after the jobs that used it became final).
 */
import {
  AttributeValue,
  DeleteItemCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
} from '@aws-sdk/client-dynamodb';
import { PARTITION_KEY, TTL_ATTRIBUTE } from '../../core/state-schema';
import { ifConditionHolds, N, S, ttl } from './items';

const LEASE_KEY = 'reconciler#lease';
const SCOPES_KEY = 'reconciler#scopes';
const DELIVERIES_KEY = 'reconciler#deliveries';

/** Where the redelivery scan got to. */
export interface DeliveryCheckpoint {
  /** Epoch ms of the newest delivery seen by the last scan. */
  readonly seenUntil: number;
  /** Deliveries the last runs asked GitHub to redeliver (their new attempt may not be listed yet). */
  readonly redelivered: readonly number[];
}

/** A runner scope (an organization or a repository) and the installation that reaches it. */
export interface KnownScope {
  /** `org:{org}` or `repo:{owner}/{repo}`. */
  readonly scope: string;
  readonly installationId: number;
  /** Epoch ms of the last job seen in it. */
  readonly lastSeen: number;
}

/** The reconciler's items of one table. */
export class ReconcilerItems {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
  ) {}

  /** Takes the run lease until `now + ms`. False when another run holds it. */
  async acquireLease(owner: string, now: number, ms: number): Promise<boolean> {
    const done = await ifConditionHolds(() =>
      this.client.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: {
            [PARTITION_KEY]: S(LEASE_KEY),
            kind: S('reconciler'),
            leaseOwner: S(owner),
            leaseUntil: N(now + ms),
            [TTL_ATTRIBUTE]: ttl(now, 86_400),
          },
          ConditionExpression: 'attribute_not_exists(#pk) OR leaseUntil < :now',
          ExpressionAttributeNames: { '#pk': PARTITION_KEY },
          ExpressionAttributeValues: { ':now': N(now) },
        }),
      ),
    );
    return done !== undefined;
  }

  /** Gives the run lease back (only if still ours). */
  async releaseLease(owner: string): Promise<void> {
    await ifConditionHolds(() =>
      this.client.send(
        new DeleteItemCommand({
          TableName: this.tableName,
          Key: { [PARTITION_KEY]: S(LEASE_KEY) },
          ConditionExpression: 'leaseOwner = :me',
          ExpressionAttributeValues: { ':me': S(owner) },
        }),
      ),
    );
  }

  /** The scopes seen recently. */
  async scopes(): Promise<KnownScope[]> {
    const out = await this.client.send(
      new GetItemCommand({
        TableName: this.tableName,
        Key: { [PARTITION_KEY]: S(SCOPES_KEY) },
        ConsistentRead: true,
      }),
    );
    const map = out.Item?.scopes?.M ?? {};
    return Object.entries(map).map(([scope, v]) => ({
      scope,
      installationId: Number(v.M?.installationId?.N ?? 0),
      lastSeen: Number(v.M?.lastSeen?.N ?? 0),
    }));
  }

  /** Replaces the registry (one small item: one entry per organization or repository in use). */
  async saveScopes(scopes: readonly KnownScope[], now: number): Promise<void> {
    const map: Record<string, AttributeValue> = {};
    for (const s of scopes)
      map[s.scope] = { M: { installationId: N(s.installationId), lastSeen: N(s.lastSeen) } };
    await this.client.send(
      new PutItemCommand({
        TableName: this.tableName,
        Item: {
          [PARTITION_KEY]: S(SCOPES_KEY),
          kind: S('reconciler'),
          scopes: { M: map },
          [TTL_ATTRIBUTE]: ttl(now, 14 * 86_400),
        },
      }),
    );
  }

  /** The redelivery scan's checkpoint, if a scan ever ran. */
  async deliveryCheckpoint(): Promise<DeliveryCheckpoint | undefined> {
    const out = await this.client.send(
      new GetItemCommand({
        TableName: this.tableName,
        Key: { [PARTITION_KEY]: S(DELIVERIES_KEY) },
        ConsistentRead: true,
      }),
    );
    if (!out.Item) return undefined;
    return {
      seenUntil: Number(out.Item.seenUntil?.N ?? 0),
      redelivered: (out.Item.redelivered?.L ?? []).map((v) => Number(v.N)),
    };
  }

  /** Saves the redelivery scan's checkpoint. */
  async saveDeliveryCheckpoint(checkpoint: DeliveryCheckpoint, now: number): Promise<void> {
    await this.client.send(
      new PutItemCommand({
        TableName: this.tableName,
        Item: {
          [PARTITION_KEY]: S(DELIVERIES_KEY),
          kind: S('reconciler'),
          seenUntil: N(checkpoint.seenUntil),
          redelivered: { L: checkpoint.redelivered.slice(-200).map((id) => N(id)) },
          [TTL_ATTRIBUTE]: ttl(now, 14 * 86_400),
        },
      }),
    );
  }
}
