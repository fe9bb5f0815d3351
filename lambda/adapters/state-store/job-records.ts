/**
 * The one state store: job records and JIT handoff items in the DynamoDB state table. Every write
 * that guards exactly-once behaviour is a single-item conditional write (no transactions).
 */
import {
  AttributeValue,
  ConditionalCheckFailedException,
  DeleteItemCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { JobKey, jobPartitionKey } from '../core/job-key';
import { JOB_RECORD_TTL_SECONDS, JobStatus } from '../core/job-status';
import {
  HANDOFF_JIT_ATTRIBUTE,
  HANDOFF_TTL_SECONDS,
  PARTITION_KEY,
  PENDING_INDEX,
  PENDING_INDEX_PARTITION_KEY,
  PENDING_INDEX_SORT_KEY,
  PENDING_INDEX_VALUE,
  TTL_ATTRIBUTE,
} from '../core/state-schema';

/** What a new job record holds. */
export interface NewJob {
  readonly key: JobKey;
  readonly runId: number;
  readonly repository: string;
  readonly installationId: number;
  readonly labels: readonly string[];
  readonly configName: string;
  readonly deliveryId: string;
}

/** A job record as stored. */
export interface JobRecord extends NewJob {
  readonly status: JobStatus;
  readonly createdAt: number;
  readonly launchAttempts: number;
  readonly leaseOwner?: string;
  readonly leaseUntil?: number;
  readonly nextAttemptAt?: number;
  readonly lastError?: string;
  readonly instanceId?: string;
  readonly runnerName?: string;
  readonly runnerId?: number;
  readonly market?: string;
  readonly takenByRunner?: string;
  readonly conclusion?: string;
}

/** Where a launch ended up, written by the lease owner. */
export interface LaunchRecord {
  readonly instanceId: string;
  readonly runnerName: string;
  readonly runnerId: number;
  readonly market: string;
}

const S = (s: string): AttributeValue => ({ S: s });
const N = (n: number): AttributeValue => ({ N: String(n) });
const ttl = (now: number, seconds: number): AttributeValue => N(Math.floor(now / 1000) + seconds);

function isConditionFailure(e: unknown): boolean {
  return (
    e instanceof ConditionalCheckFailedException ||
    (e as { name?: string })?.name === 'ConditionalCheckFailedException'
  );
}

/**
 * Runs a conditional write; a failed condition (someone else got there first, or the job moved on)
 * is an answer, not an error: it resolves to undefined.
 */
async function ifConditionHolds<T>(write: () => Promise<T>): Promise<T | undefined> {
  try {
    return await write();
  } catch (e) {
    if (isConditionFailure(e)) return undefined;
    throw e;
  }
}

function fromItem(item: Record<string, AttributeValue>): JobRecord {
  const s = (k: string) => item[k]?.S;
  const n = (k: string) => (item[k]?.N !== undefined ? Number(item[k].N) : undefined);
  return {
    key: { host: s('host') ?? '', jobId: n('jobId') ?? 0, runAttempt: n('runAttempt') ?? 0 },
    runId: n('runId') ?? 0,
    repository: s('repository') ?? '',
    installationId: n('installationId') ?? 0,
    labels: item.labels?.L?.map((v) => v.S ?? '') ?? [],
    configName: s('configName') ?? '',
    deliveryId: s('deliveryId') ?? '',
    status: (s('status') ?? 'pending') as JobStatus,
    createdAt: n('createdAt') ?? 0,
    launchAttempts: n('launchAttempts') ?? 0,
    leaseOwner: s('leaseOwner'),
    leaseUntil: n('leaseUntil'),
    nextAttemptAt: n(PENDING_INDEX_SORT_KEY),
    lastError: s('lastError'),
    instanceId: s('instanceId'),
    runnerName: s('runnerName'),
    runnerId: n('runnerId'),
    market: s('market'),
    takenByRunner: s('takenByRunner'),
    conclusion: s('conclusion'),
  };
}

/** The state store of one table. */
export class StateStore {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
  ) {}

  /**
   * Claims a job for launching: creates its record in `launching` under a lease, unless a record
   * already exists (a redelivery, a duplicate `queued`, a concurrent delivery). A record left by
   * `waiting` is claimable. The lease's expiry doubles as the time the scheduled retry takes over
   * should this owner die, so the record is in the pending index from the start.
   * @returns true when this caller owns the job now.
   */
  async claimJob(job: NewJob, leaseOwner: string, now: number, leaseMs: number): Promise<boolean> {
    const item: Record<string, AttributeValue> = {
      [PARTITION_KEY]: S(jobPartitionKey(job.key)),
      kind: S('job'),
      host: S(job.key.host),
      jobId: N(job.key.jobId),
      runAttempt: N(job.key.runAttempt),
      runId: N(job.runId),
      repository: S(job.repository),
      installationId: N(job.installationId),
      labels: { L: job.labels.map(S) },
      configName: S(job.configName),
      deliveryId: S(job.deliveryId),
      status: S('launching'),
      createdAt: N(now),
      launchAttempts: N(1),
      leaseOwner: S(leaseOwner),
      leaseUntil: N(now + leaseMs),
      [PENDING_INDEX_PARTITION_KEY]: S(PENDING_INDEX_VALUE),
      [PENDING_INDEX_SORT_KEY]: N(now + leaseMs),
      [TTL_ATTRIBUTE]: ttl(now, JOB_RECORD_TTL_SECONDS),
    };
    const done = await ifConditionHolds(() =>
      this.client.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: item,
          ConditionExpression: 'attribute_not_exists(#pk) OR #status = :waiting',
          ExpressionAttributeNames: { '#pk': PARTITION_KEY, '#status': 'status' },
          ExpressionAttributeValues: { ':waiting': S('waiting') },
        }),
      ),
    );
    return done !== undefined;
  }

  /**
   * Takes over a job that is due: pending with its next attempt due, or launching under an expired
   * lease. Increments the launch attempt, so names and client tokens of the new attempt are fresh.
   * @returns the record as taken, or undefined when someone else has it or it is no longer due.
   */
  async acquireDueJob(
    key: JobKey,
    leaseOwner: string,
    now: number,
    leaseMs: number,
  ): Promise<JobRecord | undefined> {
    const out = await ifConditionHolds(() =>
      this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: { [PARTITION_KEY]: S(jobPartitionKey(key)) },
          UpdateExpression:
            'SET #status = :launching, leaseOwner = :me, leaseUntil = :until, #next = :until, launchAttempts = launchAttempts + :one',
          ConditionExpression:
            '(#status = :pending AND #next <= :now) OR (#status = :launching AND leaseUntil < :now)',
          ExpressionAttributeNames: { '#status': 'status', '#next': PENDING_INDEX_SORT_KEY },
          ExpressionAttributeValues: {
            ':launching': S('launching'),
            ':pending': S('pending'),
            ':me': S(leaseOwner),
            ':until': N(now + leaseMs),
            ':now': N(now),
            ':one': N(1),
          },
          ReturnValues: 'ALL_NEW',
        }),
      ),
    );
    return out?.Attributes ? fromItem(out.Attributes) : undefined;
  }

  /** Records a launch. False when the lease was lost or the job ended meanwhile (the caller cleans up). */
  async markLaunched(key: JobKey, leaseOwner: string, launch: LaunchRecord, now: number): Promise<boolean> {
    return this.updateIfOwner(
      key,
      leaseOwner,
      'SET #status = :launched, instanceId = :iid, runnerName = :rn, runnerId = :rid, market = :market, launchedAt = :now, #ttl = :ttl REMOVE leaseOwner, leaseUntil, #gsi, #next, lastError',
      {
        ':launched': S('launched'),
        ':iid': S(launch.instanceId),
        ':rn': S(launch.runnerName),
        ':rid': N(launch.runnerId),
        ':market': S(launch.market),
        ':now': N(now),
        ':ttl': ttl(now, JOB_RECORD_TTL_SECONDS),
      },
    );
  }

  /** Leaves a job pending for the scheduled retry, with the reason. False when the lease was lost. */
  async deferJob(key: JobKey, leaseOwner: string, reason: string, nextAttemptAt: number): Promise<boolean> {
    return this.updateIfOwner(
      key,
      leaseOwner,
      'SET #status = :pending, lastError = :reason, #gsi = :gsi, #next = :next REMOVE leaseOwner, leaseUntil',
      {
        ':pending': S('pending'),
        ':reason': S(reason),
        ':gsi': S(PENDING_INDEX_VALUE),
        ':next': N(nextAttemptAt),
      },
    );
  }

  /** Gives a job up: it will not be launched. False when the lease was lost. */
  async expireJob(key: JobKey, leaseOwner: string, reason: string): Promise<boolean> {
    return this.updateIfOwner(
      key,
      leaseOwner,
      'SET #status = :expired, lastError = :reason REMOVE leaseOwner, leaseUntil, #gsi, #next',
      { ':expired': S('expired'), ':reason': S(reason) },
    );
  }

  private async updateIfOwner(
    key: JobKey,
    leaseOwner: string,
    update: string,
    values: Record<string, AttributeValue>,
  ): Promise<boolean> {
    const names: Record<string, string> = { '#status': 'status' };
    if (update.includes('#gsi')) names['#gsi'] = PENDING_INDEX_PARTITION_KEY;
    if (update.includes('#next')) names['#next'] = PENDING_INDEX_SORT_KEY;
    if (update.includes('#ttl')) names['#ttl'] = TTL_ATTRIBUTE;
    const done = await ifConditionHolds(() =>
      this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: { [PARTITION_KEY]: S(jobPartitionKey(key)) },
          UpdateExpression: update,
          ConditionExpression: '#status = :launchingNow AND leaseOwner = :owner',
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: { ...values, ':launchingNow': S('launching'), ':owner': S(leaseOwner) },
        }),
      ),
    );
    return done !== undefined;
  }

  /**
   * Puts a job recorded as launched back to pending: its instance was terminated because the JIT
   * handoff failed. Guarded by the instance id, so a newer launch is never undone.
   */
  async reopenLaunch(
    key: JobKey,
    instanceId: string,
    reason: string,
    nextAttemptAt: number,
  ): Promise<boolean> {
    const done = await ifConditionHolds(() =>
      this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: { [PARTITION_KEY]: S(jobPartitionKey(key)) },
          UpdateExpression:
            'SET #status = :pending, lastError = :reason, #gsi = :gsi, #next = :next REMOVE instanceId, runnerName, runnerId, market',
          ConditionExpression: '#status = :launched AND instanceId = :iid',
          ExpressionAttributeNames: {
            '#status': 'status',
            '#gsi': PENDING_INDEX_PARTITION_KEY,
            '#next': PENDING_INDEX_SORT_KEY,
          },
          ExpressionAttributeValues: {
            ':pending': S('pending'),
            ':launched': S('launched'),
            ':iid': S(instanceId),
            ':reason': S(reason),
            ':gsi': S(PENDING_INDEX_VALUE),
            ':next': N(nextAttemptAt),
          },
        }),
      ),
    );
    return done !== undefined;
  }

  /**
   * Records `waiting` (environment protection). Creates the record when GitHub sent `waiting` first;
   * a later `queued` claims it. A record already past `waiting` is left alone.
   */
  async recordWaiting(job: NewJob, now: number): Promise<void> {
    await ifConditionHolds(() =>
      this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: { [PARTITION_KEY]: S(jobPartitionKey(job.key)) },
          UpdateExpression:
            'SET #status = :waiting, waitingAt = :now, kind = :job, host = :host, jobId = :jobId, runAttempt = :ra, runId = :runId, repository = :repo, installationId = :iid, labels = :labels, configName = :config, deliveryId = :did, createdAt = :now, launchAttempts = :zero, #ttl = :ttl',
          ConditionExpression: 'attribute_not_exists(#pk) OR #status = :waiting',
          ExpressionAttributeNames: { '#pk': PARTITION_KEY, '#status': 'status', '#ttl': TTL_ATTRIBUTE },
          ExpressionAttributeValues: {
            ':waiting': S('waiting'),
            ':now': N(now),
            ':job': S('job'),
            ':host': S(job.key.host),
            ':jobId': N(job.key.jobId),
            ':ra': N(job.key.runAttempt),
            ':runId': N(job.runId),
            ':repo': S(job.repository),
            ':iid': N(job.installationId),
            ':labels': { L: job.labels.map(S) },
            ':config': S(job.configName),
            ':did': S(job.deliveryId),
            ':zero': N(0),
            ':ttl': ttl(now, JOB_RECORD_TTL_SECONDS),
          },
        }),
      ),
    );
  }

  /**
   * Records which runner took the job (`in_progress`). A job still pending is taken off the retry
   * index: it has a runner now, so launching another would leave one idle.
   * @returns the record before the update, or undefined when the job is not ours (never claimed) or already final.
   */
  async recordInProgress(key: JobKey, runnerName: string, now: number): Promise<JobRecord | undefined> {
    return this.recordProgress(
      key,
      'SET #status = :running, takenByRunner = :rn, startedAt = :now REMOVE #gsi, #next',
      {
        ':running': S('running'),
        ':rn': S(runnerName),
        ':now': N(now),
      },
    );
  }

  /** Records the end of a job (`completed`), cancelled ones included, and stops any pending launch. */
  async recordCompleted(key: JobKey, conclusion: string | null, now: number): Promise<JobRecord | undefined> {
    return this.recordProgress(
      key,
      'SET #status = :completed, conclusion = :c, completedAt = :now REMOVE #gsi, #next, leaseOwner, leaseUntil',
      { ':completed': S('completed'), ':c': S(conclusion ?? 'unknown'), ':now': N(now) },
    );
  }

  private async recordProgress(
    key: JobKey,
    update: string,
    values: Record<string, AttributeValue>,
  ): Promise<JobRecord | undefined> {
    const out = await ifConditionHolds(() =>
      this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: { [PARTITION_KEY]: S(jobPartitionKey(key)) },
          UpdateExpression: update,
          ConditionExpression: 'attribute_exists(#pk) AND NOT #status IN (:completedS, :expiredS)',
          ExpressionAttributeNames: {
            '#pk': PARTITION_KEY,
            '#status': 'status',
            '#gsi': PENDING_INDEX_PARTITION_KEY,
            '#next': PENDING_INDEX_SORT_KEY,
          },
          ExpressionAttributeValues: { ...values, ':completedS': S('completed'), ':expiredS': S('expired') },
          ReturnValues: 'ALL_OLD',
        }),
      ),
    );
    return out?.Attributes ? fromItem(out.Attributes) : undefined;
  }

  /** Reads one job record. */
  async getJob(key: JobKey): Promise<JobRecord | undefined> {
    const out = await this.client.send(
      new GetItemCommand({
        TableName: this.tableName,
        Key: { [PARTITION_KEY]: S(jobPartitionKey(key)) },
        ConsistentRead: true,
      }),
    );
    return out.Item ? fromItem(out.Item) : undefined;
  }

  /** Jobs whose next launch attempt is due (pending, or launching under an expired lease), oldest first. */
  async dueJobs(now: number, limit: number, startKey?: Record<string, AttributeValue>) {
    const out = await this.client.send(
      new QueryCommand({
        TableName: this.tableName,
        IndexName: PENDING_INDEX,
        KeyConditionExpression: '#gsi = :pending AND #next <= :now',
        ExpressionAttributeNames: { '#gsi': PENDING_INDEX_PARTITION_KEY, '#next': PENDING_INDEX_SORT_KEY },
        ExpressionAttributeValues: { ':pending': S(PENDING_INDEX_VALUE), ':now': N(now) },
        Limit: limit,
        ExclusiveStartKey: startKey,
      }),
    );
    return { jobs: (out.Items ?? []).map(fromItem), nextKey: out.LastEvaluatedKey };
  }

  /** Stores the JIT config of one instance, readable (once) only by that instance. */
  async putHandoff(instanceArn: string, encodedJitConfig: string, now: number): Promise<void> {
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

  /** Removes an instance's handoff item (its launch was abandoned). */
  async deleteHandoff(instanceArn: string): Promise<void> {
    await this.client.send(
      new DeleteItemCommand({ TableName: this.tableName, Key: { [PARTITION_KEY]: S(instanceArn) } }),
    );
  }
}
