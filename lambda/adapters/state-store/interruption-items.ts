/**
 * The items of spot interruptions: each config's circuit breaker, the entries of interrupted jobs
 * waiting for their re-run (in the `rerun` partition of the live index), and the markers that make
 * a re-run's jobs launch on-demand. Single-item conditional writes only.
 */
import {
  AttributeValue,
  DeleteItemCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { BreakerSettings, BreakerState, recordInterruption } from '../../core/circuit-breaker';
import { formatJobKey, JobKey } from '../../core/job-key';
import { RerunEntry } from '../../core/rerun-plan';
import {
  LIVE_INDEX,
  LIVE_INDEX_PARTITION_KEY,
  LIVE_INDEX_SORT_KEY,
  PARTITION_KEY,
  RERUN_INDEX_VALUE,
  TTL_ATTRIBUTE,
} from '../../core/state-schema';
import { ifConditionHolds, N, S, ttl } from './items';

const breakerKey = (config: string) => `breaker#${config}`;
const rerunKey = (key: JobKey) => `rerun#${formatJobKey(key)}`;
const onDemandKey = (host: string, runId: number, runAttempt: number) =>
  `ondemand#${host}#${runId}#${runAttempt}`;

/** A re-run entry with the key of its job. */
export interface StoredRerun extends RerunEntry {
  readonly key: JobKey;
}

/** The interruption items of one table. */
export class InterruptionItems {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
  ) {}

  /**
   * Notes that the runner `runnerName`, launched for another job, took the job `takenBy`
   * (`host/jobId/runAttempt`): an interruption of its instance is then about that job. Returns when
   * an interruption warning for the runner's instance came first (its `in_progress` was late).
   */
  async noteRunnerTakenBy(
    runnerName: string,
    takenBy: string,
    now: number,
  ): Promise<{ interruptedAt?: number }> {
    const out = await this.client.send(
      new UpdateItemCommand({
        TableName: this.tableName,
        Key: { [PARTITION_KEY]: S(`runner#${runnerName}`) },
        UpdateExpression: 'SET kind = :kind, takenBy = :by, #ttl = :ttl',
        ExpressionAttributeNames: { '#ttl': TTL_ATTRIBUTE },
        ExpressionAttributeValues: { ':kind': S('runner'), ':by': S(takenBy), ':ttl': ttl(now, 3 * 86_400) },
        ReturnValues: 'ALL_NEW',
      }),
    );
    const at = out.Attributes?.interruptedAt?.N;
    return { interruptedAt: at !== undefined ? Number(at) : undefined };
  }

  /**
   * Notes a spot interruption warning for a runner's instance, and returns the job that runner took
   * instead of its own, if one is known. Whichever of the two writes comes second sees the other.
   */
  async noteRunnerInterrupted(runnerName: string, now: number): Promise<string | undefined> {
    const out = await this.client.send(
      new UpdateItemCommand({
        TableName: this.tableName,
        Key: { [PARTITION_KEY]: S(`runner#${runnerName}`) },
        UpdateExpression: 'SET kind = :kind, interruptedAt = if_not_exists(interruptedAt, :now), #ttl = :ttl',
        ExpressionAttributeNames: { '#ttl': TTL_ATTRIBUTE },
        ExpressionAttributeValues: { ':kind': S('runner'), ':now': N(now), ':ttl': ttl(now, 3 * 86_400) },
        ReturnValues: 'ALL_NEW',
      }),
    );
    return out.Attributes?.takenBy?.S;
  }

  /** The job a runner of ours took instead of its own, if one did. */
  async runnerTakenBy(runnerName: string): Promise<string | undefined> {
    return (await this.runner(runnerName)).takenBy;
  }

  /**
   * What is noted of a runner: the job it took instead of its own, when EC2 warned of its
   * instance's interruption, and when its instance's end was looked at ({@link noteRunnerEndSeen}).
   */
  async runner(
    runnerName: string,
  ): Promise<{ takenBy?: string; interruptedAt?: number; endSeenAt?: number }> {
    const out = await this.client.send(
      new GetItemCommand({
        TableName: this.tableName,
        Key: { [PARTITION_KEY]: S(`runner#${runnerName}`) },
        ConsistentRead: true,
      }),
    );
    const item = out.Item;
    const num = (n: string | undefined) => (n !== undefined ? Number(n) : undefined);
    return {
      takenBy: item?.takenBy?.S,
      interruptedAt: num(item?.interruptedAt?.N),
      endSeenAt: num(item?.endSeenAt?.N),
    };
  }

  /** Notes that the end of a runner's instance was looked at and acted on: the reconciler skips it after. */
  async noteRunnerEndSeen(runnerName: string, now: number): Promise<void> {
    await this.client.send(
      new UpdateItemCommand({
        TableName: this.tableName,
        Key: { [PARTITION_KEY]: S(`runner#${runnerName}`) },
        UpdateExpression: 'SET kind = :kind, endSeenAt = if_not_exists(endSeenAt, :now), #ttl = :ttl',
        ExpressionAttributeNames: { '#ttl': TTL_ATTRIBUTE },
        ExpressionAttributeValues: { ':kind': S('runner'), ':now': N(now), ':ttl': ttl(now, 3 * 86_400) },
      }),
    );
  }

  /** A config's breaker (undefined: never tripped). */
  async breaker(config: string): Promise<BreakerState | undefined> {
    const out = await this.client.send(
      new GetItemCommand({
        TableName: this.tableName,
        Key: { [PARTITION_KEY]: S(breakerKey(config)) },
        ConsistentRead: true,
      }),
    );
    return out.Item ? breakerFromItem(out.Item) : undefined;
  }

  /**
   * Counts one spot interruption of a config; returns whether it opened the breaker. Read, decide,
   * write back under the version read (a concurrent interruption makes it read again).
   */
  async recordBreakerInterruption(config: string, now: number, settings: BreakerSettings): Promise<boolean> {
    for (let tries = 0; tries < 5; tries++) {
      const out = await this.client.send(
        new GetItemCommand({
          TableName: this.tableName,
          Key: { [PARTITION_KEY]: S(breakerKey(config)) },
          ConsistentRead: true,
        }),
      );
      const version = out.Item?.version?.N;
      const { state, opened } = recordInterruption(
        out.Item ? breakerFromItem(out.Item) : undefined,
        now,
        settings,
      );
      const item: Record<string, AttributeValue> = {
        [PARTITION_KEY]: S(breakerKey(config)),
        kind: S('breaker'),
        config: S(config),
        interruptions: { L: state.interruptions.map(N) },
        version: N(Number(version ?? 0) + 1),
        [TTL_ATTRIBUTE]: ttl(now, 7 * 86_400),
        ...(state.openUntil !== undefined ? { openUntil: N(state.openUntil) } : {}),
      };
      const done = await ifConditionHolds(() =>
        this.client.send(
          new PutItemCommand({
            TableName: this.tableName,
            Item: item,
            ConditionExpression: version === undefined ? 'attribute_not_exists(#pk)' : 'version = :v',
            ExpressionAttributeNames: version === undefined ? { '#pk': PARTITION_KEY } : undefined,
            ExpressionAttributeValues: version === undefined ? undefined : { ':v': N(Number(version)) },
          }),
        ),
      );
      if (done !== undefined) return opened;
    }
    throw new Error(`breaker of config ${config}: too many concurrent writes`);
  }

  /** Clears a breaker whose open time has passed; true once, for the one that closes it (the log's edge). */
  async closeBreakerIfDue(config: string, now: number): Promise<boolean> {
    const done = await ifConditionHolds(() =>
      this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: { [PARTITION_KEY]: S(breakerKey(config)) },
          UpdateExpression: 'REMOVE openUntil ADD version :one',
          ConditionExpression: 'openUntil <= :now',
          ExpressionAttributeValues: { ':now': N(now), ':one': N(1) },
        }),
      ),
    );
    return done !== undefined;
  }

  /** Adds the entry of an interrupted job (once: a second add for the same job changes nothing). */
  async addRerun(key: JobKey, entry: RerunEntry, now: number): Promise<boolean> {
    const done = await ifConditionHolds(() =>
      this.client.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: {
            [PARTITION_KEY]: S(rerunKey(key)),
            kind: S('rerun'),
            host: S(key.host),
            repository: S(entry.repository),
            installationId: N(entry.installationId),
            runId: N(entry.runId),
            jobId: N(entry.jobId),
            runAttempt: N(entry.runAttempt),
            interruptedAt: N(entry.interruptedAt),
            [LIVE_INDEX_PARTITION_KEY]: S(RERUN_INDEX_VALUE),
            [LIVE_INDEX_SORT_KEY]: N(entry.interruptedAt),
            [TTL_ATTRIBUTE]: ttl(now, 3 * 86_400),
          },
          ConditionExpression: 'attribute_not_exists(#pk)',
          ExpressionAttributeNames: { '#pk': PARTITION_KEY },
        }),
      ),
    );
    return done !== undefined;
  }

  /** The entries waiting for a re-run, oldest first. */
  async reruns(limit: number): Promise<StoredRerun[]> {
    const out = await this.client.send(
      new QueryCommand({
        TableName: this.tableName,
        IndexName: LIVE_INDEX,
        KeyConditionExpression: '#live = :rerun',
        ExpressionAttributeNames: { '#live': LIVE_INDEX_PARTITION_KEY },
        ExpressionAttributeValues: { ':rerun': S(RERUN_INDEX_VALUE) },
        Limit: limit,
      }),
    );
    return (out.Items ?? []).map(rerunFromItem);
  }

  /**
   * Notes that the re-run is being asked for, before asking (write-ahead: a request whose answer is
   * lost is not sent again blindly). Holds only if the entry still exists and has `tries` sends.
   */
  async markRerunRequested(key: JobKey, tries: number, now: number): Promise<boolean> {
    const done = await ifConditionHolds(() =>
      this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: { [PARTITION_KEY]: S(rerunKey(key)) },
          UpdateExpression: 'SET requestedAt = :now, requestTries = :next',
          ConditionExpression:
            'attribute_exists(#pk) AND (attribute_not_exists(requestTries) OR requestTries = :tries)',
          ExpressionAttributeNames: { '#pk': PARTITION_KEY },
          ExpressionAttributeValues: { ':now': N(now), ':tries': N(tries), ':next': N(tries + 1) },
        }),
      ),
    );
    return done !== undefined;
  }

  /** Removes an entry that needs nothing more. */
  async dropRerun(key: JobKey): Promise<void> {
    await this.client.send(
      new DeleteItemCommand({ TableName: this.tableName, Key: { [PARTITION_KEY]: S(rerunKey(key)) } }),
    );
  }

  /** Marks the jobs named `jobNames` of a run's attempt to launch on-demand (the re-run of an interruption). */
  async putOnDemandMarker(
    host: string,
    runId: number,
    runAttempt: number,
    jobNames: readonly string[],
    now: number,
  ): Promise<void> {
    await this.client.send(
      new UpdateItemCommand({
        TableName: this.tableName,
        Key: { [PARTITION_KEY]: S(onDemandKey(host, runId, runAttempt)) },
        UpdateExpression: 'SET kind = :kind, #ttl = :ttl ADD jobNames :names',
        ExpressionAttributeNames: { '#ttl': TTL_ATTRIBUTE },
        ExpressionAttributeValues: {
          ':kind': S('ondemand'),
          ':ttl': ttl(now, 3 * 86_400),
          ':names': { SS: [...new Set(jobNames.length > 0 ? jobNames : [''])] },
        },
      }),
    );
  }

  /** The job names of a run's attempt that launch on-demand (empty: none). */
  async onDemandJobNames(host: string, runId: number, runAttempt: number): Promise<ReadonlySet<string>> {
    const out = await this.client.send(
      new GetItemCommand({
        TableName: this.tableName,
        Key: { [PARTITION_KEY]: S(onDemandKey(host, runId, runAttempt)) },
        ConsistentRead: true,
      }),
    );
    return new Set(out.Item?.jobNames?.SS ?? []);
  }
}

function breakerFromItem(item: Record<string, AttributeValue>): BreakerState {
  return {
    interruptions: item.interruptions?.L?.map((v) => Number(v.N)) ?? [],
    openUntil: item.openUntil?.N !== undefined ? Number(item.openUntil.N) : undefined,
  };
}

function rerunFromItem(item: Record<string, AttributeValue>): StoredRerun {
  const n = (k: string) => (item[k]?.N !== undefined ? Number(item[k].N) : undefined);
  return {
    key: { host: item.host?.S ?? '', jobId: n('jobId') ?? 0, runAttempt: n('runAttempt') ?? 0 },
    repository: item.repository?.S ?? '',
    installationId: n('installationId') ?? 0,
    runId: n('runId') ?? 0,
    jobId: n('jobId') ?? 0,
    runAttempt: n('runAttempt') ?? 0,
    interruptedAt: n('interruptedAt') ?? 0,
    requestedAt: n('requestedAt'),
    requestTries: n('requestTries'),
  };
}
