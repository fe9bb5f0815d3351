/**
 * Job records, the part that follows what happens outside a launch: GitHub's `waiting`,
 * `in_progress` and `completed`, EC2 state changes, the reconciler's reopenings and finalizations,
 * and the queries (due jobs, live jobs). Single-item conditional writes only.
 */
import {
  AttributeValue,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { JobKey, jobPartitionKey } from '../../core/job-key';
import { JobRecord, NewJob } from '../../core/job-record';
import { JOB_RECORD_TTL_SECONDS } from '../../core/job-status';
import {
  LIVE_INDEX,
  LIVE_INDEX_PARTITION_KEY,
  LIVE_INDEX_VALUE,
  PARTITION_KEY,
  PENDING_INDEX,
  PENDING_INDEX_PARTITION_KEY,
  PENDING_INDEX_SORT_KEY,
  PENDING_INDEX_VALUE,
  TTL_ATTRIBUTE,
} from '../../core/state-schema';
import { ifConditionHolds, jobFromItem, N, newJobItem, S, ttl } from './items';

/** Attribute names the update expressions use by placeholder. */
const NAMES: Record<string, string> = {
  '#pk': PARTITION_KEY,
  '#status': 'status',
  '#gsi': PENDING_INDEX_PARTITION_KEY,
  '#next': PENDING_INDEX_SORT_KEY,
  '#live': LIVE_INDEX_PARTITION_KEY,
  '#ttl': TTL_ATTRIBUTE,
};

/** The placeholders of NAMES an expression uses (DynamoDB refuses unused ones). */
function namesIn(...expressions: string[]): Record<string, string> {
  const text = expressions.join(' ');
  return Object.fromEntries(Object.entries(NAMES).filter(([k]) => text.includes(k)));
}

/** How a record becomes final when GitHub's `completed` did not say so. */
export interface Finalization {
  readonly status: 'completed' | 'expired';
  readonly conclusion?: string;
  readonly reason: string;
}

/** The job records of one table: progress, reconciler transitions and queries. */
export class JobProgress {
  constructor(
    protected readonly client: DynamoDBClient,
    protected readonly tableName: string,
  ) {}

  protected key(key: JobKey) {
    return { [PARTITION_KEY]: S(jobPartitionKey(key)) };
  }

  protected async update(
    key: JobKey,
    update: string,
    condition: string,
    values: Record<string, AttributeValue>,
    returnValues: 'NONE' | 'ALL_OLD' | 'ALL_NEW' = 'NONE',
  ): Promise<JobRecord | true | undefined> {
    const out = await ifConditionHolds(() =>
      this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: this.key(key),
          UpdateExpression: update,
          ConditionExpression: condition,
          ExpressionAttributeNames: namesIn(update, condition),
          ExpressionAttributeValues: values,
          ReturnValues: returnValues,
        }),
      ),
    );
    if (out === undefined) return undefined;
    return out.Attributes ? jobFromItem(out.Attributes) : true;
  }

  /**
   * Puts a job recorded as launched back to pending, for the scheduled retry: its instance is gone,
   * stuck or idle while GitHub still has the job queued. Guarded by the instance id, so a newer
   * launch is never undone, and by the status, so a job that started is never relaunched.
   */
  async reopenLaunch(
    key: JobKey,
    instanceId: string,
    reason: string,
    nextAttemptAt: number,
  ): Promise<boolean> {
    const done = await this.update(
      key,
      'SET #status = :pending, lastError = :reason, #gsi = :gsi, #next = :next REMOVE instanceId, runnerName, runnerId, market, instanceGoneAt',
      '#status = :launched AND instanceId = :iid',
      {
        ':pending': S('pending'),
        ':launched': S('launched'),
        ':iid': S(instanceId),
        ':reason': S(reason.slice(0, 1000)),
        ':gsi': S(PENDING_INDEX_VALUE),
        ':next': N(nextAttemptAt),
      },
    );
    return done !== undefined;
  }

  /**
   * Makes a `waiting` record due for launching: its `queued` delivery never came, but GitHub has the
   * job queued.
   */
  async makeWaitingDue(key: JobKey, now: number): Promise<boolean> {
    const done = await this.update(
      key,
      'SET #status = :pending, lastError = :reason, #gsi = :gsi, #next = :now',
      '#status = :waiting',
      {
        ':pending': S('pending'),
        ':waiting': S('waiting'),
        ':reason': S('queued at GitHub, but its queued delivery never came'),
        ':gsi': S(PENDING_INDEX_VALUE),
        ':now': N(now),
      },
    );
    return done !== undefined;
  }

  /**
   * Makes a live record final for a reason GitHub's `completed` delivery did not give (GitHub says
   * it ended, or does not know it, or its instance passed its hard timeout).
   */
  async finalize(key: JobKey, final: Finalization, now: number): Promise<boolean> {
    const done = await this.update(
      key,
      'SET #status = :final, conclusion = :c, finalReason = :reason, completedAt = :now REMOVE leaseOwner, leaseUntil, #gsi, #next, #live',
      'attribute_exists(#pk) AND NOT #status IN (:completed, :expired)',
      {
        ':final': S(final.status),
        ':c': S(final.conclusion ?? 'unknown'),
        ':reason': S(final.reason),
        ':now': N(now),
        ':completed': S('completed'),
        ':expired': S('expired'),
      },
    );
    return done !== undefined;
  }

  /** Notes that the launched instance of a job is shutting down or gone (an EC2 state change). */
  async recordInstanceGone(key: JobKey, instanceId: string, now: number): Promise<JobRecord | undefined> {
    const out = await this.update(
      key,
      'SET instanceGoneAt = :now',
      'instanceId = :iid AND NOT #status IN (:completed, :expired) AND attribute_not_exists(instanceGoneAt)',
      { ':now': N(now), ':iid': S(instanceId), ':completed': S('completed'), ':expired': S('expired') },
      'ALL_NEW',
    );
    return out === true ? undefined : out;
  }

  /** Notes that the reconciler asked GitHub about the job. */
  async markChecked(key: JobKey, now: number): Promise<void> {
    await this.update(key, 'SET checkedAt = :now', 'attribute_exists(#pk)', { ':now': N(now) });
  }

  /**
   * Records a job whose `in_progress` or `completed` came before its `queued` (deliveries arrive out
   * of order, and redeliveries of old ones make that common): a `running` record (live, so the
   * reconciler follows it) or a final one (a tombstone). Either way the later `queued` finds the job
   * taken and launches nothing.
   * @returns false when a record exists already.
   */
  async recordEarly(
    job: NewJob,
    early: { status: 'running'; runnerName: string } | { status: 'completed'; conclusion: string | null },
    now: number,
  ): Promise<boolean> {
    const item: Record<string, AttributeValue> = {
      ...newJobItem(job, now),
      status: S(early.status),
      launchAttempts: N(0),
      finalReason: S(`${early.status === 'running' ? 'in_progress' : 'completed'} arrived before queued`),
      ...(early.status === 'running'
        ? {
            takenByRunner: S(early.runnerName),
            startedAt: N(now),
            [LIVE_INDEX_PARTITION_KEY]: S(LIVE_INDEX_VALUE),
          }
        : { conclusion: S(early.conclusion ?? 'unknown'), completedAt: N(now) }),
    };
    const done = await ifConditionHolds(() =>
      this.client.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: item,
          ConditionExpression: 'attribute_not_exists(#pk)',
          ExpressionAttributeNames: { '#pk': PARTITION_KEY },
        }),
      ),
    );
    return done !== undefined;
  }

  /**
   * Records `waiting` (environment protection). Creates the record when GitHub sent `waiting` first;
   * a later `queued` claims it. A record already past `waiting` is left alone.
   * @returns false when the job is already past `waiting`.
   */
  async recordWaiting(job: NewJob, now: number): Promise<boolean> {
    const done = await this.update(
      job.key,
      'SET #status = :waiting, waitingAt = :now, kind = :job, host = :host, jobId = :jobId, runAttempt = :ra, runId = :runId, repository = :repo, installationId = :iid, labels = :labels, configName = :config, deliveryId = :did, createdAt = :now, launchAttempts = :zero, #live = :live, #ttl = :ttl',
      'attribute_not_exists(#pk) OR #status = :waiting',
      {
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
        ':live': S(LIVE_INDEX_VALUE),
        ':ttl': ttl(now, JOB_RECORD_TTL_SECONDS),
      },
    );
    return done !== undefined;
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

  /**
   * Records that the spot instance running a job will be interrupted (the job will fail). Holds only
   * while the job runs on `runnerName` (or is launched on it and its runner is busy: its
   * `in_progress` is still on the way), or ran on it and failed (EC2's end of the instance told after
   * GitHub's end of the job), and was not recorded as interrupted before.
   */
  async markInterrupted(key: JobKey, runnerName: string, now: number): Promise<boolean> {
    const done = await this.update(
      key,
      'SET interruptedAt = :now',
      '((#status = :running AND takenByRunner = :rn) OR (#status = :launched AND runnerName = :rn) OR (#status = :completed AND takenByRunner = :rn AND conclusion = :failure)) AND attribute_not_exists(interruptedAt)',
      {
        ':now': N(now),
        ':running': S('running'),
        ':launched': S('launched'),
        ':completed': S('completed'),
        ':failure': S('failure'),
        ':rn': S(runnerName),
      },
    );
    return done !== undefined;
  }

  /** Records the end of a job (`completed`), cancelled ones included, and stops any pending launch. */
  async recordCompleted(key: JobKey, conclusion: string | null, now: number): Promise<JobRecord | undefined> {
    return this.recordProgress(
      key,
      'SET #status = :completed, conclusion = :c, completedAt = :now REMOVE #gsi, #next, #live, leaseOwner, leaseUntil',
      { ':completed': S('completed'), ':c': S(conclusion ?? 'unknown'), ':now': N(now) },
    );
  }

  private async recordProgress(
    key: JobKey,
    update: string,
    values: Record<string, AttributeValue>,
  ): Promise<JobRecord | undefined> {
    const out = await this.update(
      key,
      update,
      'attribute_exists(#pk) AND NOT #status IN (:completedS, :expiredS)',
      { ...values, ':completedS': S('completed'), ':expiredS': S('expired') },
      'ALL_OLD',
    );
    return out === true ? undefined : out;
  }

  /** Reads one job record. */
  async get(key: JobKey): Promise<JobRecord | undefined> {
    const out = await this.client.send(
      new GetItemCommand({ TableName: this.tableName, Key: this.key(key), ConsistentRead: true }),
    );
    return out.Item ? jobFromItem(out.Item) : undefined;
  }

  /** Jobs whose next launch attempt is due (pending, or launching under an expired lease), oldest first. */
  async due(now: number, limit: number, startKey?: Record<string, AttributeValue>) {
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
    return { jobs: (out.Items ?? []).map(jobFromItem), nextKey: out.LastEvaluatedKey };
  }

  /** The records that are not final, oldest first, a page at a time (the reconciler's list). */
  async live(limit: number, startKey?: Record<string, AttributeValue>) {
    const out = await this.client.send(
      new QueryCommand({
        TableName: this.tableName,
        IndexName: LIVE_INDEX,
        KeyConditionExpression: '#live = :live',
        ExpressionAttributeNames: { '#live': LIVE_INDEX_PARTITION_KEY },
        ExpressionAttributeValues: { ':live': S(LIVE_INDEX_VALUE) },
        Limit: limit,
        ExclusiveStartKey: startKey,
      }),
    );
    return { jobs: (out.Items ?? []).map(jobFromItem), nextKey: out.LastEvaluatedKey };
  }
}
